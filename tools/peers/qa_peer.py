"""PyTorch peer for `tsumugi bench qa`: one training epoch of the CNN-on-LUKE article's CNN
(Conv 1→32, BN, ReLU, Conv 32→64, BN, ReLU, MaxPool 2, BN1d 8960, FC 128, ReLU, BN1d, FC 5,
log_softmax, CrossEntropy, AdamW) over `--questions` random 768-value features in batches of 100
in order, reading the loss after every step as tsumugi does. The features are made before
timing (on the GPU with --device cuda, where the model trains too). After one warm-up epoch it
serves the timed case "cnn" (serve.py).
"""

import argparse

import torch
import torch.nn.functional as F
from serve import serve
from torch import nn


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2, 2)
        self.bn3 = nn.BatchNorm1d(8960)
        self.fc1 = nn.Linear(8960, 128)
        self.bn4 = nn.BatchNorm1d(128)
        self.fc2 = nn.Linear(128, 5)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.pool(x).view(-1, 8960)
        x = F.relu(self.fc1(self.bn3(x)))
        return F.log_softmax(self.fc2(self.bn4(x)), dim=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--questions", type=int, default=8900)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--serve", action="store_true", help="the only mode: answer timed epochs on stdin")
    a = p.parse_args()
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(a.questions, 1, 24, 32).to(device)
    y = torch.randint(0, 5, (a.questions,)).to(device)
    batches = [(x[i : i + a.batch], y[i : i + a.batch]) for i in range(0, a.questions, a.batch)]
    batches = [b for b in batches if len(b[1]) > 1]
    model = Cnn().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
    model.train()

    def epoch():
        for images, labels in batches:
            opt.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            opt.step()
            loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize()

    epoch()
    serve({"cnn": epoch}, torch=torch.__version__, threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
