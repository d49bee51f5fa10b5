#!/usr/bin/env python3
"""T5's relative position buckets, for tests/layers/relative_bias_test.cpp.

The function is T5's _relative_position_bucket as in HuggingFace transformers
(models/t5/modeling_t5.py, T5Attention._relative_position_bucket), copied verbatim in
substance. Run it and paste the printed rows into the C++ test.
"""
import math

import torch


def _relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1)
    )
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


positions = torch.tensor([-300, -128, -127, -100, -64, -40, -20, -16, -9, -8, -7, -1, 0,
                          1, 5, 7, 8, 9, 15, 16, 17, 33, 64, 100, 127, 128, 200])
for bidirectional, num_buckets, max_distance in [(True, 32, 128), (False, 32, 128), (True, 8, 20)]:
    buckets = _relative_position_bucket(positions, bidirectional, num_buckets, max_distance)
    print(f"{{{str(bidirectional).lower()}, {num_buckets}, {max_distance}, "
          f"{{{', '.join(map(str, positions.tolist()))}}}, {{{', '.join(map(str, buckets.tolist()))}}}}},")
