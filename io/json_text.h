// JSON text from outside the program (config files, --set values, checkpoint metadata),
// parsed with limits: nlohmann's parser is iterative, but copying, comparing and printing
// a value recurse once per level, so a document nested 100,000 levels deep parses fine
// and then overflows the stack. parse_json_text refuses such text before it is built,
// and says where other problems are.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace qkv {

constexpr size_t kMaxJsonDepth = 64;  // objects and arrays inside each other

// Why a text is not usable JSON. byte() is the 1-based offset of the offending byte
// (0 when the problem has no single place, as with depth); what() is the problem
// without position, e.g. "syntax error while parsing value - invalid literal".
class JsonTextError : public std::runtime_error {
 public:
  enum class Kind { malformed, too_deep };
  JsonTextError(Kind kind, size_t byte, const std::string& what)
      : std::runtime_error(what), kind_(kind), byte_(byte) {}
  Kind kind() const { return kind_; }
  size_t byte() const { return byte_; }

 private:
  Kind kind_;
  size_t byte_;
};

// The value of `text`, which must be one complete JSON value: no trailing text, no NUL
// byte (nlohmann would stop reading at it), numbers that fit a double, at most max_depth
// levels. Throws JsonTextError.
nlohmann::json parse_json_text(std::string_view text, size_t max_depth = kMaxJsonDepth);

// nlohmann's exception text without its prefix and position, the bytes it quotes made
// printable: "[json.exception.parse_error.101] parse error at line 1, column 2: syntax
// error ..." -> "syntax error ...", for messages that give the position in their own terms.
std::string json_error_detail(std::string what);

// The 0-based offset of the first byte that does not belong to valid UTF-8, if any.
std::optional<size_t> invalid_utf8_offset(std::string_view text);

// `text` with every byte that is not valid UTF-8, and every control character, written
// as \xNN, for messages.
std::string printable(std::string_view text);

}  // namespace qkv
