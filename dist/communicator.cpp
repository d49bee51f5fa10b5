#include "dist/communicator.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <stdexcept>

#ifdef QKV_HAVE_MPI
#include <mpi.h>
#endif

namespace qkv::dist {
namespace {
double allreduce_seconds = 0;
int alone_depth = 0;  // AloneScopes alive

#ifdef QKV_HAVE_MPI
// The variables each launcher sets in the processes it starts: OpenMPI's mpirun, MPICH's
// Hydra and Slurm (PMI_SIZE), PMIx-based launchers. They are only read to decide whether
// to start MPI; everything after that is standard MPI.
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(name)) return true;
  return false;
}

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  abort_job(std::string(what) + " failed: " + std::string(text, length), 1);
}

// MPI counts are ints: larger buffers go in several calls.
template <class T>
void allreduce_chunks(T* values, int64_t count, MPI_Datatype type) {
  const auto start = std::chrono::steady_clock::now();
  constexpr int64_t kMaxCount = std::numeric_limits<int>::max();
  for (int64_t offset = 0; offset < count; offset += kMaxCount) {
    const int n = static_cast<int>(std::min(kMaxCount, count - offset));
    check(MPI_Allreduce(MPI_IN_PLACE, values + offset, n, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
  allreduce_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
#endif
}  // namespace

#ifdef QKV_HAVE_MPI
MpiSession::MpiSession(int& argc, char**& argv) {
  if (launched_by_mpi() && !mpi_running()) {
    MPI_Init(&argc, &argv);
    // Errors come back as codes that check() turns into a message and a clean abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
}
MpiSession::~MpiSession() {
  if (mpi_running()) MPI_Finalize();
}

bool built_with_mpi() { return true; }

namespace {
int world_rank() {
  int r = 0;
  if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int s = 1;
  if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}
}  // namespace

int rank() { return alone_depth > 0 ? 0 : world_rank(); }
int size() { return alone_depth > 0 ? 1 : world_size(); }

void allreduce_sum(float* values, int64_t count) {
  if (size() > 1) allreduce_chunks(values, count, MPI_FLOAT);
}
void allreduce_sum(double* values, int64_t count) {
  if (size() > 1) allreduce_chunks(values, count, MPI_DOUBLE);
}

int allreduce_max(int value) {
  if (size() > 1) check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return value;
}

bool same_on_every_rank(uint64_t value) {
  if (size() == 1) return true;
  uint64_t low = value, high = value;
  check(MPI_Allreduce(MPI_IN_PLACE, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  check(MPI_Allreduce(MPI_IN_PLACE, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return low == high;
}

void broadcast(std::string& text) {
  if (size() == 1) return;
  int64_t length = static_cast<int64_t>(text.size());
  check(MPI_Bcast(&length, 1, MPI_INT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  text.resize(static_cast<size_t>(length));
  if (length > std::numeric_limits<int>::max()) abort_job("broadcast: text over 2 GB", 1);
  check(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

std::vector<std::string> gather_to_root(const std::string& text) {
  if (size() == 1) return {text};
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max())) abort_job("gather: text over 2 GB", 1);
  const int length = static_cast<int>(text.size());
  std::vector<int> lengths(is_root() ? size() : 0), offsets(lengths.size());
  check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  std::string all;
  if (is_root()) {
    int64_t total = 0;
    for (size_t r = 0; r < lengths.size(); ++r) {
      offsets[r] = static_cast<int>(total);
      total += lengths[r];
    }
    if (total > std::numeric_limits<int>::max()) abort_job("gather: results over 2 GB", 1);
    all.resize(static_cast<size_t>(total));
  }
  check(MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
                    MPI_COMM_WORLD),
        "MPI_Gatherv");
  std::vector<std::string> parts;
  for (size_t r = 0; r < lengths.size(); ++r) parts.push_back(all.substr(offsets[r], lengths[r]));
  return parts;
}

void abort_job(const std::string& message, int exit_code) {
  std::cout << std::flush;
  // The whole job, even from inside an AloneScope: the other ranks would wait for this one.
  if (world_size() == 1) {
    std::cerr << message << "\n";
    std::exit(exit_code);
  }
  // One write, so that the lines of ranks failing together do not interleave.
  std::cerr << ("rank " + std::to_string(world_rank()) + " of " + std::to_string(world_size()) + ": " + message +
                "; stopping every rank\n")
            << std::flush;
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);  // MPI_Abort does not return; this says so to the compiler
}
#else
MpiSession::MpiSession(int&, char**&) {}
MpiSession::~MpiSession() = default;
bool built_with_mpi() { return false; }
int rank() { return 0; }
int size() { return 1; }
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(double*, int64_t) {}
int allreduce_max(int value) { return value; }
bool same_on_every_rank(uint64_t) { return true; }
void broadcast(std::string&) {}
std::vector<std::string> gather_to_root(const std::string& text) { return {text}; }
void abort_job(const std::string& message, int exit_code) {
  std::cout << std::flush;
  std::cerr << message << "\n";
  std::exit(exit_code);
}
#endif

double seconds_in_allreduce() { return allreduce_seconds; }

AloneScope::AloneScope() { ++alone_depth; }
AloneScope::~AloneScope() { --alone_depth; }

}  // namespace qkv::dist
