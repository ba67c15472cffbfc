#!/usr/bin/env bash
# Runs on a GPU machine, from the repository root, with dist/cuda/tsumugi (tools/cuda-build.sh)
# and PTB in $TSUMUGI_HOME (carried: the machine reaches no registry). Two measurements:
#   1. the same short `lm train` on PTB (400 batches of one epoch, 2 × 200, dropout 0.5, tied)
#      with --device cpu and --device cuda: validation perplexities to compare;
#   2. `lm train --preset better-rnnlm --device cuda`, the whole 40 epochs, then zaremba-small.
# Each run's log, metrics.jsonl and report.md are copied to $1 (default gpu-runs/).
set -uo pipefail
out=${1:-gpu-runs}
mkdir -p "$out"
nv=$(python3 -c "import nvidia, os; print(os.path.dirname(nvidia.__file__))" 2>/dev/null || true)
if [ -n "$nv" ]; then
    LD_LIBRARY_PATH=$(find "$nv" -maxdepth 3 -type d -name lib | tr '\n' ':')${LD_LIBRARY_PATH:-}
    export LD_LIBRARY_PATH
fi
bin=dist/cuda/tsumugi
runs=$(mktemp -d)
keep() { # name: copy what the run left
    cp "$runs/$1/metrics.jsonl" "$out/$1.metrics.jsonl" 2>/dev/null
    cp "$runs/$1/report.md" "$out/$1.report.md" 2>/dev/null
}
short="--preset better-rnnlm --hidden 200 --epochs 1 --max-batches 400"
for device in cpu cuda; do
    /usr/bin/time -f "%e s wall" $bin lm train $short --device $device --out "$runs/short-$device" 2>&1 | grep -v "^\s*$" | tail -4
done | tee "$out/short.log"
timeout "${BETTER_RNNLM_SECONDS:-420}" $bin lm train --preset better-rnnlm --device cuda --out "$runs/better-rnnlm" 2>&1 | tee "$out/better-rnnlm.log"
keep better-rnnlm
timeout 60 $bin lm train --preset zaremba-small --device cuda --out "$runs/zaremba-small" 2>&1 | tee "$out/zaremba-small.log"
keep zaremba-small
