// What the --help of train and of the experiment programs shows below the options: the
// names a config can use (the scorers this program registered included) and where every
// key is listed.
#pragma once

#include <string>

namespace qkv {

std::string config_names_footer();

}  // namespace qkv
