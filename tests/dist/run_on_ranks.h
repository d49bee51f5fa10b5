// Runs a program as a child process, under mpirun when ranks > 1, the way a user would.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "../child_process.h"

namespace qkv_test {

// The launcher's words: mpiexec, its count flag and ranks, then CMake's preflags (none or
// several, separated by spaces).
inline std::vector<std::string> mpi_launcher(int ranks) {
  std::vector<std::string> words = {QKV_MPIEXEC, QKV_MPIEXEC_NUMPROC_FLAG, std::to_string(ranks)};
  std::istringstream preflags(QKV_MPIEXEC_PREFLAGS);
  for (std::string word; preflags >> word;) words.push_back(word);
  return words;
}

inline ChildOptions ranks_options(const std::string& log) {
  ChildOptions options;
  options.out_file = options.err_file = log;
  options.env = {"OMP_NUM_THREADS=1"};
  return options;
}

// `program args...`, stdout and stderr to `log`; returns the exit code. One OpenMP thread
// per process (2 ranks on 2 cores), and a timeout: a hang is a failure, not a stuck CI
// (exit code 124).
inline int run_on_ranks(const std::string& program, int ranks, const std::vector<std::string>& args,
                        const std::string& log) {
  std::vector<std::string> argv = ranks == 1 ? std::vector<std::string>{} : mpi_launcher(ranks);
  argv.push_back(program);
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions options = ranks_options(log);
  options.timeout_seconds = 120;
  return Child(argv, options).wait();
}

}  // namespace qkv_test
