#!/usr/bin/python3
"""qkv against PyTorch eager, side by side on this machine, in one session.

    /usr/bin/python3 bench/compare.py [--build build] [--processes 3] [--threads 1 2]

For every workload it alternates qkv's benchmark (BUILD/bench/qkv_bench) and PyTorch's
twin (bench/torch_bench.py), each in --processes fresh processes per thread count, takes
the best median of those processes, then the best thread count of each side, and prints a
Markdown table: times, the ratio qkv / PyTorch, each side's fraction of the measured FMA
peak, and peak memory. Then the matmul table against OpenBLAS.

The PyTorch side runs on OpenBLAS's OpenMP build (Debian's libopenblas0-openmp; the
pthread build oversubscribes the cores beside PyTorch's OpenMP threads and ignores
torch.set_num_threads) with glibc's allocator told to keep freed memory, PyTorch's fastest
configuration here. When OpenBLAS does not know this CPU it falls back to its SSE3
"Prescott" kernels; on an AVX-512 machine the script then selects the SkylakeX kernels
(OPENBLAS_CORETYPE) and says so. It refuses to report a ratio against any other BLAS.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
WORKLOADS = ["configs/bench/tiny.json", "configs/bench/small.json", "configs/bench/medium.json", "attention",
             "attention_weights"]
GLIBC_KEEP_MEMORY = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296",
                     "MALLOC_TOP_PAD_": "268435456"}


def openblas_core(env):
    """The kernel family OpenBLAS picks in an environment like the benchmark's."""
    code = ("import ctypes; l = ctypes.CDLL('%s/libopenblas.so.0'); "
            "l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())"
            % OPENBLAS_OPENMP)
    return subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def torch_environment():
    if not os.path.exists(OPENBLAS_OPENMP + "/libblas.so.3"):
        sys.exit("compare.py: OpenBLAS's OpenMP build is missing; run: bash bench/deps.sh")
    env = dict(os.environ, LD_LIBRARY_PATH=OPENBLAS_OPENMP, **GLIBC_KEEP_MEMORY)
    env.pop("OPENBLAS_CORETYPE", None)
    core = openblas_core(env)
    if core == "Prescott" and "avx512f" in open("/proc/cpuinfo").read():
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
        core = openblas_core(env) + " (selected: this OpenBLAS does not recognise the CPU)"
    return env, core


def run(command, env):
    out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit("compare.py: %s failed:\n%s" % (" ".join(command), out.stderr))
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def check_blas(lines):
    for line in lines:
        if not any("openblas-openmp" in path for path in line["blas"]):
            sys.exit("compare.py: PyTorch loaded %s, not OpenBLAS's OpenMP build; no ratio against it" % line["blas"])


def best(results):
    """The fastest (threads, line) among processes and thread counts, by median."""
    return min(results, key=lambda r: r[1]["median_ms"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    qkv_bench = os.path.join(ROOT, args.build, "bench", "qkv_bench")
    torch_env, core = torch_environment()
    qkv_env = dict(os.environ)

    peak = {t: run([qkv_bench, "peak", "--threads", str(t)], qkv_env)[0]["gflops"] for t in args.threads}
    torch_version = None

    # The matmul table first: qkv's best GEMM rate per thread count bounds every workload
    # from below (its matrix products alone, at that rate, with nothing else to do).
    matmul_rows, best_gemm = [], {}
    for t in args.threads:
        ours = run([qkv_bench, "matmul", "--threads", str(t)], qkv_env)
        theirs = run(["/usr/bin/python3", "bench/torch_bench.py", "matmul", "--threads", str(t)], torch_env)
        check_blas(theirs)
        best_gemm[t] = max(a["gflops"] for a in ours)
        for a, b in zip(ours, theirs):
            matmul_rows.append("| %d x %d x %d | %d | %.0f | %.0f | %.2f |" % (
                a["m"], a["k"], a["n"], t, a["gflops"], b["gflops"], a["gflops"] / b["gflops"]))

    rows = []
    for workload in WORKLOADS:
        qkv_runs, torch_runs = [], []
        for _ in range(args.processes):
            for t in args.threads:
                common = [workload, "--threads", str(t), "--repeats", str(args.repeats)]
                qkv_runs += [(t, line) for line in run([qkv_bench] + common, qkv_env)]
                lines = run(["/usr/bin/python3", "bench/torch_bench.py"] + common, torch_env)
                check_blas(lines)
                torch_version = lines[0]["torch"]
                torch_runs += [(t, line) for line in lines]
        (qt, q), (tt, tl) = best(qkv_runs), best(torch_runs)
        flops = q["flops"]
        at_peak = lambda ms, t: flops / (ms * 1e6) / peak[t]
        products_alone = flops / (best_gemm[qt] * 1e6)
        rows.append("| %s | %.2f (%d) | %.2f (%d) | %.2f | %.2f | %.1f%% | %.1f%% | %.1f | %.0f | %.0f |" % (
            os.path.basename(workload).replace(".json", ""), q["median_ms"], qt, tl["median_ms"], tt,
            q["median_ms"] / tl["median_ms"], flops / 1e9, 100 * at_peak(q["median_ms"], qt),
            100 * at_peak(tl["median_ms"], tt), products_alone, q["peak_rss_mb"], tl["peak_rss_mb"]))
        print("measured", workload, file=sys.stderr)
    print("PyTorch %s on OpenBLAS (OpenMP build, %s kernels); qkv from %s/; FMA peak %s GFLOP/s\n" % (
        torch_version, core, args.build, ", ".join("%.0f at %d thread(s)" % (peak[t], t) for t in args.threads)))
    print("| workload | qkv ms (threads) | PyTorch ms (threads) | qkv / PyTorch | GFLOP per step | qkv % of peak "
          "| PyTorch % of peak | products alone ms | qkv peak MB | PyTorch peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nproducts alone: the step's GFLOP at qkv's best matmul rate for the same thread count "
          "(%s GFLOP/s), a floor for the step's time" % ", ".join("%.0f at %d" % (best_gemm[t], t) for t in args.threads))

    print("\n| matmul m x k x n | threads | qkv GFLOP/s | OpenBLAS GFLOP/s | qkv / OpenBLAS |")
    print("|---|---|---|---|---|")
    print("\n".join(matmul_rows))


if __name__ == "__main__":
    main()
