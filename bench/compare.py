#!/usr/bin/python3
"""qkv against PyTorch eager, side by side on this machine, in one session.

    /usr/bin/python3 bench/compare.py [--build build] [--processes 3] [--threads 1 2]
    /usr/bin/python3 bench/compare.py --sweep [--plot docs/images/sweep_qkv_over_pytorch.png]
    /usr/bin/python3 bench/compare.py --bf16 [--only medium wide] [--threads 2]

For every workload it alternates qkv's benchmark (BUILD/bench/qkv_bench) and PyTorch's
twin (bench/torch_bench.py), each in --processes fresh processes per thread count, takes
the best median of those processes, then the best thread count of each side, and prints a
Markdown table: times, the ratio qkv / PyTorch, each side's fraction of the measured FMA
peak, and memory. Then the GEMM table: qkv's matmul against OpenBLAS, BLIS and oneDNN
(`qkv_bench kernels`) at every thread count. --sweep runs a grid of model shapes instead
(sweep_points below) and also draws qkv / PyTorch against the FLOPs of a step (gnuplot).
--bf16 times qkv's bf16 steps against its own float32 ones instead (bf16_speedups).

The PyTorch side runs on OpenBLAS's OpenMP build (Debian's libopenblas0-openmp; the
pthread build oversubscribes the cores beside PyTorch's OpenMP threads and ignores
torch.set_num_threads) with glibc's allocator told to keep freed memory. OpenBLAS picks its
kernels from the CPU it sees, and may pick badly for a CPU newer than itself; so every
workload runs under OpenBLAS's own choice and under OPENBLAS_CORETYPE SkylakeX and Haswell,
each first checked against float64 (torch_bench.py blas_check), and PyTorch's fastest
correct one is kept and named. It refuses to report a ratio against any other BLAS.
"""
import argparse
import json
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
WORKLOADS = ["configs/bench/%s.json" % name for name in ("tiny", "small", "medium", "wide", "long", "heads16")] + [
    "attention", "attention_weights"]
GLIBC_KEEP_MEMORY = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296",
                     "MALLOC_TOP_PAD_": "268435456"}
# None: OpenBLAS's own choice for this CPU.
CORETYPES = [None, "SkylakeX", "Haswell"]
# float32 products of depth up to 2048 differ from float64 by a few 1e-7 of their largest
# entry; a wrong kernel differs by far more.
BLAS_TOLERANCE = 1e-5
GEMM_ANCHORS = ["openblas", "blis", "onednn"]
# The targets of issue 20, for a step: at most half PyTorch's time, or at least 80% of the
# FMA peak where half is out of reach; never above 0.7.
TARGET_RATIO, TARGET_PEAK, CEILING_RATIO = 0.5, 0.8, 0.7


def openblas_core(env):
    """The kernel family OpenBLAS picks in an environment like the benchmark's."""
    code = ("import ctypes; l = ctypes.CDLL('%s/libopenblas.so.0'); "
            "l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())"
            % OPENBLAS_OPENMP)
    return subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def failure(out):
    """How a finished process failed, or None; a signal is named (SIGILL: an instruction this CPU lacks)."""
    if out.returncode == 0:
        return None
    if out.returncode < 0:
        return "killed by %s\n%s" % (signal.Signals(-out.returncode).name, out.stderr)
    return "exit status %d\n%s" % (out.returncode, out.stderr)


def attempt(command, env):
    """(the JSON lines a command printed, None), or (None, how it failed)."""
    out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    problem = failure(out)
    if problem:
        return None, problem
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")], None


def run(command, env):
    lines, problem = attempt(command, env)
    if problem:
        sys.exit("compare.py: %s failed: %s" % (" ".join(command), problem))
    return lines


def check_blas(lines):
    for line in lines:
        if not any("openblas-openmp" in path for path in line["blas"]):
            sys.exit("compare.py: PyTorch loaded %s, not OpenBLAS's OpenMP build; no ratio against it" % line["blas"])


def torch_environments():
    """[(name of the kernels, environment)] for every core type whose products are correct."""
    if not os.path.exists(OPENBLAS_OPENMP + "/libblas.so.3"):
        sys.exit("compare.py: OpenBLAS's OpenMP build is missing; run: bash bench/deps.sh")
    base = dict(os.environ, LD_LIBRARY_PATH=OPENBLAS_OPENMP, **GLIBC_KEEP_MEMORY)
    base.pop("OPENBLAS_CORETYPE", None)
    kept = []
    for coretype in CORETYPES:
        env = dict(base, **({"OPENBLAS_CORETYPE": coretype} if coretype else {}))
        name = openblas_core(env) + ("" if coretype else " (OpenBLAS's choice)")
        # A kernel family newer than the CPU (SkylakeX's AVX-512 on an AVX2 CPU) dies of an
        # illegal instruction: that family is rejected, not the comparison.
        check, problem = attempt(["/usr/bin/python3", "bench/torch_bench.py", "blas_check"], env)
        if problem:
            print("PyTorch kernels %s: REJECTED, its products failed: %s" % (name, problem.strip()),
                  file=sys.stderr)
            continue
        check_blas(check)
        error = check[0]["max_rel_diff"]
        print("PyTorch kernels %s: largest relative difference from float64 %.1e, %s" % (
            name, error, "kept" if error < BLAS_TOLERANCE else "REJECTED"), file=sys.stderr)
        if error < BLAS_TOLERANCE:
            kept.append((name, env))
    if not kept:
        sys.exit("compare.py: no OpenBLAS kernel family computed correct products")
    return kept


def best(results):
    """The fastest (threads, line, kernels) among processes, thread counts and kernels, by median."""
    return min(results, key=lambda r: r[1]["median_ms"])


def measure(workload, args, qkv_bench, torch_envs, extra=()):
    """Best qkv and best PyTorch (threads, line, kernels) for one workload, alternating the sides."""
    qkv_runs, torch_runs = [], []
    for _ in range(args.processes):
        for t in args.threads:
            common = [workload, "--threads", str(t), "--repeats", str(args.repeats)] + list(extra)
            qkv_runs += [(t, line, "") for line in run([qkv_bench] + common, dict(os.environ))]
            for name, env in torch_envs:
                lines = run(["/usr/bin/python3", "bench/torch_bench.py"] + common, env)
                check_blas(lines)
                torch_runs += [(t, line, name) for line in lines]
    return best(qkv_runs), best(torch_runs)


def verdict(ratio, qkv_at_peak):
    if ratio > CEILING_RATIO:
        return "missed (above %.1fx)" % CEILING_RATIO
    if ratio <= TARGET_RATIO:
        return "met"
    return "met (%.0f%% of peak)" % (100 * TARGET_PEAK) if qkv_at_peak >= TARGET_PEAK else "missed"


def net(line):
    """Peak memory net of the program's baseline (PyTorch: RSS after `import torch`)."""
    return line["peak_rss_mb"] - line["baseline_rss_mb"] if "baseline_rss_mb" in line else float("nan")


def gemm_table(args, qkv_bench):
    """The rows of the GEMM table and qkv's best matmul rate per thread count."""
    rows, best_rate = [], {}
    for t in args.threads:
        lines = run([qkv_bench, "kernels", "--threads", str(t), "--repeats", str(args.repeats)], dict(os.environ))
        best_rate[t] = max(line["qkv_gflops"] for line in lines if "qkv_gflops" in line)
        for line in lines[1:]:
            for anchor in GEMM_ANCHORS:
                if line.get(anchor + "_max_rel_diff", 0) > BLAS_TOLERANCE:
                    sys.exit("compare.py: %s computed a wrong product: %s" % (anchor, line))
            anchors = [line.get(a + "_gflops", float("nan")) for a in GEMM_ANCHORS]
            top = max(a for a in anchors if a == a)
            shape = "%d x %d x %d%s%s" % (line["m"], line["k"], line["n"], " A^T" if line["a_transposed"] else "",
                                          " B^T" if line["b_transposed"] else "")
            rows.append("| %s | %s | %d | %s %.0f | %.0f | %.0f | %.0f | %.0f | %.2f |" % (
                shape, ", ".join(line["from"]), t, line["qkv_kernel"], line["qkv_gflops"], line["eigen_gflops"],
                anchors[0], anchors[1], anchors[2], line["qkv_gflops"] / top))
        print("measured kernels at %d thread(s)" % t, file=sys.stderr)
    return rows, best_rate


def workload_name(workload):
    return os.path.basename(workload).replace(".json", "")


def workloads(args, qkv_bench, torch_envs, peak):
    gemm_rows, best_rate = gemm_table(args, qkv_bench)
    chosen = [w for w in WORKLOADS if not args.only or workload_name(w) in args.only]
    unknown = set(args.only or []) - {workload_name(w) for w in WORKLOADS}
    if unknown:
        sys.exit("compare.py: --only %s: not a workload (%s)" % (
            ", ".join(sorted(unknown)), ", ".join(workload_name(w) for w in WORKLOADS)))
    rows, torch_version = [], None
    for workload in chosen:
        (qt, q, _), (tt, tl, kernels) = measure(workload, args, qkv_bench, torch_envs)
        torch_version = tl["torch"]
        flops = q["flops"]
        ratio = q["median_ms"] / tl["median_ms"]
        at_peak = lambda ms, t: flops / (ms * 1e6) / peak[t]
        rows.append("| %s | %.2f (%d) | %.2f (%d, %s) | %.2f | %s | %.2f | %.1f%% | %.1f%% | %.1f | %.0f / %.0f | %.0f / %.0f |" % (
            workload_name(workload), q["median_ms"], qt, tl["median_ms"], tt, kernels, ratio,
            verdict(ratio, at_peak(q["median_ms"], qt)), flops / 1e9, 100 * at_peak(q["median_ms"], qt),
            100 * at_peak(tl["median_ms"], tt), flops / (best_rate[qt] * 1e6), q["peak_rss_mb"], net(q),
            tl["peak_rss_mb"], net(tl)))
        print("measured", workload, file=sys.stderr)
    print("PyTorch %s on OpenBLAS (OpenMP build; kernels: the fastest of %s per workload); qkv from %s/; "
          "FMA peak %s GFLOP/s\n" % (torch_version, ", ".join(name for name, _ in torch_envs), args.build,
                                     ", ".join("%.0f at %d thread(s)" % (peak[t], t) for t in args.threads)))
    print("| workload | qkv ms (threads) | PyTorch ms (threads, kernels) | qkv / PyTorch | target | GFLOP per step "
          "| qkv % of peak | PyTorch % of peak | products alone ms | qkv peak MB gross / net | PyTorch peak MB gross / net |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nproducts alone: the step's GFLOP at qkv's best matmul rate for the same thread count (%s GFLOP/s), a "
          "floor for the step's time. net: peak memory less the resident memory before the model was built "
          "(PyTorch: after `import torch`)." % ", ".join("%.0f at %d" % (best_rate[t], t) for t in args.threads))
    print("\n| product m x k x n | from | threads | qkv (kernel) GFLOP/s | Eigen | OpenBLAS | BLIS | oneDNN "
          "| qkv / best library |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(gemm_rows))


def sweep_points():
    """(d_model, seq_len, d_head) around a base of 256, 128, 64: each axis over its range with
    the others at the base, and two corners. One block (the largest points stay well under a
    second per step); the batch makes a step about 4 GFLOP, at most 256 sequences."""
    base = (256, 128, 64)
    points = [(d, base[1], base[2]) for d in (64, 128, 256, 512, 1024)]
    points += [(base[0], n, base[2]) for n in (16, 64, 256, 1024, 2048)]
    points += [(base[0], base[1], dh) for dh in (16, 32, 128)]
    return points + [(512, 1024, 128), (64, 2048, 16)]


def sweep_config(d, n, dh, causal, folder):
    vocab, layers = 256, 1
    per_sequence = 3 * n * (layers * (24 * d * d + 4 * n * d) + 2 * d * vocab)
    batch = max(1, min(256, round(4e9 / per_sequence)))
    name = "d%d_n%d_dh%d%s" % (d, n, dh, "_causal" if causal else "")
    path = os.path.join(folder, name + ".json")
    with open(path, "w") as f:
        json.dump({"model": {"vocab": vocab, "seq_len": n, "d_model": d, "heads": d // dh, "layers": layers,
                             "causal": causal}, "train": {"batch": batch, "lr": 0.001, "seed": 0}}, f)
    return name, path, batch


def sweep(args, qkv_bench, torch_envs, peak):
    folder = os.path.join(ROOT, args.build, "sweep")
    os.makedirs(folder, exist_ok=True)
    rows, points = [], []
    for d, n, dh in sweep_points():
        for causal in (False, True):
            name, path, batch = sweep_config(d, n, dh, causal, folder)
            (qt, q, _), (tt, tl, kernels) = measure(path, args, qkv_bench, torch_envs, ["--warmup", "2"])
            ratio, gflop = q["median_ms"] / tl["median_ms"], q["flops"] / 1e9
            qkv_at_peak = q["flops"] / (q["median_ms"] * 1e6) / peak[qt]
            rows.append("| %d | %d | %d | %d | %s | %d | %.2f | %.2f (%d) | %.2f (%d, %s) | %.2f | %.1f%% | %s |" % (
                d, n, dh, d // dh, "yes" if causal else "no", batch, gflop, q["median_ms"], qt, tl["median_ms"], tt,
                kernels, ratio, 100 * qkv_at_peak, verdict(ratio, qkv_at_peak)))
            points.append((gflop, ratio, causal))
            print("measured", name, file=sys.stderr)
    print("Sweep: one block, vocab 256, each side at its best thread count (%s) and PyTorch at its fastest correct "
          "kernels; FMA peak %s\n" % (", ".join(map(str, args.threads)),
                                             ", ".join("%.0f GFLOP/s at %d thread(s)" % (peak[t], t) for t in args.threads)))
    print("| d_model | N | d_head | heads | causal | batch | GFLOP per step | qkv ms (threads) "
          "| PyTorch ms (threads, kernels) | qkv / PyTorch | qkv % of peak | target |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.plot:
        plot(points, folder, os.path.join(ROOT, args.plot))


def plot(points, folder, png):
    data = os.path.join(folder, "sweep.dat")
    with open(data, "w") as f:
        for causal in (False, True):
            f.write("".join("%g %g\n" % (g, r) for g, r, c in sorted(points) if c == causal) + "\n\n")
    script = "\n".join([
        "set terminal pngcairo size 800,500", "set output '%s'" % png, "set logscale x",
        "set xlabel 'GFLOP per training step'", "set ylabel 'qkv time / PyTorch time'",
        # Up to 1.2, or above the slowest point: a point slower than PyTorch must show.
        "set yrange [0:%g]" % max(1.2, 1.1 * max(r for _, r, _ in points)),
        "set key top left", "set grid",
        "plot '%s' index 0 with points pt 7 title 'unmasked', '' index 1 with points pt 5 title 'causal', "
        "0.5 with lines dt 2 title 'target 0.5', 0.7 with lines dt 3 title 'ceiling 0.7', "
        "1 with lines lc rgb 'black' title 'PyTorch'" % data])
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print("\nplot: %s" % os.path.relpath(png, ROOT))


def bf16_speedups(args, qkv_bench):
    """qkv's bf16 training steps against its own float32 ones: no PyTorch. Each process
    alternates the two step by step (qkv_bench --against-float32), so a busy host slows
    both sides of a pair alike; the row gives the run whose paired speed-up is the median."""
    chosen = [w for w in WORKLOADS if w.endswith(".json") and (not args.only or workload_name(w) in args.only)]
    print("| workload | threads | float32 ms | bf16 ms | bf16 speed-up (every run) | products | attention products |")
    print("|---|---|---|---|---|---|---|")
    for workload in chosen:
        for t in args.threads:
            lines = []
            for _ in range(args.processes):
                lines += run([qkv_bench, workload, "--precision", "bf16", "--against-float32", "--threads", str(t),
                              "--repeats", str(args.repeats)], dict(os.environ))
            lines.sort(key=lambda line: line["speedup_paired"])
            mid = lines[len(lines) // 2]
            print("| %s | %d | %.1f | %.1f | %.2fx (%s) | %s | scores %s, heads %s |" % (
                workload_name(workload), t, mid["float32_median_ms"], mid["median_ms"], mid["speedup_paired"],
                ", ".join("%.2f" % line["speedup_paired"] for line in lines), mid["products"],
                mid["attention_products"]["scores"], mid["attention_products"]["heads"]))
            sys.stdout.flush()


def cpu_description():
    """The CPU the tables were measured on, as /proc/cpuinfo names it: every table is one
    CPU's, and a figure tuned on one CPU says nothing of another."""
    fields, processors = {}, 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                processors += key == "processor"
                fields.setdefault(key, value.strip())
    except OSError as e:
        return "unknown (%s)" % e
    flags = set(fields.get("flags", "").split())
    vector = [flag for flag in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return "%s (vendor %s, family %s, model %s; %d logical CPUs; %s)" % (
        fields.get("model name", "unknown model"), fields.get("vendor_id", "?"), fields.get("cpu family", "?"),
        fields.get("model", "?"), processors, " ".join(vector) or "no AVX2")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--processes", type=int, help="fresh processes per side and thread count (3; --sweep: 1)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, help="timed steps per process (20; --sweep: 5)")
    p.add_argument("--sweep", action="store_true", help="the grid of shapes instead of the named workloads")
    p.add_argument("--only", nargs="+", metavar="WORKLOAD", help="just these named workloads (e.g. heads16 small)")
    p.add_argument("--plot", default="docs/images/sweep_qkv_over_pytorch.png", help="--sweep: the PNG to draw")
    p.add_argument("--bf16", action="store_true",
                   help="qkv's bf16 steps against its float32 ones on the named workloads, no PyTorch")
    args = p.parse_args()
    args.processes = args.processes or (1 if args.sweep else 3)
    args.repeats = args.repeats or (5 if args.sweep else 20)
    qkv_bench = os.path.join(ROOT, args.build, "bench", "qkv_bench")
    print("CPU: %s\n" % cpu_description())
    if args.bf16:
        return bf16_speedups(args, qkv_bench)
    torch_envs = torch_environments()
    peak = {t: run([qkv_bench, "peak", "--threads", str(t)], dict(os.environ))[0]["gflops"] for t in args.threads}
    (sweep if args.sweep else workloads)(args, qkv_bench, torch_envs, peak)


if __name__ == "__main__":
    main()
