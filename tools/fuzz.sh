#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one after another, from
# seeds made of the test fixtures, and prints each target's executions and what it found.
#
#   tools/fuzz.sh [SECONDS]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); it runs on the stable toolchain through
# RUSTC_BOOTSTRAP=1. A crash leaves its input in fuzz/artifacts/TARGET/; keep it as a regression
# test under tests/ once fixed. Corpora grow in fuzz/corpus/ (ignored by git) across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "tools/fuzz.sh needs cargo-fuzz: cargo install cargo-fuzz" >&2; exit 2; }
cargo fuzz build -O

cut=$'\n--8<--\n'
luke=tests/fixtures/luke
seed() { # target name: stdin becomes one seed input
    mkdir -p "fuzz/corpus/$1"
    cat >"fuzz/corpus/$1/seed-$2"
}
join_files() { # dir file...: the files joined by the cut line, a missing one as an empty part
    local dir=$1 first=1
    shift
    for f in "$@"; do
        [ $first = 1 ] || printf '%s' "$cut"
        first=0
        cat "$dir/$f" 2>/dev/null || true
    done
}
# the weight files are small ones written by torch.save and by hand (fuzz/seeds/): the
# fixtures' 150 kB files would slow every execution tenfold
seed torch_zip tiny <fuzz/seeds/torch_zip.bin
seed safetensors tiny <fuzz/seeds/checkpoint.safetensors
{ cat "$luke/sentencepiece_pair_safetensors/sentencepiece.bpe.model"; printf '%sHello, Tokyo! ｱｲｳ ABC' "$cut"; } |
    seed sentencepiece model
for dir in pair_dense_bin sequence_bin; do
    join_files "$luke/$dir" tokenizer_config.json vocab.json merges.txt entity_vocab.json tokenizer.json \
        added_tokens.json | seed tokenizer_files "$dir"
done
printf '\x04\x40\x02\x00\x07\x11\x1cBeyonce lives in Los Angeles.' | seed luke_encode pair
printf '\x03\x10\x01\x00\x05Tokyo is big' | seed luke_encode entity
for dir in "$luke"/*/; do seed luke_config "$(basename "$dir")" <"$dir/config.json"; done
printf '2 3\nthe 0.1 0.2 0.3\na 1 2 3\n' | seed word_vectors text
printf '2 2\nthe \x00\x00\x80\x3f\x00\x00\x00\x40\na \x00\x00\x80\x3f\x00\x00\x00\x40\n' | seed word_vectors bin
printf '{"dimensions":2,"vectors":{"the":[0.1,0.2,0.22,0],"a":[1,2,2.2,1]}}' | seed wink small
printf '1\tFed raises rates\thttp://a.example/1\tReuters\tb\tddUy\ta.example\t1394470370698\n' | seed labelled_text news
printf 'acq\tshares rose\nearn\tprofit fell\n' | seed labelled_text tsv
seed jsonl_inputs jcqa <tests/fixtures/qa/jcqa.json
printf '{"text": "Beyonce lives in Los Angeles.", "spans": [[0, 7], [17, 28]], "label": 1}\n' | seed jsonl_inputs luke
printf '\x02{"epoch":1,"valid_loss":1.0}\n{"epoch":2,"valid_loss":0.5}\n{"epoch":3' | seed metrics_resume cut

# The targets run as built above, so edits to the sources meanwhile change nothing.
bins=fuzz/target/x86_64-unknown-linux-gnu/release
export ASAN_OPTIONS=detect_odr_violation=0
mkdir -p fuzz/logs
printf '%-16s %12s %8s  %s\n' target executions seconds findings
status=0
for target in $(cargo fuzz list); do
    log=fuzz/logs/$target.log
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    if "$bins/$target" -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$seconds" \
        -print_final_stats=1 "fuzz/corpus/$target" >"$log" 2>&1; then
        found=none
    else
        found="CRASH: see $log and fuzz/artifacts/$target/"
        status=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    printf '%-16s %12s %8s  %s\n' "$target" "$runs" "$seconds" "$found"
done
exit $status
