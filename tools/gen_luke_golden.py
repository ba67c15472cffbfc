"""Builds tiny random LUKE checkpoints and records what transformers computes on them.

Dev-only (needs torch, transformers 4.57, tokenizers); transformers 5.23's LukeTokenizer
fails on `truncation=True` (no `truncate_sequences`), and 4.57 is the version DATA.md names for
the SentencePiece checkpoints. Ids of the other cases agree between the two; tests read only the files this writes:
tests/fixtures/luke/<case>/ holds a checkpoint in the published layout plus `golden.json` with,
per example, the tokenizer's ids and the model's logits and hidden states.

Cases cover: dense entity projection and none, every head, head-after-tail spans, entity-aware
attention off, `pytorch_model.bin` and `model.safetensors`, `tokenizer.json` and
vocab.json + merges.txt + added_tokens.json + entity_vocab.json, truncation past the position
table, entities given by name, a sentence pair.

    pip install --target TF457 'transformers==4.57.*' 'tokenizers==0.22.*'   # beside torch
    PYTHONPATH=TF457 python tools/gen_luke_golden.py
"""

import json
import os
import shutil

import torch
from tokenizers import AddedToken, ByteLevelBPETokenizer, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import BPE
from transformers import (
    LukeConfig,
    LukeForEntityClassification,
    LukeForEntityPairClassification,
    LukeForEntitySpanClassification,
    LukeForMultipleChoice,
    LukeForSequenceClassification,
    LukeTokenizer,
)

ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "luke")

CORPUS = [
    "Taro belong to Keio university",
    "Beyoncé lives in Los Angeles.",
    "Keio university employs Taro and Hanako in Tokyo.",
    "The quick brown fox jumps over the lazy dog, doesn't it?",
    "Studio Ousia released LUKE in 2020 with entity-aware self-attention.",
    "Where do people keep books? At the library, on a shelf, or in a bag.",
    "Numbers like 1234 and 56.78 and symbols like $ % & are split too.",
] * 20

ENTITIES = ["[PAD]", "[UNK]", "[MASK]", "[MASK2]", "Taro", "Keio University", "Tokyo", "Beyoncé", "Los Angeles"]


def build_tokenizer_files(dest):
    """vocab.json, merges.txt, added_tokens.json, entity_vocab.json as the published checkpoints ship them."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        CORPUS, vocab_size=600, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    )
    os.makedirs(dest, exist_ok=True)
    bpe.save_model(dest)
    vocab = json.load(open(os.path.join(dest, "vocab.json")))
    added = {"<ent>": len(vocab), "<ent2>": len(vocab) + 1}
    json.dump(added, open(os.path.join(dest, "added_tokens.json"), "w"))
    json.dump({e: i for i, e in enumerate(ENTITIES)}, open(os.path.join(dest, "entity_vocab.json"), "w"))
    return len(vocab) + 2


def write_tokenizer_json(tok_dir, dest):
    """The byte-level BPE as a `tokenizers` file, `<ent>`/`<ent2>` as added special tokens."""
    t = Tokenizer(BPE.from_file(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    t.add_special_tokens([AddedToken(x, special=True) for x in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]])
    t.add_special_tokens([AddedToken("<ent>", special=True), AddedToken("<ent2>", special=True)])
    t.save(dest)


def tiny_config(vocab_size, **overrides):
    base = dict(
        vocab_size=vocab_size,
        entity_vocab_size=len(ENTITIES),
        hidden_size=32,
        entity_emb_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
    )
    base.update(overrides)
    return LukeConfig(**base)


def randomise(model, seed):
    """Random weights everywhere, LayerNorms and biases included, so no term hides behind a zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    model.eval()
    return model


def flat(t):
    return [round(float(x), 7) for x in t.reshape(-1).tolist()]


def record(model, enc, hidden_states=False):
    with torch.no_grad():
        out = model(**enc, output_hidden_states=hidden_states)
    row = {k: v[0].tolist() for k, v in enc.items()}
    row["logits"] = flat(out.logits[0])
    row["logits_shape"] = list(out.logits[0].shape)
    if hidden_states:
        row["word_hidden_states"] = [flat(h[0]) for h in out.hidden_states]
        if out.entity_hidden_states is not None and out.entity_hidden_states[0] is not None:
            row["entity_hidden_states"] = [flat(h[0]) for h in out.entity_hidden_states]
    return row


def save_case(name, model, tok_dir, files, examples, weights="bin", tokenizer_json=False):
    dest = os.path.join(ROOT, name)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    model.save_pretrained(dest, safe_serialization=(weights == "safetensors"))
    if weights == "bin":
        # transformers 5 writes only safetensors; the published LUKE checkpoints ship a pickle.
        for f in os.listdir(dest):
            if f.endswith(".safetensors"):
                os.remove(os.path.join(dest, f))
        torch.save(model.state_dict(), os.path.join(dest, "pytorch_model.bin"))
    for f in files:
        shutil.copy(os.path.join(tok_dir, f), dest)
    if tokenizer_json:
        write_tokenizer_json(tok_dir, os.path.join(dest, "tokenizer.json"))
    json.dump({"examples": examples}, open(os.path.join(dest, "golden.json"), "w"), indent=None)


def tokenizer_config(tok_dir, **extra):
    cfg = {"tokenizer_class": "LukeTokenizer", "max_mention_length": 30, **extra}
    json.dump(cfg, open(os.path.join(tok_dir, "tokenizer_config.json"), "w"))


def main():
    tok_dir = os.path.join(ROOT, "_tokenizer")
    shutil.rmtree(tok_dir, ignore_errors=True)
    vocab_size = build_tokenizer_files(tok_dir)
    plain_files = ["vocab.json", "merges.txt", "added_tokens.json", "entity_vocab.json", "tokenizer_config.json"]
    labels = {"id2label": {0: "no_relation", 1: "per:employee_of", 2: "org:founded_by"}}

    # Entity pair classification: dense projection, pickle weights, vocab + merges.
    tokenizer_config(tok_dir, task="entity_pair_classification")
    tok = LukeTokenizer.from_pretrained(tok_dir)
    model = randomise(LukeForEntityPairClassification(tiny_config(vocab_size, **labels)), 1)
    pair_examples = []
    for text, spans in [
        ("Taro belong to Keio university", [(0, 3), (15, 29)]),
        ("Keio university employs Taro and Hanako in Tokyo.", [(24, 28), (0, 15)]),
        ("Beyoncé lives in Los Angeles.", [(0, 7), (17, 28)]),
    ]:
        row = record(model, tok(text, entity_spans=spans, return_tensors="pt"), hidden_states=True)
        pair_examples.append({"text": text, "spans": spans, **row})
    save_case("pair_dense_bin", model, tok_dir, plain_files, pair_examples)

    # Entity classification: no projection (entity_emb_size = hidden), safetensors, tokenizer.json.
    tokenizer_config(tok_dir, task="entity_classification")
    tok = LukeTokenizer.from_pretrained(tok_dir)
    cfg = tiny_config(vocab_size, entity_emb_size=32, id2label={0: "person", 1: "organization", 2: "location", 3: "other"})
    model = randomise(LukeForEntityClassification(cfg), 2)
    entity_examples = []
    for text, spans in [
        ("Beyoncé lives in Los Angeles.", [(0, 7)]),
        ("Keio university employs Taro and Hanako in Tokyo.", [(43, 48)]),
    ]:
        row = record(model, tok(text, entity_spans=spans, return_tensors="pt"))
        entity_examples.append({"text": text, "spans": spans, **row})
    save_case(
        "entity_nodense_safetensors",
        model,
        tok_dir,
        ["entity_vocab.json", "tokenizer_config.json"],
        entity_examples,
        weights="safetensors",
        tokenizer_json=True,
    )

    # Entity span classification without entity-aware attention; truncation past the position table.
    tokenizer_config(tok_dir, task="entity_span_classification")
    tok = LukeTokenizer.from_pretrained(tok_dir)
    cfg = tiny_config(vocab_size, use_entity_aware_attention=False, id2label={0: "O", 1: "PER", 2: "ORG", 3: "LOC"})
    model = randomise(LukeForEntitySpanClassification(cfg), 3)
    long_text = "Taro belong to Keio university. " * 12 + "Tokyo"
    span_examples = []
    for text, spans in [
        ("Keio university employs Taro and Hanako in Tokyo.", [(0, 4), (0, 15), (24, 28), (43, 48)]),
        (long_text, [(0, 4), (15, 29), (len(long_text) - 5, len(long_text))]),
    ]:
        enc = tok(text, entity_spans=spans, truncation=True, max_length=cfg.max_position_embeddings - 2, return_tensors="pt")
        row = record(model, enc)
        span_examples.append({"text": text, "spans": spans, **row})
    save_case("spans_noaware_bin", model, tok_dir, plain_files, span_examples)

    # Sequence classification and plain encoding (task none): entities by name, a sentence pair.
    tokenizer_config(tok_dir)
    tok = LukeTokenizer.from_pretrained(tok_dir)
    cfg = tiny_config(vocab_size, id2label={0: "negative", 1: "positive"})
    model = randomise(LukeForSequenceClassification(cfg), 4)
    seq_examples = []
    for text, spans, entities in [
        ("The quick brown fox jumps over the lazy dog, doesn't it?", None, None),
        ("Beyoncé lives in Los Angeles.", [(0, 7), (17, 28)], ["Beyoncé", "Los Angeles"]),
        ("Taro belong to Keio university", [(0, 4), (15, 30)], ["Taro", "Nobody Known"]),
        ("Taro belong to Keio university", [(15, 30)], None),
    ]:
        kwargs = {} if spans is None else {"entity_spans": spans}
        if entities is not None:
            kwargs["entities"] = entities
        row = record(model, tok(text, return_tensors="pt", **kwargs), hidden_states=True)
        seq_examples.append({"text": text, "spans": spans, "entities": entities, **row})
    # A sentence pair (JNLI / JSTS shape): <s> premise </s></s> hypothesis </s>.
    premise, hypothesis = "Taro belong to Keio university", "Keio university employs Taro."
    row = record(model, tok(premise, hypothesis, return_tensors="pt"), hidden_states=True)
    seq_examples.append({"text": premise, "pair": hypothesis, "spans": None, "entities": None, **row})
    save_case("sequence_bin", model, tok_dir, plain_files, seq_examples)

    # Multiple choice over (question, choice) pairs, no entities.
    cfg = tiny_config(vocab_size, entity_emb_size=32)
    model = randomise(LukeForMultipleChoice(cfg), 5)
    question = "Where do people keep books?"
    choices = ["At the library", "on a shelf", "in a bag", "the lazy dog"]
    enc = tok([question] * len(choices), choices, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**{k: v.unsqueeze(0) for k, v in enc.items()}).logits
    mc = [{"text": question, "choices": choices, "input_ids": enc["input_ids"].tolist(), "logits": flat(logits[0])}]
    save_case("choice_safetensors", model, tok_dir, plain_files, mc, weights="safetensors")

    shutil.rmtree(tok_dir)


if __name__ == "__main__":
    main()
