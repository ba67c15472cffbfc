"""Reference outputs for tsumugi's LSTM layer from torch.nn.LSTM (dev-only; tests never run it).

A 2-layer nn.LSTM (input 3, hidden 4) over T=5, B=2 with a non-zero initial state; the loss is
sum(outputs * r) for a fixed r. Records weights, inputs, outputs, final states and the gradients
of every weight and of the input, flattened, in tests/fixtures/lstm_reference.json.

    ~/peers/bin/python tools/gen_lstm_reference.py
"""

import json
import pathlib

import torch

torch.manual_seed(0)
T, B, IN, H, L = 5, 2, 3, 4, 2
lstm = torch.nn.LSTM(IN, H, num_layers=L)
x = torch.randn(T, B, IN, requires_grad=True)
h0 = torch.randn(L, B, H) * 0.5
c0 = torch.randn(L, B, H) * 0.5
r = torch.randn(T, B, H)
out, (hn, cn) = lstm(x, (h0, c0))
(out * r).sum().backward()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


fixture = {
    "torch": torch.__version__,
    "shape": {"steps": T, "batch": B, "input": IN, "hidden": H, "layers": L},
    "x": flat(x),
    "h0": flat(h0),
    "c0": flat(c0),
    "r": flat(r),
    "output": flat(out),
    "h_n": flat(hn),
    "c_n": flat(cn),
    "grad_x": flat(x.grad),
    "weights": {name: flat(p) for name, p in lstm.named_parameters()},
    "grads": {name: flat(p.grad) for name, p in lstm.named_parameters()},
}
path = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "lstm_reference.json"
path.write_text(json.dumps(fixture) + "\n")
print(f"wrote {path}")
