#!/usr/bin/env python3
"""Summarise `cargo bench --bench step` into the README's performance tables.

Reads criterion's `target/criterion/**/new/estimates.json` (median point estimates) and prints
Markdown: time per step, throughput, and the fraction of each optimizer's bandwidth bound at
n = 1e7 (bytes the step must move / the machine's bandwidth measured in the same run by the
`copy` group). Only the Python standard library is needed.

    cargo bench --bench step && python3 benches/summary.py
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
SIZES = [1_000, 100_000, 1_000_000, 10_000_000]

# Bytes an f32 step must move per element (reads + writes of parameter, gradient and state),
# without the default non-finite check, which reads the gradient once more (+4).
BYTES = {
    "SGD": 12, "Momentum": 20, "Nesterov": 20, "Adagrad": 20, "RMSprop": 20, "Adadelta": 28,
    "Adam": 28, "Adam-unchecked": 28, "AMSGrad": 36, "AdamW": 28, "NAdam": 28, "RAdam": 28,
    "Adamax": 28, "Lion": 20,
    # LAMB: the global gradient norm (g), moments and norms in one pass (g, m, v, p; m, v),
    # then the step (p, m, v; p).
    "Lamb": 44,
}


def checked(name):
    return name != "Adam-unchecked"


def step_names():
    """Every optimizer the bench measured: those of `BYTES` in its order, then any other (an
    optimizer added to the crate after this table was written, printed without a bound)."""
    found = sorted(p.name[len("step_f32_"):] for p in ROOT.glob("step_f32_*") if p.is_dir())
    return [name for name in BYTES if name in found] + [n for n in found if n not in BYTES]


def median(*parts):
    path = ROOT.joinpath(*parts, "new", "estimates.json")
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]  # nanoseconds


def fmt_time(ns):
    if ns is None:
        return "–"
    if ns < 1e3:
        return f"{ns / 1e3:.2f}"
    return f"{ns / 1e3:,.1f}" if ns < 1e5 else f"{ns / 1e3:,.0f}"


def main():
    if not ROOT.exists():
        sys.exit("no criterion results: run `cargo bench --bench step` first")
    # Bandwidth: the faster of memcpy and the in-place stream at 1e7 (8 bytes per element each).
    n = 10_000_000
    copies = [median("copy", kind, str(n)) for kind in ("memcpy", "scale-in-place")]
    if not any(copies):
        sys.exit("no `copy` results at 1e7: run the whole `cargo bench --bench step` first")
    bandwidth = max(8 * n / t for t in copies if t)  # bytes per ns = GB/s
    print(f"Bandwidth (1e7 f32, best of memcpy / in-place stream): {bandwidth:.1f} GB/s\n")

    print("| optimizer | 1e3 µs | 1e5 µs | 1e6 µs | 1e7 µs | G elem/s at 1e5 | bytes/elem | % of bound at 1e7 |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for name in step_names():
        times = [median(f"step_f32_{name}", str(size)) for size in SIZES]
        if times[-1] is None:
            continue
        rate = f"{1e5 / times[1]:.2f}" if times[1] else "–"
        cells = " | ".join(fmt_time(t) for t in times)
        check = " (+4 check)" if checked(name) else ""
        bytes_ = BYTES.get(name)
        if bytes_ is None:  # not in the table yet: no bound
            print(f"| {name} | {cells} | {rate} | ?{check} | – |")
            continue
        moved = bytes_ + (4 if checked(name) else 0)
        bound = moved * n / bandwidth
        print(f"| {name} | {cells} | {rate} | {bytes_}{check} | {100 * bound / times[-1]:.0f}% |")

    print("\n| f64 / f32 time | 1e3 | 1e5 | 1e6 | 1e7 |")
    print("|---|--:|--:|--:|--:|")
    for name in ["SGD", "Adam", "Lamb"]:
        ratios = []
        for size in SIZES:
            a, b = median(f"step_f64_{name}", str(size)), median(f"step_f32_{name}", str(size))
            ratios.append(f"{a / b:.2f}" if a and b else "–")
        print(f"| {name} | " + " | ".join(ratios) + " |")

    print("\n| 200 tensors (~5 M elements) vs one flat tensor | 200 tensors µs | flat µs | ratio |")
    print("|---|--:|--:|--:|")
    for name in ["SGD", "Adam", "Lamb"]:
        many, flat = median("model", f"200-tensors_{name}"), median("model", f"flat_{name}")
        if many and flat:
            print(f"| {name} | {many / 1e3:,.0f} | {flat / 1e3:,.0f} | {many / flat:.2f} |")

    print("\n| rayon: 1 thread → 2 threads | 1e5 | 1e6 | 1e7 | model |")
    print("|---|--:|--:|--:|--:|")
    for name in ["SGD", "Adam", "Lamb"]:
        cells = []
        for case in ["100000", "1000000", "10000000", "model"]:
            one, two = median(f"threads_{name}", case, "1"), median(f"threads_{name}", case, "2")
            cells.append(f"{one / 1e3:,.0f} → {two / 1e3:,.0f} µs ({one / two:.2f}×)" if one and two else "–")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
