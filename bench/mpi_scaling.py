#!/usr/bin/python3
"""Data-parallel scaling of a training step on this machine, and what it predicts for more.

    python3 bench/mpi_scaling.py [--build build] [--config configs/bench/medium.json] [--processes 3]

Runs BUILD/bench/qkv_bench on CONFIG as one rank with 1 and with 2 OpenMP threads, and as
`mpirun -np 2` with 1 thread per rank (the same global batch, half on each rank), each in
--processes fresh processes, keeping the best median step time. Prints a Markdown table of
the measurements (step time, tokens/s, time in MPI_Allreduce and bytes reduced per step),
then a table *predicted* from them for P machines like this one, one rank of 2 threads
each, joined by a network of a given bandwidth:

    step(P) = compute / P + ring allreduce,  ring allreduce = 2 (P - 1) / P * bytes / bandwidth

where compute is the measured 1-rank, 2-thread step and bytes the measured bytes per step.
It ignores latency (a few buckets per step: microseconds against milliseconds) and assumes
the batch splits evenly (P divides train.batch).
"""
import argparse
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# OpenMPI refuses root and more ranks than cores unless told; MPICH ignores these.
OPENMPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
               "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def best_of(command, processes, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **OPENMPI_ENV)
    runs = []
    for _ in range(processes):
        out = subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["median_ms"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--config", default="configs/bench/medium.json")
    parser.add_argument("--processes", type=int, default=3)
    args = parser.parse_args()
    bench = [os.path.join(args.build, "bench", "qkv_bench"), args.config, "--warmup", "2", "--repeats", "10"]
    setups = [("1 rank, 1 thread", [], 1), ("1 rank, 2 threads", [], 2), ("2 ranks, 1 thread each", ["mpirun", "-np", "2"], 1)]
    results = [(name, best_of(launcher + bench + ["--threads", str(threads)], args.processes, threads))
               for name, launcher, threads in setups]
    base = results[0][1]["median_ms"]
    print(f"Measured: {args.config}, {results[0][1]['parameters']} parameters, best median of {args.processes} processes\n")
    print("| setup | step ms | tokens/s | speed-up | MPI_Allreduce ms/step | MB reduced/step |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results:
        print(f"| {name} | {r['median_ms']:.1f} | {r['tokens_per_s']:.0f} | {base / r['median_ms']:.2f} | "
              f"{r['allreduce_ms_per_step']:.2f} | {r['allreduce_bytes_per_step'] / 1e6:.1f} |")

    compute = results[1][1]["median_ms"]
    megabytes = results[2][1]["allreduce_bytes_per_step"] / 1e6
    print(f"\nPredicted: P machines of {compute:.0f} ms per step each (1 rank, 2 threads), {megabytes:.1f} MB reduced per step\n")
    print("| network | " + " | ".join(f"P={p} step ms (speed-up)" for p in (2, 4, 8)) + " |")
    print("|---|" + "---:|" * 3)
    for name, megabytes_per_s in (("1 Gbit/s", 125), ("10 Gbit/s", 1250), ("100 Gbit/s", 12500)):
        cells = []
        for p in (2, 4, 8):
            step = compute / p + 2 * (p - 1) / p * megabytes / megabytes_per_s * 1e3
            cells.append(f"{step:.0f} ({compute / step:.2f}x)")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
