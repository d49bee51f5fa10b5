#include "train/plot.h"

#include <cstdio>
#include <filesystem>

#include "io/safetensors.h"
#include "train/external_program.h"

namespace qkv {

bool gnuplot_available() {
  static const bool found = program_on_path("gnuplot");
  return found;
}

std::string gnuplot_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9') ||
                       std::string_view(" -_.,:+=/()[]{}").find(c) != std::string_view::npos;
    if (byte == 0) {
      out += '?';
    } else if (plain) {
      out += c;
    } else {
      char escape[5];
      std::snprintf(escape, sizeof escape, "\\%03o", byte);
      out += escape;
    }
  }
  return out + "\"";
}

const char* line_color(size_t i) {
  static const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colors[i % 10];
}

bool render_plot(const std::string& stem, const std::string& body, int width, int height) {
  const std::filesystem::path path(stem);
  const std::string script = "set terminal pngcairo size " + std::to_string(width) + "," + std::to_string(height) +
                             " font 'sans,11'\nset output " + gnuplot_string(path.filename().string() + ".png") +
                             "\nset datafile separator ','\n" +
                             "set termoption noenhanced\nset key outside right top\nset grid\n" + body + "\n";
  write_file_atomically(stem + ".gp", script);
  if (!gnuplot_available()) return false;
  return run_program({"gnuplot", "./" + path.filename().string() + ".gp"}, path.parent_path().string());
}

}  // namespace qkv
