// Plots through gnuplot: the experiment writes a gnuplot script next to its data; the
// script is rendered to PNG when gnuplot is installed, and kept either way so a user can
// render it later.
#pragma once

#include <cstddef>
#include <string>

namespace qkv {

bool gnuplot_available();

// The i-th of a set of colours that stay apart on white (Tableau 10, cycled), for plots
// with several series.
const char* line_color(size_t i);

// Writes <stem>.gp (a PNG terminal set to <stem>.png, then `body`) and runs gnuplot on it
// when available. Returns true when the PNG was made.
bool render_plot(const std::string& stem, const std::string& body, int width = 900, int height = 600);

}  // namespace qkv
