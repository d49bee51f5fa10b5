#!/usr/bin/python3
"""PyTorch eager twin of bench/bench.cpp: the same workloads, the same JSON lines.

    /usr/bin/python3 bench/torch_bench.py WORKLOAD [--threads N] [--warmup N] [--repeats N]

WORKLOAD is matmul, attention, attention_weights, blas_check, or a config of configs/bench/ (the
benchmark model: token embedding plus sinusoidal positions, pre-LayerNorm blocks
x += MHA(LN(x)); x += FFN(LN(x)) with biased Q, K, V, O projections, scaled dot-product
attention, unmasked or causal (model.causal), FFN d -> 4d -> d with ReLU; final LayerNorm;
per-token linear head; mean cross-entropy against random targets; Adam 1e-3). Each line also
names the BLAS library the process loaded: a ratio against the reference BLAS is no baseline,
and bench/compare.py refuses it. blas_check times nothing: it computes float32 products of
the shapes the models use (plain and transposed operands) and prints their largest relative
difference from the same products in float64, so that a BLAS kernel forced by
OPENBLAS_CORETYPE is checked before it is timed.
"""
import argparse
import json
import math
import statistics
import time


def status_mb(field):
    """A memory figure of this process from /proc/self/status, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def rss_mb():
    """Resident memory now (VmRSS)."""
    return status_mb("VmRSS")


import torch  # noqa: E402 (imported here so that the baseline below is measured right after it)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

AFTER_IMPORT_MB = rss_mb()  # the interpreter, torch and its libraries: not the workload's memory


def loaded_blas():
    """The BLAS shared objects mapped into this process (after torch has used BLAS)."""
    names = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in path.lower() or "lapack" in path.lower() or "mkl" in path.lower():
                names.add(path)
    return sorted(names)


WARMUP_SECONDS = 1.0  # as bench/timing.h: a new process's threads may share a CPU at first


def time_it(warmup, repeats, step):
    start, runs = time.perf_counter(), 0
    while runs < warmup or time.perf_counter() - start < WARMUP_SECONDS:
        step()
        runs += 1
    ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        ms.append((time.perf_counter() - start) * 1e3)
    return statistics.median(ms), min(ms)


def peak_rss_mb():
    """Peak resident memory (VmHWM; ru_maxrss would include the parent's, inherited at exec)."""
    return status_mb("VmHWM")


class Block(nn.Module):
    def __init__(self, d, heads, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.ff1, self.ff2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, n, d = x.shape
        h = self.norm1(x)
        split = lambda t: t.view(b, n, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        s = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        if self.causal:  # query i sees keys j <= i only
            s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        w = torch.softmax(s, dim=-1)
        x = x + self.out((w @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class Model(nn.Module):
    def __init__(self, vocab, seq_len, d, heads, layers, causal):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        pos = torch.arange(seq_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        pe = torch.zeros(seq_len, d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe)
        self.blocks = nn.ModuleList([Block(d, heads, causal) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pe
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def training_step(config, warmup, repeats):
    with open(config) as f:
        c = json.load(f)
    m, t = c["model"], c["train"]
    torch.manual_seed(t["seed"])
    model = Model(m["vocab"], m["seq_len"], m["d_model"], m["heads"], m["layers"], m.get("causal", False))
    opt = torch.optim.Adam(model.parameters(), lr=t["lr"])
    model_mb = rss_mb()
    shape = (t["batch"], m["seq_len"])

    def step():
        tokens, targets = torch.randint(0, m["vocab"], shape), torch.randint(0, m["vocab"], shape)
        opt.zero_grad()
        loss = F.cross_entropy(model(tokens).reshape(-1, m["vocab"]), targets.reshape(-1))
        loss.backward()
        opt.step()

    median, best = time_it(warmup, repeats, step)
    tokens = t["batch"] * m["seq_len"]
    return [{"workload": config, "median_ms": median, "min_ms": best, "tokens_per_s": tokens / (median / 1e3),
             "parameters": sum(p.numel() for p in model.parameters()), "peak_rss_mb": peak_rss_mb(),
             "model_rss_mb": model_mb}]


def attention(warmup, repeats, workload):
    torch.manual_seed(0)
    q, k, v = (torch.randn(8, 8, 256, 64, requires_grad=True) for _ in range(3))
    g = torch.randn(8, 8, 256, 64)

    def step():
        for x in (q, k, v):
            x.grad = None
        out = torch.softmax(q @ k.transpose(-1, -2) / 8, dim=-1) @ v
        (out * g).sum().backward()

    median, best = time_it(warmup, repeats, step)
    return [{"workload": workload, "median_ms": median, "min_ms": best, "peak_rss_mb": peak_rss_mb()}]


def matmul(repeats):
    sizes = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (2048, 256, 256),
             (2048, 256, 1024), (2048, 1024, 256), (2048, 128, 128), (2048, 128, 512), (2048, 512, 128),
             (256, 64, 256)]
    torch.manual_seed(0)
    lines = []
    with torch.no_grad():
        for m, k, n in sizes:
            a, b = torch.randn(m, k), torch.randn(k, n)
            flops = 2.0 * m * k * n
            reps = max(5, int(repeats * 2e9 / flops / 10))
            median, _ = time_it(2, reps, lambda: a @ b)
            lines.append({"workload": "matmul", "m": m, "k": k, "n": n, "median_ms": median,
                          "gflops": flops / (median * 1e6)})
    return lines


def blas_check():
    torch.manual_seed(0)
    worst = 0.0
    for m, k, n in [(512, 384, 256), (2048, 128, 512), (333, 1000, 77), (64, 2048, 64)]:
        a, b = torch.randn(m, k), torch.randn(k, n)
        for x, y in [(a, b), (a.t().contiguous().t(), b), (a, b.t().contiguous().t())]:
            exact = x.double() @ y.double()
            worst = max(worst, ((x @ y).double() - exact).abs().max().item() / exact.abs().max().item())
    return [{"workload": "blas_check", "max_rel_diff": worst}]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("workload")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.workload == "blas_check":
        lines = blas_check()
    elif args.workload == "matmul":
        lines = matmul(args.repeats)
    elif args.workload in ("attention", "attention_weights"):
        # PyTorch's eager attention always materialises the weights: both of qkv's paths
        # (fused, and keeping the weights) are measured against the same script.
        lines = attention(args.warmup, args.repeats, args.workload)
    else:
        lines = training_step(args.workload, args.warmup, args.repeats)
    blas = loaded_blas()
    for line in lines:
        line.update({"threads": torch.get_num_threads(), "torch": torch.__version__, "blas": blas,
                     "baseline_rss_mb": AFTER_IMPORT_MB})
        print(json.dumps(line))


if __name__ == "__main__":
    main()
