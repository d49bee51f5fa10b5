#!/usr/bin/env python3
"""Trains every ready config of configs/ (those `train_tests "[configs]"` runs) in float32 and
in bf16 (train.precision), same seed, and prints the final held-out accuracy of each side by
side as a Markdown table (docs/precision.md).

  python3 scripts/bf16_accuracy.py [--steps N] [--train build/examples/train]

--steps shortens every run to N steps (default: each config's own train.steps)."""
import argparse
import json
import pathlib
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The experiment programs' configs, which the trainer does not run (tests/train/train_test_util.h).
EXPERIMENT_CONFIGS = {"vanishing.json", "vanishing_full.json", "position.json", "scorers.json",
                      "scale_alternatives.json", "stability.json"}


def final_eval(metrics):
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    evals = [r for r in rows if "eval_accuracy" in r]
    return evals[-1]["eval_accuracy"], evals[-1]["eval_loss"]


def train(binary, config, precision, steps, out_dir):
    sets = [f"train.precision={precision}", f"train.out_dir={out_dir}", "train.plots=false",
            "train.checkpoint_interval=0"]
    if steps:
        sets += [f"train.steps={steps}", f"train.eval_interval={steps}"]
        if "warmup" in json.loads(config.read_text()).get("schedule", {}).get("name", ""):
            sets.append(f"schedule.warmup_steps={min(100, steps // 10)}")
    command = [str(binary), str(config)]
    for s in sets:
        command += ["--set", s]
    start = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return (*final_eval(pathlib.Path(out_dir) / "metrics.jsonl"), time.monotonic() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--train", default=str(ROOT / "build/examples/train"))
    args = parser.parse_args()
    configs = sorted(p for p in (ROOT / "configs").glob("*.json") if p.name not in EXPERIMENT_CONFIGS)
    print("| config | float32 accuracy | bf16 accuracy | float32 loss | bf16 loss | float32 s | bf16 s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for config in configs:
            results = {p: train(args.train, config, p, args.steps, f"{scratch}/{config.stem}_{p}")
                       for p in ("float32", "bf16")}
            f, b = results["float32"], results["bf16"]
            print(f"| {config.stem} | {f[0]:.4f} | {b[0]:.4f} | {f[1]:.4f} | {b[1]:.4f} | {f[2]:.1f} | {b[2]:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
