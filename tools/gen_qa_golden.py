"""Reference features for `tsumugi qa features`: what the CNN-on-LUKE article's loop computes with
transformers 4.57 on the tiny mLUKE multiple-choice fixture (`tests/fixtures/luke/
sentencepiece_choice_safetensors`), for every `--pool`, `--choices` and a few `--layer` values.

Writes `tests/fixtures/qa/jcqa.json` (JCommonsenseQA's JSON-lines format, questions of different
lengths so padding differs per question) and `tests/fixtures/qa/features_golden.json`.

Dev-only, same set-up as gen_luke_sentencepiece_golden.py:

    PYTHONPATH=TF457 python tools/gen_qa_golden.py
"""

import json
import os

import torch
from transformers import LukeForMultipleChoice, MLukeTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "tests", "fixtures", "luke", "sentencepiece_choice_safetensors")
OUT = os.path.join(HERE, "..", "tests", "fixtures", "qa")

ROWS = [
    ("本を置く場所はどこですか？", ["図書館", "本棚", "鞄の中", "大阪の大学", "ルーク"], 1),
    ("東京は何ですか", ["日本の首都", "川", "大学に通った花子", "本", "犬"], 0),
    ("太郎が所属しているのは？", ["慶應義塾大学", "京都", "図書館の本棚の鞄の中の本", "首都", "言語モデル"], 0),
    ("ルークはどんなモデル？", ["エンティティを扱う言語モデルです", "本", "大阪", "川", "東京"], 0),
]
LAYERS = [-2, -1, 0, 1]


def pool(h, mask, how):
    """h [C, L, H], mask [C, L] -> [C, H]."""
    if how == "padded-mean":
        return h.mean(dim=1)
    if how == "mean":
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(dim=1) / m.sum(dim=1)
    return h[:, 0, :]


def main():
    tok = MLukeTokenizer.from_pretrained(MODEL)
    model = LukeForMultipleChoice.from_pretrained(MODEL).eval()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "jcqa.json"), "w", encoding="utf-8") as f:
        for i, (q, choices, label) in enumerate(ROWS):
            row = {"q_id": 100 + i, "question": q}
            row.update({f"choice{k}": c for k, c in enumerate(choices)})
            row["label"] = label
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    golden = {"layers": LAYERS, "questions": []}
    for q, choices, label in ROWS:
        enc = tok([q] * len(choices), choices, padding=True, return_tensors="pt")
        with torch.no_grad():
            # The article's call: (1, C, L) ids and mask into the multiple-choice model.
            out = model(enc["input_ids"].unsqueeze(0), enc["attention_mask"].unsqueeze(0), output_hidden_states=True)
        entry = {"label": label, "logits": [round(float(x), 7) for x in out.logits[0]], "features": {}}
        for layer in LAYERS:
            h = out.hidden_states[layer]  # [C, L, H]
            for how in ["padded-mean", "mean", "cls"]:
                p = pool(h, enc["attention_mask"], how)
                entry["features"][f"{layer}/{how}"] = [[round(float(x), 7) for x in r] for r in p]
        golden["questions"].append(entry)
    with open(os.path.join(OUT, "features_golden.json"), "w") as f:
        json.dump(golden, f)


if __name__ == "__main__":
    main()
