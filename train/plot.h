// Plots through gnuplot: the experiment writes a gnuplot script next to its data; the
// script is rendered to PNG when gnuplot is installed, and kept either way so a user can
// render it later. gnuplot runs without a shell (train/external_program.h), in the
// script's folder; a script names its data files relative to that folder and passes
// every outside text (a folder's name, a label) through gnuplot_string.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace qkv {

bool gnuplot_available();

// `text` as a gnuplot double-quoted string. Every byte but letters, digits, space and
// -_.,:+=/()[]{} is an octal escape, so the script line holds no quote, newline, backquote
// (gnuplot's command substitution), '@' (its macros) or '$' whatever the text; gnuplot
// turns the escapes back into the same bytes. A NUL byte, which would end the string,
// becomes '?'.
std::string gnuplot_string(std::string_view text);

// The i-th of a set of colours that stay apart on white (Tableau 10, cycled), for plots
// with several series.
const char* line_color(size_t i);

// Writes <stem>.gp (a PNG terminal set to <stem>.png, then `body`) and runs gnuplot on it
// in <stem>'s folder when available. Returns true when the PNG was made.
bool render_plot(const std::string& stem, const std::string& body, int width = 900, int height = 600);

}  // namespace qkv
