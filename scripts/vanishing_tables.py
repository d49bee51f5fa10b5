#!/usr/bin/env python3
"""Prints README's two vanishing tables from a run folder of the vanishing experiment
(probe.csv, training.csv), every number to 3 significant digits as report.md gives them.

    python3 scripts/vanishing_tables.py runs/vanishing
"""
import csv
import math
import sys


def sig(x, digits=3):
    """A number as the report prints it (report_number in experiments/table.h): 3
    significant digits, large numbers in plain digits (3650, not 3.65e+03)."""
    x = float(x)
    if abs(x) >= 10 ** digits:
        unit = 10 ** (math.floor(math.log10(abs(x))) - digits + 1)
        return str(int(round(x / unit) * unit))
    return f"{x:.{digits}g}"


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(run_dir):
    probe = {(r["scorer"], int(r["d_k"])): r for r in rows(f"{run_dir}/probe.csv")}
    d_ks = sorted({d for (_, d) in probe})
    n_max = float(next(iter(probe.values()))["max_entropy"])
    print("| d_k | score std scaled / unscaled (theory 1 / sqrt(d_k)) | entropy scaled / unscaled "
          f"(max ln 16 = {sig(n_max)}) | softmax Jacobian norm scaled / unscaled | dead rows scaled / unscaled "
          "| grad W_Q scaled / unscaled |")
    print("|---|---|---|---|---|---|")
    for d in d_ks:
        s, u = probe[("scaled_dot", d)], probe[("dot", d)]
        pair = lambda key: f"{sig(s[key])} / {sig(u[key])}"
        print(f"| {d} | {pair('score_std')} (1 / {sig(math.sqrt(d))}) | {pair('entropy')} | "
              f"{pair('jacobian_norm')} | {pair('dead_rows')} | {pair('grad_W_Q')} |")
    print()
    training = rows(f"{run_dir}/training.csv")
    print("| d_k | scaled: final accuracy (step reaching 90%) per seed | unscaled: final accuracy (step reaching 90%) "
          "per seed | unscaled: final dead rows per seed |")
    print("|---|---|---|---|")
    for d in sorted({int(r["d_k"]) for r in training}):
        of = lambda scaling: [r for r in training if int(r["d_k"]) == d and r["scaling"] == scaling]
        runs = lambda scaling: ", ".join(f"{sig(r['final_accuracy'])} ({r['step_reaching_90']})" for r in of(scaling))
        dead = ", ".join(sig(r["final_dead_fraction"]) for r in of("unscaled"))
        print(f"| {d} | {runs('scaled')} | {runs('unscaled')} | {dead} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/vanishing")
