"""Reference outputs for tsumugi's fine-tuning classifier (models/lstm_classifier.rs) from
torch.nn (dev-only; tests never run it).

nn.Embedding -> nn.LSTM (one layer) over texts padded after their ends -> pooling over each
text's real steps -> nn.Linear, with no dropout:
- "binary_mean": two classes, one logit, masked mean pooling, BCEWithLogitsLoss (mean);
- "three_concat": three classes, ULMFiT's concat pooling [last, max, mean], CrossEntropyLoss.
Records weights under tsumugi's names (encoder.*, rnn.*, fc.*), the texts, labels, logits,
loss and every gradient in tests/fixtures/lstm_classifier_reference.json.

    ~/peers/bin/python tools/gen_lstm_classifier_reference.py
"""

import json
import pathlib

import torch

V, E, H = 11, 5, 6
TEXTS = [[3, 1, 4, 1, 5], [9], [2, 6, 5, 3, 5, 8], [7, 10]]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


def case(seed, classes, pool, labels):
    torch.manual_seed(seed)
    emb = torch.nn.Embedding(V, E)
    lstm = torch.nn.LSTM(E, H)
    width = H if pool == "mean" else 3 * H
    fc = torch.nn.Linear(width, 1 if classes == 2 else classes)
    T, B = max(len(t) for t in TEXTS), len(TEXTS)
    tokens = torch.zeros(T, B, dtype=torch.long)
    for b, t in enumerate(TEXTS):
        tokens[: len(t), b] = torch.tensor(t)
    lengths = torch.tensor([len(t) for t in TEXTS])
    mask = (torch.arange(T)[:, None] < lengths[None, :]).float()  # [T, B]
    out, _ = lstm(emb(tokens))  # [T, B, H]
    mean = (out * mask[:, :, None]).sum(0) / lengths[:, None]
    if pool == "mean":
        pooled = mean
    else:
        last = out[lengths - 1, torch.arange(B)]
        mx = out.masked_fill(mask[:, :, None] == 0, float("-inf")).max(0).values
        pooled = torch.cat([last, mx, mean], 1)
    logits = fc(pooled)
    y = torch.tensor(labels)
    if classes == 2:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    else:
        loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    named = {
        "encoder.weight": emb.weight,
        "rnn.weight_ih_l0": lstm.weight_ih_l0,
        "rnn.weight_hh_l0": lstm.weight_hh_l0,
        "rnn.bias_ih_l0": lstm.bias_ih_l0,
        "rnn.bias_hh_l0": lstm.bias_hh_l0,
        "fc.weight": fc.weight,
        "fc.bias": fc.bias,
    }
    return {
        "classes": classes,
        "pool": pool,
        "labels": labels,
        "logits": flat(logits),
        "loss": float(loss.detach()),
        "weights": {n: flat(p) for n, p in named.items()},
        "grads": {n: flat(p.grad) for n, p in named.items()},
    }


fixture = {
    "torch": torch.__version__,
    "sizes": {"vocab": V, "embed": E, "hidden": H},
    "texts": TEXTS,
    "cases": {
        "binary_mean": case(1, 2, "mean", [1, 0, 0, 1]),
        "three_concat": case(2, 3, "concat", [2, 0, 1, 2]),
    },
}
path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "lstm_classifier_reference.json"
path.write_text(json.dumps(fixture) + "\n")
print(f"wrote {path}")
