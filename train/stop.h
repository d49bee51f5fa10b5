// Stopping a run cleanly: SIGINT (Ctrl-C) and SIGTERM set a flag that the training loop
// reads between steps; the loop finishes the step it is in, saves a checkpoint and
// returns. A second signal while the first is pending gets the default action (the
// process ends at once), for a run that does not stop fast enough.
#pragma once

namespace qkv {

void install_stop_handlers();  // SIGINT and SIGTERM, and report_file_size_limit()
// Past a file-size limit (ulimit -f) a write fails with EFBIG, which the writer reports with
// the file's name, instead of SIGXFSZ killing the process without a word.
void report_file_size_limit();
// The signal that asked the run to stop (SIGINT, SIGTERM, or what request_stop passed);
// 0 while nobody asked.
int stop_signal();
inline bool stop_requested() { return stop_signal() != 0; }
void request_stop(int signal);  // as if `signal` had arrived, e.g. from a GUI's button
void clear_stop();              // forget a request, e.g. before the next run

}  // namespace qkv
