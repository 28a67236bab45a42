#!/usr/bin/env bash
# ndarray-optim against burn, candle-nn, optirs-core and PyTorch: time per optimizer step, one
# Markdown table.
#
#   PYTHON=/work/pyenv/bin/python benches/peers/run.sh   # with PyTorch (a Python that has torch)
#   benches/peers/run.sh                                  # Rust only
#
# Environment:
#   PYTHON            a Python with torch: runs pytorch_bench.py (left out when unset)
#   CARGO_TARGET_DIR  build directory (default: benches/peers/target)
#   OUT               where results go (default: benches/peers/results)
#   FILTER            criterion filter, e.g. 'Adam/' (default: everything)
#   PT_ARGS           extra arguments for pytorch_bench.py, e.g. '--only Adam --sizes 1000'
#
# Writes $OUT/peers.md (the table), $OUT/peers.json (merged medians), $OUT/pytorch.json and
# $OUT/criterion.log, and prints the table. Takes ~25 minutes on 2 cores, after the first build
# (~15 minutes). Run it on an otherwise idle machine: the load is printed before and after.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
out="${OUT:-$here/results}"
mkdir -p "$out"

# One thread for every library: rayon (burn, candle), candle's own pool, OpenMP/MKL (PyTorch,
# which also calls torch.set_num_threads(1)).
export RAYON_NUM_THREADS=1 CANDLE_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

report_python="$(command -v python3 || true)"
report_python="${report_python:-${PYTHON:-}}"
if [[ -z "$report_python" ]]; then
  echo "run.sh: needs python3 (or PYTHON) to merge the results" >&2
  exit 1
fi

machine() {
  lscpu | grep -E '^(Model name|CPU family|L1d cache|L2 cache|L3 cache|CPU\(s\)):' | sed 's/  */ /g'
  echo "Vector extensions: $(grep -m1 -owE 'avx2|fma|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
}

{
  echo "Machine:"
  machine
  if rev="$(git -C "$here" rev-parse --short HEAD 2>/dev/null)"; then
    dirty="$(git -C "$here/../.." status --porcelain -- src Cargo.toml | wc -l)"
    echo "ndarray-optim: commit $rev ($dirty uncommitted changes under src/, Cargo.toml)"
  fi
  echo "Load before: $(uptime)"
} | tee "$out/machine.txt" >&2

cd "$here"
echo "Building (cargo bench --no-run, target $CARGO_TARGET_DIR)..." >&2
cargo bench --bench peers --no-run

since="$(date +%s)"
echo "Timing ndarray-optim and the Rust peers (criterion)..." >&2
# shellcheck disable=SC2086
cargo bench --bench peers -- ${FILTER:-} 2>&1 | tee "$out/criterion.log" >&2

pytorch_json=()
if [[ -n "${PYTHON:-}" ]]; then
  echo "Timing PyTorch with $PYTHON..." >&2
  # shellcheck disable=SC2086
  "$PYTHON" "$here/pytorch_bench.py" --json "$out/pytorch.json" ${PT_ARGS:-} >&2
  pytorch_json=(--pytorch "$out/pytorch.json")
else
  echo "PYTHON not set: PyTorch left out (PYTHON=/path/to/python-with-torch $0)" >&2
fi

echo "Load after: $(uptime)" >>"$out/machine.txt"

"$report_python" "$here/report.py" \
  --criterion "$CARGO_TARGET_DIR/criterion" --since "$since" \
  --lock "$here/Cargo.lock" --json "$out/peers.json" "${pytorch_json[@]}" >"$out/peers.md"
echo
cat "$out/machine.txt"
echo
cat "$out/peers.md"
