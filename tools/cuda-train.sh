#!/usr/bin/env bash
# Runs on a GPU machine, from the repository root, with dist/cuda/tsumugi (tools/cuda-build.sh)
# and PTB in $TSUMUGI_HOME (carried: the machine reaches no registry).
#
#   tools/cuda-train.sh OUT [STAGE...]
#
# TSUMUGI_BIN names another binary (to try a stage on the CPU machine first).
#
# Stages (default: check parity better-rnnlm zaremba-small):
#   check          tsumugi device --check
#   parity         the same 600 batches of zaremba-small (no dropout, so both devices do the
#                  same arithmetic) with --device cpu and --device cuda: perplexities to compare
#                  (PARITY_LR overrides the preset's learning rate of 20, whose large steps
#                  magnify summation-order differences)
#   better-rnnlm   the whole 40 epochs on cuda
#   zaremba-small  the whole 13 epochs on cuda
#   variational    better-rnnlm with --variational --embedding-dropout 0.1 on cuda
#   classify       problem 77's batch sweep (SLP, batch 1 to 1024) on cpu and on cuda, then
#                  README's R8 MLP on both devices, each run's `classify eval` on its device:
#                  needs R8 and $TSUMUGI_HOME/r8-glove-100d.bin
#   reproducible   better-rnnlm's model (dropout, clipping) for 2 epochs of 300 batches on cuda,
#                  three times: plain, again, and killed halfway through epoch 2 then resumed
#                  (TSUMUGI_CRASH_IN_EPOCH=2): prints whether the three metrics.jsonl (without
#                  their seconds) and last checkpoints are the same bytes (REPRO_DEVICE=cpu and
#                  REPRO_BATCHES=10 try it on the CPU)
#   eval           after zaremba-small in the same call: `lm eval` and `lm generate` of that run
#                  on cpu and on cuda (the same perplexity to the digits shown; the same text
#                  unless a sample falls within rounding of a boundary)
#   finetune       the pre-training article's recipe at its own sizes (LSTM 512) on cuda: the
#                  language model on sentiment's texts, then the classifier at 1,000 texts
#                  from it and from scratch (seed 0)
# tools/cuda-data.py writes PTB, R8, sentiment and the R8 vectors into the carried folder.
# Each run's log is copied to OUT, and but for the parity runs its metrics.jsonl and report.md.
set -uo pipefail
out=${1:-gpu-runs}
shift || true
stages=${*:-check parity better-rnnlm zaremba-small}
mkdir -p "$out"
source "$(dirname "$0")/cuda-env.sh"
bin=${TSUMUGI_BIN:-dist/cuda/tsumugi}
runs=$(mktemp -d)
train() { # name seconds args...: one lm train run; its log kept, and with KEEP=1 its files
    local name=$1 seconds=$2
    shift 2
    timeout "$seconds" $bin lm train --out "$runs/$name" "$@" 2>&1 | tee "$out/$name.log"
    if [ "${KEEP:-1}" = 1 ]; then
        cp "$runs/$name/metrics.jsonl" "$out/$name.metrics.jsonl" 2>/dev/null
        cp "$runs/$name/report.md" "$out/$name.report.md" 2>/dev/null
    fi
}
for stage in $stages; do
    case $stage in
    check) $bin device --check 2>&1 | tee "$out/check.log" ;;
    parity)
        for device in cpu cuda; do
            KEEP=0 train "parity-$device${PARITY_LR:+-lr$PARITY_LR}" 120 --preset zaremba-small --epochs 1 --max-batches 600 \
                ${PARITY_LR:+--lr $PARITY_LR} --device $device
        done
        ;;
    better-rnnlm) train better-rnnlm "${BETTER_RNNLM_SECONDS:-420}" --preset better-rnnlm --device cuda ;;
    zaremba-small) train zaremba-small 60 --preset zaremba-small --device cuda ;;
    variational)
        train variational "${BETTER_RNNLM_SECONDS:-420}" --preset better-rnnlm --variational \
            --embedding-dropout 0.1 --device cuda
        ;;
    classify)
        vectors=$TSUMUGI_HOME/r8-glove-100d.bin
        for device in cpu cuda; do
            timeout 120 $bin classify sweep-batch --vectors "$vectors" --device $device \
                --out "$runs/sweep-$device" 2>&1 | tee "$out/sweep-$device.log"
            timeout 240 $bin classify train --vectors "$vectors" --device $device --json \
                --out "$runs/r8-$device" 2>"$out/r8-$device.log" | tee "$out/r8-$device.json"
            cp "$runs/r8-$device/metrics.jsonl" "$out/r8-$device.metrics.jsonl" 2>/dev/null
            timeout 60 $bin classify eval --run "$runs/r8-$device" --device $device 2>&1 | tee -a "$out/r8-$device.log"
        done
        ;;
    reproducible)
        repro() { # name [env...]: one short better-rnnlm run on cuda
            local name=$1
            shift
            env "$@" timeout 120 $bin lm train --preset better-rnnlm --epochs 2 \
                --max-batches "${REPRO_BATCHES:-300}" --device "${REPRO_DEVICE:-cuda}" --out "$runs/$name" \
                >"$out/$name.log" 2>&1
        }
        repro repro-a
        repro repro-b
        repro repro-cut TSUMUGI_CRASH_IN_EPOCH=2
        timeout 120 $bin lm train --out "$runs/repro-cut" --resume >>"$out/repro-cut.log" 2>&1
        for name in repro-a repro-b repro-cut; do
            printf '%s: metrics %s checkpoint %s\n' "$name" \
                "$(sed 's/"seconds":[0-9.e+-]*//g' "$runs/$name/metrics.jsonl" | sha256sum | cut -c1-16)" \
                "$(sha256sum <"$runs/$name/checkpoints/last.safetensors" | cut -c1-16)"
        done | tee "$out/reproducible.txt"
        ;;
    eval)
        for device in cpu cuda; do
            {
                timeout 60 $bin lm eval --run "$runs/zaremba-small" --device $device
                timeout 60 $bin lm generate --run "$runs/zaremba-small" --prompt "you say" --words 30 \
                    --temperature 0.8 --seed 1 --device $device
            } 2>&1 | tee "$out/eval-$device.log"
        done
        ;;
    finetune)
        timeout "${PRETRAIN_SECONDS:-300}" $bin finetune pretrain --device cuda --epochs 20 --patience 3 \
            --out "$runs/lm" 2>&1 | tee "$out/finetune-lm.log"
        for arm in scratch pretrained; do
            from=""
            [ $arm = pretrained ] && from="--from $runs/lm"
            timeout 120 $bin finetune train --device cuda --train-size 1000 $from --json \
                --out "$runs/ft-$arm" 2>"$out/finetune-$arm.log" | tee "$out/finetune-$arm.json"
            cp "$runs/ft-$arm/metrics.jsonl" "$out/finetune-$arm.metrics.jsonl" 2>/dev/null
        done
        ;;
    *) echo "unknown stage $stage" ;;
    esac
done
