#include "io/json_text.h"

#include <cstdint>
#include <cstdio>

namespace qkv {
namespace {
using json = nlohmann::json;
using DomParser = nlohmann::detail::json_sax_dom_parser<json>;

// nlohmann's own DOM builder (the one json::parse uses), with a depth count in front:
// sax_parse calls these members statically, so hiding the base's is enough.
class BoundedDomParser : public DomParser {
 public:
  BoundedDomParser(json& root, size_t max_depth) : DomParser(root, /*allow_exceptions=*/false), max_depth_(max_depth) {}

  bool start_object(size_t n) { return enter() && DomParser::start_object(n); }
  bool start_array(size_t n) { return enter() && DomParser::start_array(n); }
  bool end_object() { return leave() && DomParser::end_object(); }
  bool end_array() { return leave() && DomParser::end_array(); }
  bool parse_error(size_t position, const std::string& token, const nlohmann::detail::exception& e) {
    // A number too large for a double is found after reading it and the byte past it;
    // its first byte is the place to show (406 is nlohmann's "number overflow").
    constexpr int kNumberOverflow = 406;
    error_byte = e.id == kNumberOverflow && position > token.size() ? position - token.size() : position;
    error = e.what();
    return DomParser::parse_error(position, token, e);
  }

  bool too_deep = false;
  size_t error_byte = 0;
  std::string error;

 private:
  bool enter() {
    if (++depth_ <= max_depth_) return true;
    too_deep = true;
    return false;
  }
  bool leave() {
    --depth_;
    return true;
  }
  size_t max_depth_;
  size_t depth_ = 0;
};

// Length of the UTF-8 sequence at text[i], or 0 if it is not a valid one (overlong forms,
// surrogates and code points above U+10FFFF included), following RFC 3629's table.
size_t utf8_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b = byte(i);
  if (b < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b == 0xE0) n = 3, lo = 0xA0;
  else if (b >= 0xE1 && b <= 0xEC) n = 3;
  else if (b == 0xED) n = 3, hi = 0x9F;
  else if (b >= 0xEE && b <= 0xEF) n = 3;
  else if (b == 0xF0) n = 4, lo = 0x90;
  else if (b >= 0xF1 && b <= 0xF3) n = 4;
  else if (b == 0xF4) n = 4, hi = 0x8F;
  else return 0;
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}
}  // namespace

json parse_json_text(std::string_view text, size_t max_depth) {
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw JsonTextError(JsonTextError::Kind::malformed, nul + 1, "a NUL byte, which JSON text cannot hold");
  json value;
  BoundedDomParser parser(value, max_depth);
  json::sax_parse(text.begin(), text.end(), &parser);
  if (parser.too_deep)
    throw JsonTextError(JsonTextError::Kind::too_deep, 0,
                        "nests deeper than " + std::to_string(max_depth) + " levels of objects and arrays");
  if (parser.is_errored())
    throw JsonTextError(JsonTextError::Kind::malformed, parser.error_byte, json_error_detail(parser.error));
  return value;
}

std::string json_error_detail(std::string what) {
  if (what.rfind("[json.exception.", 0) == 0 && what.find("] ") != std::string::npos)
    what = what.substr(what.find("] ") + 2);
  if (what.rfind("parse error", 0) == 0 && what.find(": ") != std::string::npos)
    what = what.substr(what.find(": ") + 2);
  return printable(what);
}

std::optional<size_t> invalid_utf8_offset(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

std::string printable(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    const auto b = static_cast<unsigned char>(text[i]);
    if (n == 0 || b < 0x20 || b == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", b);
      out += escaped;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace qkv
