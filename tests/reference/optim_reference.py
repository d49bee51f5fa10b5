#!/usr/bin/python3
"""PyTorch reference for tests/grad/optim_reference_test.cpp.

Deterministic inputs (from sin/cos, so the C++ side makes the same numbers without sharing
a random generator), a fixed loss of two parameters, and for each optimiser configuration
five torch.optim steps in float64; also clip_grad_norm_ of the first gradients and the
rates of three lr_scheduler classes. Everything goes to optim_reference.json. Run with
Debian's python3-torch:  /usr/bin/python3 tests/reference/optim_reference.py
"""
import json
import math
import pathlib

import torch

torch.set_default_dtype(torch.float64)
STEPS = 5


def filled(shape, fn):
    n = math.prod(shape)
    return torch.tensor([fn(i) for i in range(n)]).reshape(shape)


def initial_parameters():
    w = filled([3, 4], lambda i: math.sin(0.7 * i + 0.3)).requires_grad_()
    v = filled([4], lambda i: math.cos(1.3 * i) * 0.5).requires_grad_()
    return w, v


X = filled([2, 3], lambda i: math.cos(0.9 * i - 0.4) * 1.5)


def loss_of(w, v):
    # The quadratic term keeps the gradient of w changing from step to step even where
    # tanh saturates; v's gradient comes through tanh only.
    return torch.tanh(X @ w + v).pow(2).sum() + 0.5 * w.pow(2).sum()


# (name, torch.optim class, keyword options). The option names are torch's; the C++ test
# maps each one to the matching qkv option and refuses names it does not know.
CONFIGS = [
    ("sgd", "SGD", {"lr": 0.1}),
    ("sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd_dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
    ("sgd_nesterov", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd_weight_decay", "SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
    ("adam", "Adam", {"lr": 0.05}),
    ("adam_amsgrad", "Adam", {"lr": 0.05, "betas": [0.8, 0.95], "amsgrad": True}),
    ("adam_weight_decay", "Adam", {"lr": 0.05, "weight_decay": 0.1, "eps": 1e-3}),
    ("adamw", "AdamW", {"lr": 0.05, "betas": [0.85, 0.7], "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", "RMSprop", {"lr": 0.01}),
    ("rmsprop_centered_momentum", "RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5}),
    ("rmsprop_weight_decay", "RMSprop", {"lr": 0.01, "weight_decay": 0.1}),
    ("adagrad", "Adagrad", {"lr": 0.1}),
    ("adagrad_lr_decay", "Adagrad", {"lr": 0.1, "lr_decay": 0.2}),
    ("adagrad_initial_accumulator", "Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.05}),
]


def trajectory(kind, options):
    w, v = initial_parameters()
    opt = getattr(torch.optim, kind)([w, v], **options)
    history = {"w": [], "v": []}
    for _ in range(STEPS):
        opt.zero_grad()
        loss_of(w, v).backward()
        opt.step()
        history["w"].append(w.detach().flatten().tolist())
        history["v"].append(v.detach().flatten().tolist())
    return history


optimisers = []
for name, kind, options in CONFIGS:
    optimisers.append({"name": name, "optimizer": kind, "options": options, **trajectory(kind, options)})

# Each option must change the trajectory, or matching PyTorch with it proves nothing:
# dropping any one option (the rate aside, and options another one needs, such as
# Nesterov's momentum) moves the final parameters.
def final(kind, options):
    h = trajectory(kind, options)
    return h["w"][-1] + h["v"][-1]


for o in optimisers:
    for key in o["options"]:
        if key == "lr":
            continue
        without = {k: x for k, x in o["options"].items() if k != key}
        try:
            changed = final(o["optimizer"], without)
        except ValueError:  # torch refuses the rest without this option
            continue
        gap = max(abs(a - b) for a, b in zip(changed, o["w"][-1] + o["v"][-1]))
        print(f"{o['name']:28} without {key:26} moves by {gap:.2e}")
        assert gap > 1e-4, f"{o['name']}: dropping {key} moves the parameters by only {gap}"

# clip_grad_norm_ of the first gradients (at the initial parameters).
clips = []
for norm_type in [2.0, 3.0, math.inf]:
    w, v = initial_parameters()
    loss_of(w, v).backward()
    total = torch.nn.utils.clip_grad_norm_([w, v], max_norm=0.5, norm_type=norm_type)
    assert total > 0.5, "the gradients must be large enough to be clipped"
    clips.append({
        "norm_type": "inf" if math.isinf(norm_type) else norm_type,
        "max_norm": 0.5,
        "total_norm": total.item(),
        "grad_w": w.grad.flatten().tolist(),
        "grad_v": v.grad.flatten().tolist(),
    })


# Learning rates of the schedulers, stepped as in training (one scheduler.step() per
# update): entry i is the rate of update i, which is qkv's schedule at step i.
def rates(make, steps):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


schedules = [
    {"kind": "step", "step_size": 3, "gamma": 0.5, "base_lr": 0.1,
     "lr": rates(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 13)},
    {"kind": "exponential", "gamma": 0.9, "base_lr": 0.1,
     "lr": rates(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), 13)},
    # Steps 0..t_max only: after t_max PyTorch's rate climbs back up (a cosine with period
    # 2 t_max) while qkv's CosineSchedule stays at eta_min, as docs/optim.md says.
    {"kind": "cosine", "t_max": 10, "eta_min": 0.01, "base_lr": 0.1,
     "lr": rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 11)},
    # WarmupSchedule has no torch.optim counterpart with the same rates (LinearLR +
    # SequentialLR starts the warm-up at a chosen factor rather than at 1/warmup_steps and
    # switches schedulers one step differently), so it is not compared here.
]

out = {
    "steps": STEPS,
    "optimizers": optimisers,
    "clip_grad_norm": clips,
    "schedules": schedules,
    "torch_version": torch.__version__,
}
path = pathlib.Path(__file__).with_name("optim_reference.json")
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"{len(optimisers)} optimiser configurations, {len(clips)} clips, {len(schedules)} schedules; wrote {path}")
