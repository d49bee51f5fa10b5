// Enums that configs name: each kind a config chooses (an optimizer, an activation, a
// positional encoding, ...) is an enum in the code and a string in the JSON. One table per
// enum, a specialisation of EnumNames next to the enum, is the only place the two meet:
// the schema takes its allowed values from it, the config parser turns the string into
// the enum with it, and messages print the enum with it.
#pragma once

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qkv {

// Specialise with `static constexpr std::array<std::pair<E, std::string_view>, N> table`
// listing every value of E once, in the order docs and messages list them.
template <class E>
struct EnumNames;

template <class E>
std::string enum_name(E value) {
  for (const auto& [e, name] : EnumNames<E>::table)
    if (e == value) return std::string(name);
  throw std::invalid_argument("enum_name: a value outside its table (" +
                              std::to_string(static_cast<long long>(value)) + ")");
}

template <class E>
std::vector<std::string> enum_names() {
  std::vector<std::string> out;
  for (const auto& entry : EnumNames<E>::table) out.emplace_back(entry.second);
  return out;
}

// `what` names the option in the message, e.g. "FeedForward activation".
template <class E>
E parse_enum(std::string_view name, const std::string& what) {
  std::string valid;
  for (const auto& [e, known] : EnumNames<E>::table) {
    if (known == name) return e;
    valid += (valid.empty() ? "" : ", ") + std::string(known);
  }
  throw std::invalid_argument(what + ": unknown '" + std::string(name) + "'; valid: " + valid);
}

}  // namespace qkv
