#!/usr/bin/python3
"""PyTorch reference for tests/grad/core_reference_test.cpp.

Builds deterministic inputs (from sin/cos, so the C++ side makes the same numbers without
sharing a random generator), runs one expression that crosses most op families in float64,
and writes the loss and the gradients to core_reference.json. Run with Debian's
python3-torch:  /usr/bin/python3 tests/reference/core_reference.py
"""
import json
import math
import pathlib

import torch
import torch.nn.functional as F


def filled(shape, fn):
    n = math.prod(shape)
    return torch.tensor([fn(i) for i in range(n)], dtype=torch.float64).reshape(shape)


x = filled([2, 3, 4], lambda i: math.sin(0.37 * i + 0.1)).requires_grad_()
w = filled([4, 5], lambda i: math.cos(0.11 * i) * 0.8).requires_grad_()
b = filled([5], lambda i: 0.1 * i - 0.2).requires_grad_()
targets = torch.tensor([[0, 3, 1], [4, 2, 0]])

scores = torch.matmul(x, x.transpose(-1, -2)) / math.sqrt(4)         # [2,3,3]
mask = torch.tensor([[False, False, True], [False, False, False], [False, True, False]])
weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
mixed = torch.matmul(weights, x)                                     # [2,3,4]
centered = mixed - mixed.mean(dim=-1, keepdim=True)
normed = centered / torch.sqrt(mixed.var(dim=-1, unbiased=False, keepdim=True) + 1e-5)
hidden = F.gelu(normed @ w + b)                                     # [2,3,5]
logits = torch.tanh(hidden) * 2 + torch.sigmoid(hidden).pow(2)
ce = F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1))
reg = (torch.exp(-hidden.abs()) * torch.log(1 + hidden.clamp(-0.5, 0.5) + 0.6)).mean()
loss = ce + reg + F.log_softmax(logits, dim=-1).max(dim=-1).values.sum() * 0.01
loss.backward()

out = {
    "loss": loss.item(),
    "grad_x": x.grad.flatten().tolist(),
    "grad_w": w.grad.flatten().tolist(),
    "grad_b": b.grad.flatten().tolist(),
    "torch_version": torch.__version__,
}
path = pathlib.Path(__file__).with_name("core_reference.json")
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"loss {out['loss']:.12f}; wrote {path}")
