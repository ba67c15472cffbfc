"""PyTorch peer for `tsumugi bench finetune`: one epoch of the pre-training/fine-tuning
article's classifier and one of its language model, over the very batches tsumugi trains on.

tsumugi writes the batches (token ids of texts, labels) to a JSON file; this peer pads each
batch after the texts' ends as tsumugi does (time-major), builds the article's models
(Embedding -> dropout -> nn.LSTM -> masked mean -> dropout -> Linear(H, 1) with
BCEWithLogitsLoss; and Embedding -> dropout -> nn.LSTM -> dropout -> Linear(H, V) over the real
next words with cross-entropy), and trains with Adam (lr 1e-3), reading the loss after every
step as tsumugi does. The padded tensors are built before timing. After one warm-up epoch of
each it serves the timed cases "classifier" and "pretrain" (serve.py).
"""

import argparse
import json

import torch
from serve import serve
from torch import nn


def padded(texts, shift):
    """Time-major ids [T, B] of the texts (minus their last `shift` words), 0 after each end."""
    steps = max(len(t) - shift for t in texts)
    x = torch.zeros(steps, len(texts), dtype=torch.long)
    for b, t in enumerate(texts):
        x[: len(t) - shift, b] = torch.tensor(t[: len(t) - shift])
    return x


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batches", required=True, help="the JSON file tsumugi wrote")
    p.add_argument("--embed", type=int, default=200)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--serve", action="store_true", help="the only mode: answer timed epochs on stdin")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    spec = json.load(open(a.batches))
    vocab = spec["vocab"]

    # the classifier's batches: ids, the mean-pooling weights [T, B, 1], labels
    clf_batches = []
    for batch in spec["batches"]:
        texts = batch["texts"]
        x = padded(texts, 0)
        lengths = torch.tensor([len(t) for t in texts], dtype=torch.float32)
        mask = (torch.arange(x.shape[0])[:, None] < lengths[None, :]).float()
        weights = (mask / lengths[None, :])[:, :, None]
        clf_batches.append((x, weights, torch.tensor(batch["labels"], dtype=torch.float32)))
    # the language model's batches: inputs x[:-1], the real next words, where they stand
    lm_batches = []
    for batch in spec["batches"]:
        texts = [t for t in batch["texts"] if len(t) >= 2]
        x = padded(texts, 1)
        targets = torch.zeros_like(x)
        for b, t in enumerate(texts):
            targets[: len(t) - 1, b] = torch.tensor(t[1:])
        keep = targets.reshape(-1) != 0
        lm_batches.append((x, targets.reshape(-1)[keep], keep))

    emb, lstm = nn.Embedding(vocab, a.embed), nn.LSTM(a.embed, a.hidden)
    fc, drop5 = nn.Linear(a.hidden, 1), nn.Dropout(0.5)
    clf_params = list(emb.parameters()) + list(lstm.parameters()) + list(fc.parameters())
    clf_opt = torch.optim.Adam(clf_params, lr=1e-3)

    def classifier_loss(x, weights, labels):
        out, _ = lstm(drop5(emb(x)))
        pooled = (out * weights).sum(0)
        logit = fc(drop5(pooled))[:, 0]
        return nn.functional.binary_cross_entropy_with_logits(logit, labels)

    lm_emb, lm_lstm = nn.Embedding(vocab, a.embed), nn.LSTM(a.embed, a.hidden)
    decoder, drop3 = nn.Linear(a.hidden, vocab), nn.Dropout(0.3)
    lm_params = list(lm_emb.parameters()) + list(lm_lstm.parameters()) + list(decoder.parameters())
    lm_opt = torch.optim.Adam(lm_params, lr=1e-3)

    def lm_loss(x, targets, keep):
        out, _ = lm_lstm(drop3(lm_emb(x)))
        rows = drop3(out).reshape(-1, a.hidden)[keep]
        return nn.functional.cross_entropy(decoder(rows), targets)

    def epoch(batches, optimizer, loss_of):
        """One epoch: a step per batch, the loss read after each, as tsumugi does."""

        def run():
            for batch in batches:
                optimizer.zero_grad()
                loss = loss_of(*batch)
                loss.backward()
                optimizer.step()
                loss.item()

        return run

    cases = {"classifier": epoch(clf_batches, clf_opt, classifier_loss), "pretrain": epoch(lm_batches, lm_opt, lm_loss)}
    for run in cases.values():
        run()
    serve(
        cases,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
    )


if __name__ == "__main__":
    main()
