// The processes of a distributed run, over MPI: data-parallel training (dist/gradient_reducer.h)
// and sweeps of independent runs (dist/sweep.h) call these, never MPI itself.
//
// A program that can run under mpirun holds an MpiSession in main. MPI is started only
// when a launcher (mpirun, mpiexec, srun) started the process: a plain `train CONFIG` then
// runs exactly as a build without MPI does, with no MPI start-up cost. Without a session,
// or in a build without MPI (QKV_HAVE_MPI undefined), there is one rank and every call
// below is the trivial one-process answer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qkv::dist {

class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);  // MPI_Init when launched by an MPI launcher
  ~MpiSession();                        // MPI_Finalize
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

bool built_with_mpi();
int rank();  // 0 .. size() - 1
int size();

// While one lives, this process is a job of its own: rank() is 0, size() is 1 and every
// collective below is the one-process one. A sweep's cell (dist/sweep.h) trains so, alone
// on its rank, while the other ranks train other cells. abort_job still ends every rank.
class AloneScope {
 public:
  AloneScope();
  ~AloneScope();
  AloneScope(const AloneScope&) = delete;
  AloneScope& operator=(const AloneScope&) = delete;
};
inline bool is_root() { return rank() == 0; }

// In place, over every rank; each rank gets the same sum.
void allreduce_sum(float* values, int64_t count);
void allreduce_sum(double* values, int64_t count);
int allreduce_max(int value);
bool same_on_every_rank(uint64_t value);
// Seconds spent inside allreduce_sum since the start: what data parallelism costs.
double seconds_in_allreduce();

// The root's text on every rank.
void broadcast(std::string& text);
// Every rank's text, in rank order, on the root; an empty vector on the other ranks.
std::vector<std::string> gather_to_root(const std::string& text);

// Ends every process of the job with `exit_code` after printing `message` (with this
// rank's number) to stderr: a rank that fails must not leave the others waiting in a
// collective. In one process, prints and exits.
[[noreturn]] void abort_job(const std::string& message, int exit_code);

}  // namespace qkv::dist
