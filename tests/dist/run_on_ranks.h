// Runs a program as a child process, under mpirun when ranks > 1, the way a user would.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <string>

namespace qkv_test {

// `program args`, output to `log`; returns the exit code. One OpenMP thread per process
// (2 ranks on 2 cores), and a timeout: a hang is a failure, not a stuck CI (exit code 124).
inline int run_on_ranks(const std::string& program, int ranks, const std::string& args, const std::string& log) {
  const std::string launcher = ranks == 1 ? std::string()
                                          : std::string(QKV_MPIEXEC " " QKV_MPIEXEC_NUMPROC_FLAG " ") +
                                                std::to_string(ranks) + " " QKV_MPIEXEC_PREFLAGS " ";
  const std::string command =
      "OMP_NUM_THREADS=1 timeout 120 " + launcher + "'" + program + "' " + args + " > '" + log + "' 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace qkv_test
