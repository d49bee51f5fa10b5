#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "io/crc32c.h"
#include "io/json_text.h"
#include "io/regular_file.h"

namespace qkv {

static_assert(std::endian::native == std::endian::little,
              "qkv's safetensors reader and writer assume a little-endian machine");

namespace {

constexpr const char* kOwnDtype = sizeof(Scalar) == 4 ? "F32" : "F64";
constexpr size_t kMaxNesting = 16;  // a valid header nests 3 levels
constexpr size_t kMaxRank = 64;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw CheckpointError("safetensors file '" + source + "': " + what);
}

std::string errno_text() { return std::strerror(errno); }

struct Entry {
  std::string name;
  size_t dtype_size;
  Shape shape;
  uint64_t begin, end;
};

uint64_t unsigned_field(const nlohmann::json& v, const std::string& source, const std::string& what) {
  if (!v.is_number_unsigned()) fail(source, what + " must be a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const nlohmann::json& e, uint64_t data_size, const std::string& source) {
  const std::string where = "tensor '" + name + "': ";
  if (!e.is_object()) fail(source, where + "entry must be an object, got " + e.dump());
  for (auto& [key, _] : e.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets") fail(source, where + "unknown field '" + key + "'");
  // A field that is there with the wrong type is reported as such, not as missing.
  const auto require = [&](const char* field, bool valid, const std::string& expected) {
    if (!e.contains(field)) fail(source, where + "missing field '" + field + "' (" + expected + ")");
    if (!valid)
      fail(source, where + "field '" + field + "' must be " + expected + ", found " + std::string(e[field].type_name()) +
                       (e[field].is_array() ? " of " + std::to_string(e[field].size()) : std::string()));
  };
  require("dtype", e.contains("dtype") && e["dtype"].is_string(), "a string");
  require("shape", e.contains("shape") && e["shape"].is_array(), "an array of integers");
  require("data_offsets", e.contains("data_offsets") && e["data_offsets"].is_array() && e["data_offsets"].size() == 2,
          "an array of two integers");

  Entry out{name, 0, {}, 0, 0};
  const std::string dtype = e["dtype"];
  if (dtype == "F32") out.dtype_size = 4;
  else if (dtype == "F64") out.dtype_size = 8;
  else fail(source, where + "dtype '" + dtype + "' is not supported (qkv reads F32 and F64)");

  if (e["shape"].size() > kMaxRank)
    fail(source, where + "rank " + std::to_string(e["shape"].size()) + " exceeds " + std::to_string(kMaxRank));
  // Counted in uint64 against the data section, so no product can overflow unnoticed.
  const uint64_t max_numel = data_size / out.dtype_size;
  uint64_t numel = 1;
  bool too_big = false;
  for (const auto& d : e["shape"]) {
    const uint64_t dim = unsigned_field(d, source, where + "shape dimension");
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(source, where + "shape dimension " + std::to_string(dim) + " is too large");
    out.shape.push_back(static_cast<int64_t>(dim));
    if (dim == 0) numel = 0, too_big = false;
    else if (numel != 0 && (too_big || numel > max_numel / dim)) too_big = true;
    else numel *= dim;
  }
  if (too_big)
    fail(source, where + "shape " + shape_str(out.shape) + " holds more elements than the " +
                     std::to_string(data_size) + "-byte data section");

  out.begin = unsigned_field(e["data_offsets"][0], source, where + "data_offsets[0]");
  out.end = unsigned_field(e["data_offsets"][1], source, where + "data_offsets[1]");
  const std::string offsets = "data_offsets [" + std::to_string(out.begin) + ", " + std::to_string(out.end) + "]";
  if (out.begin > out.end) fail(source, where + offsets + " end before they begin");
  if (out.end > data_size)
    fail(source, where + offsets + " run past the end of the " + std::to_string(data_size) + "-byte data section");
  if (out.end - out.begin != numel * out.dtype_size)
    fail(source, where + offsets + " span " + std::to_string(out.end - out.begin) + " bytes, but shape " +
                     shape_str(out.shape) + " of " + dtype + " needs " + std::to_string(numel * out.dtype_size));
  return out;
}

// Parses the header JSON, refusing deep nesting and duplicate tensor names, which a
// plain parse would accept (the last duplicate silently winning).
nlohmann::json parse_header(std::string_view text, const std::string& source) {
  bool too_deep = false;
  std::string duplicate;
  std::set<std::string> keys;
  auto guard = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (static_cast<size_t>(depth) > kMaxNesting) {
      too_deep = true;
      return false;
    }
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  // nlohmann stops reading at a NUL byte, which would hide whatever follows it.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
    fail(source, "header holds a NUL byte at offset " + std::to_string(8 + nul) + " of the file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text.begin(), text.end(), guard);
  } catch (const nlohmann::json::parse_error& e) {
    fail(source, "header is not valid JSON at byte " + std::to_string(8 + (e.byte == 0 ? 0 : e.byte - 1)) +
                     " of the file: " + json_error_detail(e.what()));
  } catch (const nlohmann::json::exception& e) {
    fail(source, "header is not valid JSON: " + json_error_detail(e.what()));
  }
  if (too_deep) fail(source, "header nests deeper than " + std::to_string(kMaxNesting) + " levels");
  if (!duplicate.empty()) fail(source, "header names '" + duplicate + "' twice");
  return header;
}

const std::string kChecksumPrefix = "crc32c:";

bool is_checksum_key(const std::string& key) { return key.compare(0, kChecksumPrefix.size(), kChecksumPrefix) == 0; }

std::string checksum_text(uint32_t crc) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", crc);
  return text;
}

// Every tensor has its checksum and every checksum its tensor, and the bytes match: a
// file that carries checksums at all carries them whole.
void verify_checksums(const std::vector<Entry>& entries, const StringMap& checksums, std::string_view data,
                      const std::string& source) {
  std::set<std::string> names;
  for (const Entry& e : entries) {
    names.insert(e.name);
    const auto it = checksums.find(e.name);
    if (it == checksums.end())
      fail(source, "tensor '" + e.name + "' has no checksum (__metadata__ '" + kChecksumPrefix + e.name +
                       "') while other tensors have one");
    const std::string computed = checksum_text(crc32c(data.substr(e.begin, e.end - e.begin)));
    if (it->second != computed)
      fail(source, "tensor '" + e.name + "': its data does not match its CRC-32C checksum (stored '" +
                       printable(it->second) + "', computed '" + computed + "'): the file is corrupt");
  }
  for (const auto& [name, _] : checksums)
    if (!names.count(name))
      fail(source, "__metadata__ '" + kChecksumPrefix + printable(name) + "' is the checksum of no tensor in the file");
}

template <class From>
void convert_into(Scalar* out, const char* bytes, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, bytes + i * sizeof(From), sizeof(From));
    out[i] = static_cast<Scalar>(v);
  }
}

}  // namespace

std::string encode_safetensors(const NamedTensors& tensors, const StringMap& metadata) {
  for (const auto& [key, _] : metadata)
    if (is_checksum_key(key))
      throw std::invalid_argument("encode_safetensors: metadata key '" + key + "' is reserved for the checksums");
  StringMap with_checksums = metadata;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw std::invalid_argument("encode_safetensors: invalid tensor name '" + name + "'");
    if (!names.insert(name).second) throw std::invalid_argument("encode_safetensors: tensor '" + name + "' appears twice");
    if (!t.defined()) throw std::invalid_argument("encode_safetensors: tensor '" + name + "' is undefined");
    const uint64_t bytes = sizeof(Scalar) * static_cast<uint64_t>(t.numel());
    header[name] = {{"dtype", kOwnDtype}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    with_checksums[kChecksumPrefix + name] =
        checksum_text(crc32c(std::string_view(reinterpret_cast<const char*>(t.data()), bytes)));
    offset += bytes;
  }
  if (!with_checksums.empty()) {
    // __metadata__ first, as other writers place it.
    nlohmann::ordered_json ordered = nlohmann::ordered_json::object();
    ordered["__metadata__"] = with_checksums;
    for (auto& [key, value] : header.items()) ordered[key] = value;
    header = std::move(ordered);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned in the file

  std::string out(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out.reserve(8 + text.size() + offset);
  out += text;
  for (const auto& [_, t] : tensors) out.append(reinterpret_cast<const char*>(t.data()), sizeof(Scalar) * t.numel());
  return out;
}

SafetensorsContents decode_safetensors(std::string_view bytes, const std::string& source) {
  if (bytes.size() < 8)
    fail(source, "file is " + std::to_string(bytes.size()) + " bytes, too short for the 8-byte header length");
  uint64_t header_size;
  std::memcpy(&header_size, bytes.data(), 8);
  if (header_size > kMaxSafetensorsHeader)
    fail(source, "header length " + std::to_string(header_size) + " exceeds the limit of " +
                     std::to_string(kMaxSafetensorsHeader) + " bytes");
  if (header_size > bytes.size() - 8)
    fail(source, "header length " + std::to_string(header_size) + " runs past the end of the " +
                     std::to_string(bytes.size()) + "-byte file");
  const nlohmann::json header = parse_header(bytes.substr(8, header_size), source);
  if (!header.is_object()) fail(source, "header must be a JSON object, got " + std::string(header.type_name()));

  const std::string_view data = bytes.substr(8 + header_size);
  SafetensorsContents out;
  std::vector<Entry> entries;
  StringMap checksums;  // tensor name -> the metadata's text
  for (auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(source, "__metadata__ must be an object of strings");
      for (auto& [key, v] : value.items()) {
        if (!v.is_string()) fail(source, "__metadata__ entry '" + key + "' is not a string");
        if (is_checksum_key(key)) checksums[key.substr(kChecksumPrefix.size())] = v.get<std::string>();
        else out.metadata[key] = v.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(name, value, data.size(), source));
  }

  // The tensors must tile the data section: sorted by offset, each starts where the
  // previous ended, and the last ends at the end of the file.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < expected)
      fail(source, "tensor '" + e.name + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                       "] overlap tensor '" + entries[i - 1].name + "'");
    if (e.begin > expected)
      fail(source, "tensor '" + e.name + "': data_offsets begin at " + std::to_string(e.begin) +
                       ", leaving a gap after byte " + std::to_string(expected));
    expected = e.end;
  }
  if (expected != data.size())
    fail(source, "tensors cover " + std::to_string(expected) + " bytes of the " + std::to_string(data.size()) +
                     "-byte data section");

  out.checksummed = !checksums.empty();
  if (out.checksummed) verify_checksums(entries, checksums, data, source);

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape);
    const char* src = data.data() + e.begin;
    if (e.dtype_size == sizeof(Scalar)) {
      if (t.numel() > 0) std::memcpy(t.data(), src, e.end - e.begin);
    } else if (e.dtype_size == 4) {
      convert_into<float>(t.data(), src, t.numel());
    } else {
      convert_into<double>(t.data(), src, t.numel());
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

bool is_atomic_write_temp(const std::string& name) {
  // "." + target + ".tmp-" + pid + "-" + counter, as write_file_atomically names them.
  const size_t tag = name.rfind(".tmp-");
  if (name.size() < 2 || name[0] != '.' || tag == std::string::npos || tag < 2) return false;
  const std::string numbers = name.substr(tag + 5);
  const size_t dash = numbers.find('-');
  const auto digits = [](const std::string& t) {
    return !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
  };
  return dash != std::string::npos && digits(numbers.substr(0, dash)) && digits(numbers.substr(dash + 1));
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  static std::atomic<uint64_t> counter{0};
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp_name = ".";
  tmp_name += target.filename().string();
  tmp_name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const std::string tmp = (dir / tmp_name).string();
  auto fail_write = [&](const std::string& what, int fd) {
    const std::string reason = errno_text();
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw CheckpointError("cannot write '" + path + "': " + what + ": " + reason);
  };

  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const std::string reason = errno_text();
    throw CheckpointError("cannot write '" + path + "': cannot create '" + tmp + "': " + reason);
  }
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_write("writing '" + tmp + "' failed", fd);
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail_write("flushing '" + tmp + "' to disk failed", fd);
  if (::close(fd) != 0) fail_write("closing '" + tmp + "' failed", -1);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail_write("renaming '" + tmp + "' over it failed", -1);
  // Makes the rename itself durable; a filesystem that cannot sync a directory still has
  // the complete file, so a failure here is not an error.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string read_file(const std::string& path) {
  try {
    return read_regular_file(path);
  } catch (const FileReadError& e) {
    throw CheckpointError(e.what());
  }
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const StringMap& metadata) {
  write_file_atomically(path, encode_safetensors(tensors, metadata));
}

SafetensorsContents load_safetensors(const std::string& path) { return decode_safetensors(read_file(path), path); }

}  // namespace qkv
