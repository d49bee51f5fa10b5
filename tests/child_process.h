// The programs under test run as child processes without a shell: the program and its
// arguments go to execvp as a vector, so no character of a folder or file name (quotes,
// $(), `, ;, newlines, bytes that are not UTF-8) is ever interpreted. What a shell gave the
// tests (redirections, a timeout, a signal after a delay, ulimit -f) is spelled out here.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace qkv_test {

struct ChildOptions {
  std::string out_file, err_file;  // stdout and stderr (one file: both together); empty: /dev/null
  std::vector<std::string> env;    // NAME=value, over this process's environment
  int timeout_seconds = 300;       // then SIGKILL to the child's process group, and exit code 124
  long file_size_limit = -1;       // bytes (RLIMIT_FSIZE), as `ulimit -f` sets it: a full disk
};

class Child {
 public:
  Child(const std::vector<std::string>& argv, const ChildOptions& options)
      : deadline_(std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds)) {
    if (argv.empty()) throw std::invalid_argument("Child: no program");
    // Everything the child needs is built before fork: between fork and exec a child of a
    // multi-threaded process may only make async-signal-safe calls (no allocation).
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      bool replaced = false;
      for (const std::string& extra : options.env)
        replaced = replaced || entry.compare(0, extra.find('=') + 1, extra, 0, extra.find('=') + 1) == 0;
      if (!replaced) env_strings.push_back(entry);
    }
    env_strings.insert(env_strings.end(), options.env.begin(), options.env.end());
    std::vector<char*> args, envp;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    for (const std::string& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    args.push_back(nullptr);
    envp.push_back(nullptr);
    const int out = open_output(options.out_file);
    const int err = options.err_file == options.out_file ? out : open_output(options.err_file);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);  // its own group, so that a timeout reaches mpirun's ranks too
      if (options.file_size_limit >= 0) {
        const rlimit limit{static_cast<rlim_t>(options.file_size_limit), static_cast<rlim_t>(options.file_size_limit)};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(127);
      }
      if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
      ::execvpe(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::close(in);
    ::close(out);
    if (err != out) ::close(err);
    if (pid_ < 0) throw std::runtime_error(std::string("Child: fork failed: ") + std::strerror(errno));
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) ::kill(-pid_, SIGKILL), ::waitpid(pid_, nullptr, 0);
  }

  void signal(int signo) const { ::kill(pid_, signo); }

  // The exit code; 128 + the signal's number when a signal ended it; 124 (as timeout(1)
  // reports) when it outran its time and was killed.
  int wait() {
    int status = 0;
    while (true) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) break;
      if (done < 0 && errno != EINTR) throw std::runtime_error(std::string("Child: waitpid: ") + std::strerror(errno));
      if (std::chrono::steady_clock::now() > deadline_) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return 124;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  static int open_output(const std::string& path) {
    const int fd = ::open(path.empty() ? "/dev/null" : path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("Child: cannot open " + path + ": " + std::strerror(errno));
    return fd;
  }

  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point deadline_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

// Runs argv to its end with stdout and stderr captured in dir/stdout.txt and dir/stderr.txt.
inline Outcome run_program(const std::vector<std::string>& argv, const std::string& dir, ChildOptions options = {}) {
  options.out_file = dir + "/stdout.txt";
  options.err_file = dir + "/stderr.txt";
  Child child(argv, options);
  Outcome o;
  o.exit_code = child.wait();
  o.out = slurp(options.out_file);
  o.err = slurp(options.err_file);
  return o;
}

}  // namespace qkv_test
