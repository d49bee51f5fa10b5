// Starting another program (gnuplot) without a shell: the program and its arguments go
// to execvp as a vector, so no character of a folder or file name (quotes, $(), `, ;,
// newlines) is ever interpreted. qkv never starts a shell.
#pragma once

#include <string>
#include <vector>

namespace qkv {

// Whether `name` is an executable file in one of $PATH's folders.
bool program_on_path(const std::string& name);

// Runs argv[0] (looked up in $PATH) with argv in `working_dir`, its standard input, output
// and error on /dev/null, and waits for it. True when it ran and exited with status 0;
// false when it could not start, failed or was killed.
bool run_program(const std::vector<std::string>& argv, const std::string& working_dir);

}  // namespace qkv
