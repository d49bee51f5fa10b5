// Compiled with dist/'s include directories by the test layers:downward_include_compiles:
// dist/ sees its own headers and those of the folders below it (tasks/, core/), so the
// failure of layers:upward_include_fails is the missing folder, not a broken command.
#include "core/tensor.h"
#include "dist/data_parallel.h"
#include "tasks/task.h"
