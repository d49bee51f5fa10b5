#!/usr/bin/python3
"""PyTorch eager baseline for examples/bench_train_step.cpp: the same model (embedding,
sinusoidal positions, 2 pre-LN blocks with one attention head of width d_k and a ReLU
feed-forward of 128, final LayerNorm, per-token head), the same reverse task sizes
(seq_len 9, vocab 12, batch 32), cross-entropy over the answer positions and Adam 1e-3.
Prints the median wall time of a training step. Run with Debian's python3-torch:

    /usr/bin/python3 bench/torch_train_step.py --threads 1
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=300)
p.add_argument("--warmup", type=int, default=30)
p.add_argument("--d-k", type=int, default=64)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--threads", type=int, default=0)
args = p.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)

SEQ, VOCAB, D, FF = 9, 12, 64, 128
L = (SEQ - 1) // 2  # source symbols, then SEP, then L answers


class Block(nn.Module):
    def __init__(self, d_k):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.q, self.k, self.v = nn.Linear(D, d_k), nn.Linear(D, d_k), nn.Linear(D, d_k)
        self.out = nn.Linear(d_k, D)
        self.ff1, self.ff2 = nn.Linear(D, FF), nn.Linear(FF, D)
        self.scale = 1 / math.sqrt(d_k)

    def forward(self, x):
        h = self.norm1(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        w = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        x = x + self.out(w @ v)
        return x + self.ff2(F.relu(self.ff1(self.norm2(x))))


class Model(nn.Module):
    def __init__(self, d_k):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        pos = torch.arange(SEQ).unsqueeze(1)
        div = torch.exp(torch.arange(0, D, 2) * (-math.log(10000.0) / D))
        pe = torch.zeros(SEQ, D)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe)
        self.blocks = nn.ModuleList([Block(d_k), Block(d_k)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB)

    def forward(self, tokens):
        x = self.embed(tokens) + self.pe
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))


def batch(n):
    src = torch.randint(2, VOCAB, (n, L))
    tokens = torch.cat([src, torch.ones(n, 1, dtype=torch.long), torch.zeros(n, L, dtype=torch.long)], 1)
    targets = torch.full((n, SEQ), -100)
    targets[:, L + 1:] = src.flip(1)
    return tokens, targets


model = Model(args.d_k)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
times = []
for step in range(args.warmup + args.steps):
    start = time.perf_counter()
    tokens, targets = batch(args.batch)
    loss = F.cross_entropy(model(tokens).reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-100)
    opt.zero_grad()
    loss.backward()
    opt.step()
    elapsed = (time.perf_counter() - start) * 1e3
    if step >= args.warmup:
        times.append(elapsed)
times.sort()
print(f"torch {torch.__version__} train step: d_k {args.d_k}, batch {args.batch}, {torch.get_num_threads()} threads, "
      f"{args.steps} steps: median {statistics.median(times):.3f} ms "
      f"(p10 {times[len(times) // 10]:.3f}, p90 {times[len(times) * 9 // 10]:.3f})")
