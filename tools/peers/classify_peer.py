"""PyTorch peer for `tsumugi bench classify`: the same epochs, timed the same way.

One training epoch over ROWS x DIM random features (4 classes, labels from a random linear map):
single-layer network (no bias) at batch 1, and Linear(DIM, 200) -> BatchNorm1d -> ReLU ->
Linear(200, 4) at batch 64, both plain SGD (lr 0.1), shuffled each epoch with a DataLoader as in
the NLP 100 Knocks article. With --device cuda (problem 78) the model lives on the GPU and each
batch is moved there as the article does, and the epoch ends with a synchronize. Prints
{"slp_batch1": [seconds...], "mlp_bn_batch64": [...]} as JSON.
"""

import argparse
import json
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def synthetic(rows, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, dim, generator=g)
    w = torch.randn(dim, 4, generator=g)
    return x, (x @ w).argmax(dim=1)


def models(dim):
    slp = nn.Linear(dim, 4, bias=False)
    nn.init.normal_(slp.weight, 0.0, 1.0)
    mlp = nn.Sequential(nn.Linear(dim, 200), nn.BatchNorm1d(200), nn.ReLU(), nn.Linear(200, 4))
    return {"slp_batch1": (slp, 1), "mlp_bn_batch64": (mlp, 64)}


def one_epoch(model, loader, lr, device):
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for inputs, labels in loader:
        if inputs.shape[0] < 2 and isinstance(model, nn.Sequential):
            continue
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
    sync()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10672)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    x, y = synthetic(args.rows, args.dim)
    out = {"torch": torch.__version__, "threads": args.threads, "device": args.device}
    for repeat in range(args.repeats):
        torch.manual_seed(repeat)
        for name, (model, batch) in models(args.dim).items():
            loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
            out.setdefault(name, []).append(one_epoch(model.to(device), loader, 0.1, device))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
