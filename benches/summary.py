#!/usr/bin/env python3
"""Summarise `cargo bench --bench step` into the README's performance tables.

Reads criterion's `target/criterion/**/<baseline>/estimates.json` (median point estimates;
`<baseline>` is `new` unless `--baseline NAME` names a run saved with `--save-baseline NAME`)
and prints Markdown: time per step, throughput, and the fraction of each optimizer's bandwidth
bound at n = 1e7 (bytes the step must move / the machine's bandwidth measured in the same run
by the `copy` group); each optimizer against its plain-loop baseline, and the cost of the
non-finite check; with `--pytorch FILE` (written by benches/peers/pytorch_bench.py), PyTorch's
rows beside ours. Only the Python standard library is needed.

    cargo bench --bench step && python3 benches/summary.py
    NDARRAY_OPTIM_SIMD=avx2 cargo bench --bench step -- --save-baseline avx2
    python3 benches/summary.py --baseline avx2 --pytorch pytorch.json
"""
import argparse
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
    "Rprop": 28,
}


def checked(name):
    """Whether the step reads the gradients once more for the non-finite check: not unchecked,
    and not LAMB, whose global gradient norm is the check."""
    return name not in ("Adam-unchecked", "Lamb")


def step_names():
    """Every optimizer the bench measured: those of `BYTES` in its order, then any other (an
    optimizer added to the crate after this table was written, printed without a bound)."""
    found = sorted(p.name[len("step_f32_"):] for p in ROOT.glob("step_f32_*") if p.is_dir())
    return [name for name in BYTES if name in found] + [n for n in found if n not in BYTES]


RUN = "new"  # the criterion baseline read; set by --baseline


def median(*parts):
    path = ROOT.joinpath(*parts, RUN, "estimates.json")
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]  # nanoseconds


def fmt_time(ns):
    if ns is None:
        return "–"
    if ns < 1e3:
        return f"{ns / 1e3:.2f}"
    return f"{ns / 1e3:,.1f}" if ns < 1e5 else f"{ns / 1e3:,.0f}"


def vs_baseline():
    """Every `vs-baseline` case: ours (unchecked) against the plain loop, and the check's cost."""
    cases = sorted(p.name[len("vs-baseline_"):] for p in ROOT.glob("vs-baseline_*") if p.is_dir())
    order = list(BYTES) + ["RMSprop-centered-momentum"]
    cases.sort(key=lambda c: order.index(c) if c in order else len(order))
    print("\n| optimizer | ours 1e5 µs | plain loop 1e5 µs | ratio 1e5 | ours 1e7 µs | plain loop 1e7 µs | ratio 1e7 | checked / unchecked 1e7 |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for case in cases:
        cells = []
        for n in (100_000, 10_000_000):
            ours = median(f"vs-baseline_{case}", "ours", str(n))
            base = median(f"vs-baseline_{case}", "baseline", str(n))
            cells += [fmt_time(ours), fmt_time(base), f"{ours / base:.2f}×" if ours and base else "–"]
        ours = median(f"vs-baseline_{case}", "ours", "10000000")
        checked = median(f"vs-baseline_{case}", "ours-checked", "10000000")
        cells.append(f"{checked / ours:.2f}×" if ours and checked else "–")
        print(f"| {case} | " + " | ".join(cells) + " |")


def pytorch(path):
    """PyTorch's rows (pytorch_bench.py's JSON) beside ours, f32, one thread."""
    doc = json.loads(pathlib.Path(path).read_text())
    meta = doc["meta"]
    print(f"\nPyTorch {meta['torch'].split('+')[0]} ({meta['threads']} thread, kernels {meta['cpu_capability']}) against ours, µs per step:\n")
    print("| | 1e3 | 1e5 | 1e6 | 1e7 |")
    print("|---|--:|--:|--:|--:|")
    ours_rows = {
        "Adam": [("checked", "step_f32_Adam"), ("unchecked", "step_f32_Adam-unchecked")],
        "AdamW": [("checked", "step_f32_AdamW")],
        "SGD": [("checked", "step_f32_SGD")],
        "Adagrad": [("checked", "step_f32_Adagrad")],
        "RMSprop": [("checked", "step_f32_RMSprop")],
        "Adadelta": [("checked", "step_f32_Adadelta")],
    }
    labels = {}
    for r in doc["results"]:
        labels.setdefault((r["key"], r["label"]), {})[r["n"]] = r["median_us"] * 1e3
    for key, rows in ours_rows.items():
        for tag, group in rows:
            cells = [fmt_time(median(group, str(n))) for n in SIZES]
            print(f"| **{key}**, ndarray-optim, {tag} | " + " | ".join(cells) + " |")
        for (k, label), times in labels.items():
            if k == key:
                print(f"| {key}, PyTorch `{label}` | " + " | ".join(fmt_time(times.get(n)) for n in SIZES) + " |")
    print("\n| ndarray-optim (checked) / PyTorch fused, speedup | 1e3 | 1e5 | 1e6 | 1e7 |")
    print("|---|--:|--:|--:|--:|")
    for key in ["Adam", "AdamW", "SGD", "Adagrad"]:
        fused = next((t for (k, l), t in labels.items() if k == key and "fused=True" in l), None)
        if not fused:
            continue
        for tag, group in ours_rows[key]:
            cells = []
            for n in SIZES:
                ours = median(group, str(n))
                cells.append(f"{fused[n] / ours:.2f}×" if ours and n in fused else "–")
            print(f"| {key}, {tag} | " + " | ".join(cells) + " |")


def main():
    global RUN
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="new", help="criterion baseline (--save-baseline NAME)")
    ap.add_argument("--pytorch", help="JSON of benches/peers/pytorch_bench.py, same sitting")
    args = ap.parse_args()
    RUN = args.baseline
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

    vs_baseline()
    if args.pytorch:
        pytorch(args.pytorch)

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

    print("\n| rayon: 1 thread → 2 threads | 1e5 | 1e6 | 1e7 | 1e7 unchecked | model |")
    print("|---|--:|--:|--:|--:|--:|")
    for name in ["SGD", "Adam", "Lamb"]:
        cells = []
        for case in ["100000", "1000000", "10000000", "10000000-unchecked", "model"]:
            one, two = median(f"threads_{name}", case, "1"), median(f"threads_{name}", case, "2")
            cells.append(f"{one / 1e3:,.0f} → {two / 1e3:,.0f} µs ({one / two:.2f}×)" if one and two else "–")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
