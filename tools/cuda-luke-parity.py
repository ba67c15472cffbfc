"""LUKE on the GPU against LUKE on the CPU, on every checkpoint in tests/fixtures/luke.

Run on a GPU machine from the repository root: `python3 tools/cuda-luke-parity.py BIN`, BIN a
tsumugi built with the `cuda` feature (tools/cuda-build.sh). For each fixture it runs
`luke encode --json --all-layers` over a few padded examples (every hidden state of every layer,
words and entities) with `--device cpu` and with `--device cuda`, and prints the largest |Δ|
between the two. It exits 1 when a difference passes 1e-4 or a run fails.
"""

import json
import os
import subprocess
import sys
import tempfile

FIXTURES = "tests/fixtures/luke"
ENGLISH = [
    ("Beyoncé lives in Los Angeles and sings.", [[0, 7], [17, 28]]),
    ("Tokyo is big, and Kyoto is old, and a much longer sentence follows.", [[0, 5], [18, 23]]),
]
JAPANESE = [
    ("東京は日本の首都です。", [[0, 2], [3, 5]]),
    ("大阪と京都", [[0, 2], [3, 5]]),
]


def spans_needed(model):
    """How many spans a checkpoint's task takes (0: any), from its head."""
    config = json.load(open(os.path.join(model, "config.json")))
    head = (config.get("architectures") or [""])[0]
    return {"LukeForEntityClassification": 1, "LukeForEntityPairClassification": 2}.get(head, 0)


def numbers(value, out):
    if isinstance(value, list):
        for v in value:
            numbers(v, out)
    elif isinstance(value, float):
        out.append(value)
    elif isinstance(value, dict):
        for k in sorted(value):
            numbers(value[k], out)
    return out


def encode(binary, model, inputs, device):
    run = subprocess.run(
        [binary, "luke", "encode", "--model", model, "--input", inputs, "--json", "--all-layers", "--device", device],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"{device}: {run.stderr.strip()}")
    return numbers([json.loads(line) for line in run.stdout.splitlines()], [])


def main():
    binary = sys.argv[1]
    worst_all, failed = 0.0, False
    for name in sorted(os.listdir(FIXTURES)):
        model = os.path.join(FIXTURES, name)
        texts = JAPANESE if name.startswith("sentencepiece") else ENGLISH
        n = spans_needed(model)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for text, spans in texts:
                f.write(json.dumps({"text": text, "spans": spans[: n or 2]}, ensure_ascii=False) + "\n")
            inputs = f.name
        try:
            cpu, cuda = encode(binary, model, inputs, "cpu"), encode(binary, model, inputs, "cuda")
        except RuntimeError as e:
            print(f"{name}: FAILED {e}")
            failed = True
            continue
        if len(cpu) != len(cuda):
            print(f"{name}: FAILED {len(cpu)} values on the CPU, {len(cuda)} on CUDA")
            failed = True
            continue
        worst = max(abs(a - b) for a, b in zip(cpu, cuda))
        worst_all = max(worst_all, worst)
        print(f"{name}: {len(cpu)} hidden-state values, max |Δ| CUDA vs CPU {worst:.2e}")
        failed |= worst > 1e-4
    print(f"LUKE encode, CUDA against the CPU over every fixture: max |Δ| {worst_all:.2e}, {'FAIL' if failed else 'ok'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
