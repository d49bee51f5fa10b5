// Compiled with dist/'s include directories by the test layers:upward_include_fails, which
// passes only when the compiler cannot find train/'s header: the build's layer order hides
// every folder above dist/ from it.
#include "dist/data_parallel.h"
#include "train/metrics.h"
