#include "train/plot.h"

#include <cstdlib>
#include <filesystem>

#include "io/safetensors.h"

namespace qkv {

bool gnuplot_available() {
  static const bool found = std::system("command -v gnuplot >/dev/null 2>&1") == 0;
  return found;
}

const char* line_color(size_t i) {
  static const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colors[i % 10];
}

bool render_plot(const std::string& stem, const std::string& body, int width, int height) {
  const std::string png = std::filesystem::path(stem + ".png").filename().string();
  const std::string script = "set terminal pngcairo size " + std::to_string(width) + "," + std::to_string(height) +
                             " font 'sans,11'\nset output '" + png + "'\nset datafile separator ','\n" +
                             "set termoption noenhanced\nset key outside right top\nset grid\n" + body + "\n";
  write_file_atomically(stem + ".gp", script);
  if (!gnuplot_available()) return false;
  // gnuplot runs in the script's folder so that data files are named relative to it.
  const auto dir = std::filesystem::path(stem).parent_path();
  const std::string cmd = "cd '" + (dir.empty() ? std::string(".") : dir.string()) + "' && gnuplot '" +
                          std::filesystem::path(stem + ".gp").filename().string() + "' 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace qkv
