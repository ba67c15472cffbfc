"""transformers peer for `tsumugi bench luke`: a LUKE-base-sized forward pass, timed the same way.

Builds a randomly initialised `LukeModel` (seed 0) of the requested size, saves it with
`save_pretrained` (safetensors) into --out so tsumugi loads the very same weights, and stores
the batch-1 outputs in --out/reference.json so tsumugi can report its max |Δ| against them.
Then, after one warm-up forward per batch size, it serves timed `model(**inputs)` calls under
`torch.no_grad()` on the inputs tsumugi wrote (--inputs), one case per batch size ("1", "8"),
which `tsumugi bench luke` alternates with its own (serve.py).

With --device cuda the model runs on `cuda:0` in fp32 with TF32 off, and each timed forward
ends by copying the last hidden states to the host, as tsumugi's does.
"""

import argparse
import json
import os

import torch
from serve import serve
from transformers import LukeConfig, LukeModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--intermediate", type=int, default=3072)
    p.add_argument("--entity-emb", type=int, default=256)
    p.add_argument("--vocab", type=int, default=50267)
    p.add_argument("--entity-vocab", type=int, default=1000)
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--serve", action="store_true", help="the only mode: answer timed forwards on stdin")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cfg = LukeConfig(
        vocab_size=a.vocab,
        entity_vocab_size=a.entity_vocab,
        hidden_size=a.hidden,
        entity_emb_size=a.entity_emb,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        intermediate_size=a.intermediate,
        max_position_embeddings=514,
    )
    model = LukeModel(cfg).eval()
    model.save_pretrained(a.out, safe_serialization=True)
    inputs = json.load(open(a.inputs))
    model = model.to(dev)
    full = {
        "input_ids": torch.tensor(inputs["input_ids"], device=dev),
        "entity_ids": torch.tensor(inputs["entity_ids"], device=dev),
        "entity_position_ids": torch.tensor(inputs["entity_position_ids"], device=dev),
    }
    with torch.no_grad():
        out = model(**{k: v[:1] for k, v in full.items()})
    reference = {
        "word_last_hidden_state": out.last_hidden_state[0].reshape(-1).tolist(),
        "entity_last_hidden_state": out.entity_last_hidden_state[0].reshape(-1).tolist(),
    }
    json.dump(reference, open(os.path.join(a.out, "reference.json"), "w"))

    def forward(batch):
        with torch.no_grad():
            out = model(**batch)
            if a.device == "cuda":
                out.last_hidden_state.cpu()
                out.entity_last_hidden_state.cpu()

    cases = {}
    for b in [int(x) for x in a.batches.split(",")]:
        batch = {k: v[:b] for k, v in full.items()}
        forward(batch)  # warm-up
        cases[str(b)] = lambda batch=batch: forward(batch)
    serve(cases, torch=torch.__version__, threads=a.threads, device=a.device)


if __name__ == "__main__":
    main()
