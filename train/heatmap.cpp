#include "train/heatmap.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "train/plot.h"
#include "io/safetensors.h"

namespace qkv {

bool write_heatmap(const std::string& stem, const Tensor& weights, const std::string& title) {
  if (weights.dim() < 3)
    throw std::invalid_argument("write_heatmap: weights need shape [.., H, Nq, Nk], got " + shape_str(weights.shape()));
  const int64_t heads = weights.size(-3), nq = weights.size(-2), nk = weights.size(-1);
  const std::string name = std::filesystem::path(stem).filename().string();
  std::ostringstream plot;
  plot << "set multiplot layout 1," << heads << " title " << gnuplot_string(title) << "\n"
       << "unset key\nunset grid\nset palette defined (0 'white', 0.5 '#4a90d9', 1 '#08306b')\n"
       << "set cbrange [0:1]\nset xlabel 'key j'\nset ylabel 'query i'\nset yrange [" << nq - 0.5 << ":-0.5]\n"
       << "set xrange [-0.5:" << nk - 0.5 << "]\nset size ratio -1\n";
  for (int64_t h = 0; h < heads; ++h) {
    std::ostringstream data;
    for (int64_t i = 0; i < nq; ++i) {
      for (int64_t j = 0; j < nk; ++j) data << (j ? " " : "") << weights.data()[(h * nq + i) * nk + j];
      data << "\n";
    }
    const std::string file = name + "_head" + std::to_string(h) + ".dat";
    write_file_atomically((std::filesystem::path(stem).parent_path() / file).string(), data.str());
    plot << "set title 'head " << h << "'\nset datafile separator whitespace\nplot " << gnuplot_string(file)
         << " matrix with image\n";
  }
  plot << "unset multiplot\n";
  return render_plot(stem, plot.str(), 420 * static_cast<int>(heads) + 120, 480);
}

}  // namespace qkv
