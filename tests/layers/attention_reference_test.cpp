// MultiHeadAttention against PyTorch: forward values, attention weights and every gradient
// of loss = sum(output * projection), to 1e-5. The numbers come from
// tests/reference/attention_reference.py (see attention_reference_values.h).
#include "attention_reference_values.h"
#include "test_helpers.h"

using namespace qkv;

namespace {
void check_against_reference(const ReferenceCase& c) {
  Generator gen(0);
  MultiHeadAttention attn(AttentionOptions{.d_model = c.d_model, .heads = c.heads, .causal = c.causal}, gen);
  for (const auto& [name, values] : c.params) set_parameter(attn, name, values);
  const Shape x_shape{c.batch, c.length, c.d_model};
  Tensor x = tensor_of(c.x, x_shape).requires_grad_();
  Tensor padding = c.key_padding.empty() ? Tensor() : tensor_of(c.key_padding, {c.batch, c.length});

  AttentionResult r = attn.forward(x, padding);
  sum(mul(r.output, tensor_of(c.projection, x_shape))).backward();

  CHECK_CLOSE(r.output, tensor_of(c.output, x_shape), 1e-5);
  CHECK_CLOSE(r.weights, tensor_of(c.weights, {c.batch, c.heads, c.length, c.length}), 1e-5);
  CHECK_CLOSE(x.grad(), tensor_of(c.grad_x, x_shape), 1e-5);
  for (const auto& [name, values] : c.param_grads) {
    INFO("gradient of " << name);
    const Tensor p = attn.parameter(name);
    CHECK_CLOSE(p.grad(), tensor_of(values, p.shape()), 1e-5);
  }
}
}  // namespace

TEST_CASE("single-head attention with given weights matches PyTorch forward and backward to 1e-5", "[attention]") {
  check_against_reference(single_head);
}

TEST_CASE("two-head causal attention with key padding matches PyTorch forward and backward to 1e-5", "[attention]") {
  check_against_reference(two_heads_masked);
}
