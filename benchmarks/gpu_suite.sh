#!/usr/bin/env bash
# The torch tests and benchmarks on the CPU and, where there is one, on CUDA, in one go.
#
#   benchmarks/gpu_suite.sh            # the full suite: under 8 minutes on a CUDA machine
#   benchmarks/gpu_suite.sh --quick    # small sizes, one test file (a first look on any machine)
#   benchmarks/gpu_suite.sh --no-tests # the benchmarks only
#
# Steps, each under its own time limit (240 + 175 + 55 s: under 8 minutes in all):
#   1. pytest -m "torch and not slow" (the torch tests; with --quick only tests/test_bench_ergonomics.py);
#   2. benchmarks/gpu_table.py: HVP cost, sharpness tracking, training steps/s and a flow on
#      an MLP, each on the CPU and on CUDA, printed side by side;
#   3. benchmarks/bench_threads.py --quick: HVPs with 1, 2, 4, ... CPU threads (the CPU
#      thread default of eostheory.torch comes from this measurement).
# Without CUDA the CUDA column is a dash and the script says CUDA is absent; it exits 0 when
# every step that ran succeeded, 1 otherwise.  PYTHON picks the interpreter (default python).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
QUICK=""
TESTS=1
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK="--quick" ;;
        --no-tests) TESTS=0 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "gpu_suite.sh: unknown option $arg (use --quick, --no-tests)" >&2; exit 2 ;;
    esac
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export EOSTHEORY_QUIET=1 MPLBACKEND=Agg
# the kernel cache is the usual one (EOSTHEORY_CACHE_DIR or the default): a second run is warm
T0=$(date +%s)
FAILED=0
status=()

if ! "$PY" -c "import torch, sklearn" 2>/dev/null; then
    echo "gpu_suite.sh: torch and scikit-learn are needed: pip install -e '.[torch,dev]'" >&2
    exit 1
fi
"$PY" - <<'PY'
import os, torch
cuda = torch.cuda.is_available()
name = torch.cuda.get_device_name(0) if cuda else "absent"
print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, CUDA: {name}")
PY

step() {  # step NAME LIMIT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    local t=$(date +%s)
    echo
    echo "== $name (limit ${limit} s)"
    timeout "$limit" "$@"
    local rc=$?
    local dt=$(( $(date +%s) - t ))
    if [ $rc -eq 0 ]; then
        status+=("$name: ok in ${dt} s")
    else
        [ $rc -eq 124 ] && status+=("$name: TIMED OUT after ${dt} s") || status+=("$name: FAILED (exit $rc) in ${dt} s")
        FAILED=1
    fi
}

if [ $TESTS -eq 1 ]; then
    if [ -n "$QUICK" ]; then
        step "torch tests (quick: tests/test_bench_ergonomics.py)" 120 "$PY" -m pytest -q -p no:cacheprovider tests/test_bench_ergonomics.py
    else
        step "torch tests (-m 'torch and not slow')" 240 "$PY" -m pytest -q -p no:cacheprovider --durations=5 -m "torch and not slow" tests
    fi
fi
step "benchmarks: CPU and CUDA side by side" 175 "$PY" benchmarks/gpu_table.py $QUICK --timeout 85
NT=$("$PY" -c "import os; n=os.cpu_count() or 1; print(','.join(str(t) for t in [1, 2, 4, 8, 16, 32] if t <= n))")
step "CPU threads (HVPs)" 55 "$PY" benchmarks/bench_threads.py --quick --threads "$NT"

echo
echo "== summary ($(( $(date +%s) - T0 )) s in all)"
for s in "${status[@]}"; do echo "  $s"; done
exit $FAILED
