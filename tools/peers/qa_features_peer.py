"""transformers peer for `tsumugi bench qa`'s feature case: the CNN-on-LUKE article's feature
loop for one question, timed the same way as tsumugi's.

Builds a randomly initialised `LukeForMultipleChoice` of luke-japanese-base's size (seed 0),
saves it with `save_pretrained` (safetensors) into --out so tsumugi loads the very same
weights, and writes the features of the inputs tsumugi wrote (--inputs: five padded pairs) to
--out/reference.json. Then it serves the timed case "features": the article's
`model(ids, mask)` with `output_hidden_states=True` under `torch.no_grad()`, then
`hidden_states[-2][0]` averaged over every position (serve.py). With --device cuda the model
runs on `cuda:0` (fp32, TF32 off) and each timed run ends with the features on the host, as
tsumugi's do.
"""

import argparse
import json
import os

import torch
from serve import serve
from transformers import LukeConfig, LukeForMultipleChoice


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--vocab", type=int, default=32770)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--serve", action="store_true", help="the only mode: answer timed runs on stdin")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cfg = LukeConfig(vocab_size=a.vocab, entity_vocab_size=1000, hidden_size=768, entity_emb_size=256,
                     num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514)
    model = LukeForMultipleChoice(cfg).eval()
    model.save_pretrained(a.out, safe_serialization=True)
    inputs = json.load(open(a.inputs))
    model = model.to(dev)
    ids = torch.tensor(inputs["input_ids"], device=dev)[None]
    mask = torch.tensor(inputs["attention_mask"], device=dev)[None]

    def features():
        with torch.no_grad():
            out = model(ids, mask, output_hidden_states=True)
        return out.hidden_states[-2][0].mean(dim=0).cpu()

    json.dump({"features": features().reshape(-1).tolist()}, open(os.path.join(a.out, "reference.json"), "w"))
    features()  # warm-up
    serve({"features": features}, torch=torch.__version__, threads=a.threads, device=a.device)


if __name__ == "__main__":
    main()
