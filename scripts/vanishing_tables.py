#!/usr/bin/env python3
"""Prints README's vanishing tables from a run folder of the vanishing experiment
(probe.csv, training_cells.csv), every number to 3 significant digits as report.md gives them.

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
    cells = {(int(r["d_k"]), r["variant"]): r for r in rows(f"{run_dir}/training_cells.csv")}
    interval = lambda c: f"{c['runs_reaching_90']} of {c['runs']} [{sig(c['wilson95_low'])}, {sig(c['wilson95_high'])}]"
    steps = lambda c: "never" if c["runs_reaching_90"] == "0" else \
        f"{sig(c['step_90_median'])} ({sig(c['step_90_q1'])}-{sig(c['step_90_q3'])})"
    final = lambda c: f"{sig(c['final_accuracy_median'])} ({sig(c['final_accuracy_min'])}-{sig(c['final_accuracy_max'])})"
    print("| d_k | reaching 90%, scaled [95% Wilson] | unscaled | step reaching 90%, median (quartiles), scaled "
          "| unscaled | final accuracy, median (range), scaled | unscaled |")
    print("|---|---|---|---|---|---|---|")
    d_ks = sorted({d for (d, _) in cells})
    for d in d_ks:
        s, u = cells[(d, "scaled")], cells[(d, "unscaled")]
        print(f"| {d} | {interval(s)} | {interval(u)} | {steps(s)} | {steps(u)} | {final(s)} | {final(u)} |")
    print()
    sweeps = sorted({v for (_, v) in cells if v.startswith("unscaled lr=")}, key=lambda v: v)
    print("| unscaled, reaching 90% | " + " | ".join(f"d_k = {d}" for d in d_ks) + " |")
    print("|---|" + "---|" * len(d_ks))
    for v in ["unscaled"] + sweeps:
        label = "lr 0.001 (the scaled runs')" if v == "unscaled" else v.replace("unscaled lr=", "lr ")
        print(f"| {label} | " + " | ".join(interval(cells[(d, v)]) for d in d_ks) + " |")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/vanishing")
