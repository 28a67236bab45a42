#!/usr/bin/env python3
"""Time one step of PyTorch's CPU optimizers, to set beside ndarray-optim's criterion numbers.

One contiguous f32 parameter of n elements, its gradient fixed beforehand (outside the timing),
one thread, the same hyperparameters as benches/peers/benches/peers.rs. Each case takes one
untimed step first (state allocated), then `torch.utils.benchmark.Timer.blocked_autorange` runs
`opt.step()` repeatedly; the median over blocks is reported (µs per step).

    python benches/peers/pytorch_bench.py                      # table on stdout
    python benches/peers/pytorch_bench.py --json out.json      # and JSON for run.sh
    python benches/peers/pytorch_bench.py --sizes 1000 100000  # a subset
    python benches/peers/pytorch_bench.py --only Adam SGD      # optimizers whose name starts so

Usually run through benches/peers/run.sh, which merges the JSON into one table.
"""

import argparse
import json
import math
import platform
import sys

import torch
import torch.utils.benchmark as benchmark

SIZES = [1_000, 100_000, 1_000_000, 10_000_000]


def cases():
    """(key, label, constructor): `key` is the optimizer's key in peers.rs (what ours is compared
    with), `label` is how the row reads. Hyperparameters as in peers.rs."""
    o = torch.optim
    return [
        ("Adam", "Adam(fused=True)", lambda ps: o.Adam(ps, lr=1e-3, fused=True)),
        ("Adam", "Adam (default: foreach=False)", lambda ps: o.Adam(ps, lr=1e-3, foreach=False)),
        ("AdamW", "AdamW(fused=True)", lambda ps: o.AdamW(ps, lr=1e-3, fused=True)),
        ("AdamW", "AdamW (default)", lambda ps: o.AdamW(ps, lr=1e-3, foreach=False)),
        ("SGD", "SGD(fused=True)", lambda ps: o.SGD(ps, lr=1e-3, fused=True)),
        ("SGD", "SGD (default)", lambda ps: o.SGD(ps, lr=1e-3, foreach=False)),
        (
            "SGD-momentum",
            "SGD(momentum=0.9, fused=True)",
            lambda ps: o.SGD(ps, lr=1e-3, momentum=0.9, fused=True),
        ),
        (
            "SGD-momentum",
            "SGD(momentum=0.9) (default)",
            lambda ps: o.SGD(ps, lr=1e-3, momentum=0.9, foreach=False),
        ),
        ("RMSprop", "RMSprop (default)", lambda ps: o.RMSprop(ps, lr=1e-2, foreach=False)),
        ("Adagrad", "Adagrad(fused=True)", lambda ps: o.Adagrad(ps, lr=1e-2, fused=True)),
        ("Adagrad", "Adagrad (default)", lambda ps: o.Adagrad(ps, lr=1e-2, foreach=False)),
        ("Adadelta", "Adadelta (default)", lambda ps: o.Adadelta(ps, lr=1.0, foreach=False)),
    ]


def data(n, seed):
    """sin(i * 0.00037 + seed), as `data` in peers.rs."""
    i = torch.arange(n, dtype=torch.float64)
    return torch.sin(i * 0.000_37 + seed).to(torch.float32)


def time_step(make, n, min_run_time):
    p = torch.nn.Parameter(data(n, 0.0))
    p.grad = data(n, 1.0) * 1e-3
    opt = make([p])
    opt.step()  # state allocated outside the timing, as in peers.rs
    timer = benchmark.Timer(stmt="opt.step()", globals={"opt": opt}, num_threads=1)
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return m.median, m.iqr, len(m.times), m.number_per_run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--only", nargs="+", help="labels starting with any of these")
    ap.add_argument(
        "--min-run-time",
        type=float,
        default=None,
        help="seconds of timing per case (default: 1 below 1e6 elements, 3 from 1e6)",
    )
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)

    selected = [
        c for c in cases() if not args.only or any(c[1].startswith(s) for s in args.only)
    ]
    results = []
    for key, label, make in selected:
        for n in args.sizes:
            run_time = args.min_run_time or (3.0 if n >= 1_000_000 else 1.0)
            median, iqr, runs, per_run = time_step(make, n, run_time)
            results.append(
                {
                    "key": key,
                    "label": label,
                    "n": n,
                    "median_us": median * 1e6,
                    "iqr_us": iqr * 1e6,
                    "blocks": runs,
                    "steps_per_block": per_run,
                }
            )
            print(
                f"{label:34s} n={n:>9,d}  {median * 1e6:12.1f} µs  "
                f"(IQR {iqr * 1e6:.1f}, {runs} blocks × {per_run})",
                file=sys.stderr,
                flush=True,
            )

    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "dtype": "float32",
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=1)

    sizes = args.sizes
    print(f"PyTorch {meta['torch']}, {meta['threads']} thread, {meta['cpu_capability']}, µs/step")
    print("| optimizer | " + " | ".join(f"n = {n:.0e}" for n in sizes) + " |")
    print("|---|" + "--:|" * len(sizes))
    for _, label, _ in selected:
        row = {r["n"]: r["median_us"] for r in results if r["label"] == label}
        cells = [f"{row[n]:,.1f}" if n in row and math.isfinite(row[n]) else "—" for n in sizes]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
