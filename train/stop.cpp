#include "train/stop.h"

#include <csignal>

namespace qkv {
namespace {
volatile std::sig_atomic_t pending_signal = 0;

extern "C" void on_stop_signal(int signal) {
  pending_signal = signal;
  // The next one is not caught: a user pressing Ctrl-C twice means "now".
  std::signal(signal, SIG_DFL);
}
}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  report_file_size_limit();
}

void report_file_size_limit() { std::signal(SIGXFSZ, SIG_IGN); }

int stop_signal() { return pending_signal; }
void request_stop(int signal) { pending_signal = signal; }
void clear_stop() { pending_signal = 0; }

}  // namespace qkv
