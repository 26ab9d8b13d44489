#!/usr/bin/env bash
# Every GPU check of the throughput goal (issue 14, item 4) in one call, for a lent H200.
#
# The device machine has torch, lightning, numba and scipy but not librosa or soundfile:
# fetch their wheels here first with `bash scripts/gpu_wheels.sh`, then, through the
# device tool, run with `.whl` carried:
#
#     bash benchmarks/gpu_session.sh            # on the GPU; the log is $OUT/gpu_session.log
#
# On CPU the same script runs small, as a check that it works before device time is spent:
#
#     WHEELS=0 DEVICE=cpu BATCH=64 PITCHES=3 DURATION=1 THREADS=1 PY=.venv/bin/python bash benchmarks/gpu_session.sh
#
# Each of the five steps is bounded by STEP_S seconds (default 110), so one slow step
# cannot eat the lease and the script ends within one 10-minute device call (5 x 110 s
# plus the set-up); run it with timeout_s 600. Its length on an H200 is not measured yet.
set -uo pipefail
DEVICE=${DEVICE:-gpu}
BATCH=${BATCH:-4096}
PITCHES=${PITCHES:-36}
DURATION=${DURATION:-4}
STEP_S=${STEP_S:-110}
THREADS=${THREADS:-4}
PY=${PY:-python3}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
LOG="$OUT/gpu_session.log"
: >"$LOG"

if [ "${WHEELS:-1}" = 1 ] && compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "gpu_session: the wheels in .whl did not install" >&2; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

step() {  # step LABEL COMMAND...: run one bounded step, its output to the terminal and the log
    local label=$1; shift
    printf '\n=== %s: %s\n' "$label" "$*" | tee -a "$LOG"
    local t0=$SECONDS
    timeout "$STEP_S" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    printf '=== %s: rc %s, %s s\n' "$label" "$rc" "$((SECONDS - t0))" | tee -a "$LOG"
}

"$PY" -c "import librosa, soundfile, lightning, torch, move; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    2>&1 | tee -a "$LOG" || { echo "gpu_session: missing packages (bash scripts/gpu_wheels.sh, carry .whl)" >&2; exit 1; }
[ "$DEVICE" = gpu ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$LOG"

SPEED=("$PY" benchmarks/train_speed.py --device "$DEVICE" --presets small --batch-size "$BATCH"
       --pitches "$PITCHES" --duration "$DURATION" --epochs 3 --no-transfer --threads "$THREADS")
step "step phases and variants" "$PY" benchmarks/profile_step.py --device "$DEVICE" --preset small \
    --batch "$BATCH" --top 12 --threads "$THREADS"
step "trainer, eager" "${SPEED[@]}" --compile off
step "trainer, eager, sub-pixel" "${SPEED[@]}" --compile off --subpixel
step "trainer, reduce-overhead" "${SPEED[@]}" --compile reduce-overhead
step "trainer, reduce-overhead, sub-pixel" "${SPEED[@]}" --compile reduce-overhead --subpixel
echo "gpu_session: done, log in $LOG"
