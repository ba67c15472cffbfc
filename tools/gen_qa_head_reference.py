"""Reference outputs for the `qa train` heads (src/models/qa_head.rs): the article's CNN
(shrunk: an 8×12 image, 4 and 6 channels, fc1 of 16; and a 9×12 image with 8 and 16 channels,
whose second convolution tsumugi's CPU computes by Winograd's F(2×2, 3×3)) and the scorer, built from torch.nn with
random weights and batch-norm statistics, on random features and labels.

For each head it records the weights, one training-mode forward (logits, mean cross-entropy),
every gradient of that loss, the running statistics after it, and an evaluation-mode forward
with those statistics.

Dev-only:  ~/peers/bin/python tools/gen_qa_head_reference.py
"""

import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "qa_head_reference.json")


class Cnn(nn.Module):
    """The article's network with its sizes as parameters."""

    def __init__(self, rows, cols, c1, c2, width, options):
        super().__init__()
        self.rows, self.cols = rows, cols
        self.conv1 = nn.Conv2d(1, c1, 3, 1)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, 1)
        self.bn2 = nn.BatchNorm2d(c2)
        self.pool = nn.MaxPool2d(2, 2)
        self.flat = c2 * ((rows - 4) // 2) * ((cols - 4) // 2)
        self.bn3 = nn.BatchNorm1d(self.flat)
        self.fc1 = nn.Linear(self.flat, width)
        self.bn4 = nn.BatchNorm1d(width)
        self.fc2 = nn.Linear(width, options)

    def forward(self, x):
        x = x.reshape(-1, 1, self.rows, self.cols)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.pool(x).view(-1, self.flat)
        x = self.bn3(x)
        x = F.relu(self.fc1(x))
        x = self.bn4(x)
        return self.fc2(x)


class Scorer(nn.Module):
    def __init__(self, hidden, width):
        super().__init__()
        self.fc1 = nn.Linear(hidden, width)
        self.fc2 = nn.Linear(width, 1)

    def forward(self, x):  # [N, C, H] -> [N, C]
        return self.fc2(F.relu(self.fc1(x))).squeeze(-1)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def record(name, model, config, x, labels):
    g = torch.Generator().manual_seed(len(name))
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif key.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) * 0.3)
    weights = {k: flat(v) for k, v in model.state_dict().items() if v.is_floating_point()}
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    case = {
        "config": config,
        "features": flat(x),
        "labels": labels.tolist(),
        "weights": weights,
        "train_logits": flat(logits),
        "train_loss": float(loss),
        "grads": {k: flat(p.grad) for k, p in model.named_parameters()},
        "running_after": {k: flat(v) for k, v in model.state_dict().items() if "running" in k},
    }
    model.eval()
    with torch.no_grad():
        logits = model(x)
        case["eval_logits"] = flat(logits)
        case["eval_loss"] = float(F.cross_entropy(logits, labels))
    return case


def main():
    torch.manual_seed(0)
    n, options = 16, 5
    cnn = Cnn(8, 12, 4, 6, 16, options)
    cnn_cfg = {"kind": "cnn", "choices": 1, "hidden": 96, "options": options, "width": 16, "image": [8, 12], "channels": [4, 6]}
    x = torch.randn(n, 1, 96)
    labels = torch.tensor([0, 3, 1, 4, 2, 0, 1, 1, 3, 4, 2, 2, 0, 3, 4, 1])
    cases = {"cnn": record("cnn", cnn, cnn_cfg, x, labels)}
    scorer = Scorer(10, 7)
    scorer_cfg = {"kind": "scorer", "choices": options, "hidden": 10, "options": options, "width": 7, "image": [0, 0], "channels": [0, 0]}
    cases["scorer"] = record("scorer", scorer, scorer_cfg, torch.randn(n, options, 10), labels)
    # 8 → 16 channels, which tsumugi's CPU convolves by Winograd's F(2×2, 3×3); a 9×12 image,
    # so the second convolution's 5×8 output has an odd height and the pool drops a row
    wide = Cnn(9, 12, 8, 16, 16, options)
    wide_cfg = {"kind": "cnn", "choices": 1, "hidden": 108, "options": options, "width": 16, "image": [9, 12], "channels": [8, 16]}
    cases["cnn_winograd"] = record("cnn_winograd", wide, wide_cfg, torch.randn(n, 1, 108), labels)
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)


if __name__ == "__main__":
    main()
