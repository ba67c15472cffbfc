"""PyTorch peer for `tsumugi bench lstm`: one training step of the BetterRnnlm-sized language
model, timed the same way.

Embedding(V, H) -> dropout -> nn.LSTM(H, H, L, dropout) -> dropout -> Linear(H, V) tied to the
embedding, as PyTorch's word_language_model example; random tokens [T, B]; one step = zero_grad,
forward, cross-entropy, backward, clip_grad_norm_(0.25), SGD (lr 20). Hidden state carried and
detached between steps. After one warm-up step it serves timed steps (case "step") to
`tsumugi bench lstm`, which alternates them with its own (serve.py).

With --device cuda the model runs on the GPU (nn.LSTM on cuDNN) and each step ends with
torch.cuda.synchronize(), so its time is the GPU's. Products and cuDNN run in plain fp32: TF32
is switched off (cuDNN allows it by default), as tsumugi's cuBLAS calls do not use it; --tf32
switches it on for comparison.
"""

import argparse

import torch
from serve import serve
from torch import nn


class RNNModel(nn.Module):
    def __init__(self, vocab, hidden, layers, dropout):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab, hidden)
        self.rnn = nn.LSTM(hidden, hidden, layers, dropout=dropout)
        self.decoder = nn.Linear(hidden, vocab)
        self.decoder.weight = self.encoder.weight

    def forward(self, tokens, state):
        out, state = self.rnn(self.drop(self.encoder(tokens)), state)
        return self.decoder(self.drop(out)), state


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vocab", type=int, default=10000)
    p.add_argument("--hidden", type=int, default=650)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=35)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--tf32", action="store_true", help="allow TF32 in cuBLAS and cuDNN (GPU only)")
    p.add_argument("--serve", action="store_true", help="the only mode: answer timed steps on stdin")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = RNNModel(a.vocab, a.hidden, a.layers, a.dropout).to(dev)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=20.0)
    criterion = nn.CrossEntropyLoss()
    tokens = torch.randint(0, a.vocab, (a.steps, a.batch)).to(dev)
    targets = torch.randint(0, a.vocab, (a.steps * a.batch,)).to(dev)
    zeros = lambda: torch.zeros(a.layers, a.batch, a.hidden, device=dev)
    state = [(zeros(), zeros())]
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)

    def step():
        state[0] = tuple(s.detach() for s in state[0])
        optimizer.zero_grad()
        logits, state[0] = model(tokens, state[0])
        loss = criterion(logits.view(-1, a.vocab), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        optimizer.step()
        sync()

    sync()
    step()  # warms up allocators and kernels
    step()
    serve({"step": step}, torch=torch.__version__, threads=a.threads, device=a.device, tf32=a.tf32)


if __name__ == "__main__":
    main()
