"""SentencePiece (mLUKE / luke-japanese layout) fixtures: what transformers 4.57's MLukeTokenizer
and the LUKE heads compute on tiny random checkpoints.

Dev-only, same set-up as gen_luke_golden.py (transformers 4.57: 5.x drops the fairseq id
alignment these checkpoints were trained with) plus the `sentencepiece` package, which trains a
small unigram model here. Each case directory holds `sentencepiece.bpe.model`,
`entity_vocab.json`, `tokenizer_config.json` as the published checkpoints ship them, the weights,
and `golden.json`.

    PYTHONPATH=TF457 python tools/gen_luke_sentencepiece_golden.py
"""

import io
import json
import os
import shutil
import sys

import sentencepiece as spm
import torch
from transformers import LukeForEntityPairClassification, LukeForMultipleChoice, LukeForSequenceClassification, MLukeTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from gen_luke_golden import ENTITIES, ROOT, record, flat, randomise, save_case, tiny_config  # noqa: E402

CORPUS = [
    "Taro belong to Keio university",
    "東京は日本の首都です。",
    "慶應義塾大学に太郎が所属している。",
    "本を置く場所はどこですか？図書館、本棚、鞄の中。",
    "Studio Ousia released LUKE in 2020.",
    "ルークはエンティティを扱う言語モデルです。",
    "The quick brown fox jumps over the lazy dog.",
    "花子は大阪で生まれ、京都の大学に通った。",
] * 30

# Odd inputs for the normaliser: full-width letters and digits (NFKC), runs of spaces, leading and
# trailing whitespace, tabs and newlines, characters the model never saw (unknown), a literal
# special token, combining marks, half-width katakana.
ODD_TEXTS = [
    "ＴＡＲＯ　belong   to\tKeio\nuniversity１２３",
    "   東京は日本の首都です。   ",
    "龘龘 and 🦊 are unknown; so is ✈.",
    "Taro <mask> to Keio university",
    "Cafe\u0301 ｶﾀｶﾅ ﾙｰｸ ①②",
    "a",
]


def random_texts(n, seed=0):
    """Strings mixing what NFKC and the whitespace rules touch: full- and half-width forms,
    ligatures, circled and Roman numerals, combining marks, odd spaces, emoji, kanji."""
    import random

    rng = random.Random(seed)
    pool = list("Taro belong to Keio university 東京は日本の首都です。慶應義塾大学太郎花子")
    pool += list("ＡＢＣａｂｃ０１２　ｶﾀｶﾅﾙｰｸﾞﾟ①②⑩ⅫⅣﬁﬂ㍿㌔℃™…“”‘’－～\u00a0\u2003\u200b\t\n")
    pool += ["ｶﾞ", "ﾊﾟ", "ｸﾞ", "e\u0301", "\u3099", "か\u3099", "🦊", "龘", "✈", "<mask>", "<s>", "  ", " "]
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 24))) for _ in range(n)]


def train_sentencepiece(dest, normalization):
    """A small unigram model with the default trainer settings (as mLUKE's), written as
    `sentencepiece.bpe.model`, the file name MLukeTokenizer expects."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=buf,
        vocab_size=150,
        model_type="unigram",
        character_coverage=0.995,
        normalization_rule_name=normalization,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "sentencepiece.bpe.model"), "wb") as f:
        f.write(buf.getvalue())
    json.dump({e: i for i, e in enumerate(ENTITIES + ["東京", "太郎"])}, open(os.path.join(dest, "entity_vocab.json"), "w"))


def make_tokenizer(tok_dir, task):
    tok = MLukeTokenizer(
        os.path.join(tok_dir, "sentencepiece.bpe.model"), os.path.join(tok_dir, "entity_vocab.json"), task=task
    )
    tok.save_pretrained(tok_dir)
    return MLukeTokenizer.from_pretrained(tok_dir)


def case_files(tok_dir):
    return [f for f in os.listdir(tok_dir) if f != "golden.json"]


def main():
    n_entities = len(ENTITIES) + 2

    # Sequence classification, task none: plain text, odd text, spans with named entities.
    tok_dir = os.path.join(ROOT, "_spm_nfkc")
    shutil.rmtree(tok_dir, ignore_errors=True)
    train_sentencepiece(tok_dir, "nmt_nfkc")
    tok = make_tokenizer(tok_dir, None)
    vocab_size = len(tok)
    cfg = tiny_config(vocab_size, entity_vocab_size=n_entities, id2label={0: "negative", 1: "positive"})
    model = randomise(LukeForSequenceClassification(cfg), 6)
    examples = []
    for i, (text, spans, entities) in enumerate(
        [("東京は日本の首都です。", [(0, 2)], ["東京"]), ("慶應義塾大学に太郎が所属している。", [(0, 6), (7, 9)], None)]
        + [(t, None, None) for t in ODD_TEXTS]
        + [("ＴＡＲＯ　belong to Keio", [(0, 4), (10, 12)], ["太郎", "Nobody"])]
    ):
        kwargs = {} if spans is None else {"entity_spans": spans}
        if entities is not None:
            kwargs["entities"] = entities
        row = record(model, tok(text, return_tensors="pt", **kwargs), hidden_states=(i == 0))
        examples.append({"text": text, "spans": spans, "entities": entities, **row})
    save_case("sentencepiece_sequence_bin", model, tok_dir, case_files(tok_dir), examples)
    words = [{"text": t, "input_ids": tok(t)["input_ids"]} for t in random_texts(300)]
    json.dump(words, open(os.path.join(ROOT, "sentencepiece_sequence_bin", "words.json"), "w"), ensure_ascii=False)

    # Multiple choice (JCommonsenseQA's shape): question and five choices, padded.
    cfg = tiny_config(vocab_size, entity_vocab_size=n_entities, entity_emb_size=32)
    model = randomise(LukeForMultipleChoice(cfg), 7)
    question = "本を置く場所はどこですか？"
    choices = ["図書館", "本棚", "鞄の中", "大阪の大学", "ルーク"]
    enc = tok([question] * len(choices), choices, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**{k: v.unsqueeze(0) for k, v in enc.items()}).logits
    mc = [{"text": question, "choices": choices, "input_ids": enc["input_ids"].tolist(), "logits": flat(logits[0])}]
    save_case("sentencepiece_choice_safetensors", model, tok_dir, case_files(tok_dir), mc, weights="safetensors")
    shutil.rmtree(tok_dir)

    # Entity pair classification with an identity normaliser (no charsmap): <ent>/<ent2> markers
    # around spans in unspaced Japanese, head after tail too.
    tok_dir = os.path.join(ROOT, "_spm_identity")
    shutil.rmtree(tok_dir, ignore_errors=True)
    train_sentencepiece(tok_dir, "identity")
    tok = make_tokenizer(tok_dir, "entity_pair_classification")
    cfg = tiny_config(
        len(tok), entity_vocab_size=n_entities, id2label={0: "no_relation", 1: "member_of", 2: "born_in"}
    )
    model = randomise(LukeForEntityPairClassification(cfg), 8)
    pair_examples = []
    for text, spans in [
        ("慶應義塾大学に太郎が所属している。", [(7, 9), (0, 6)]),
        ("花子は大阪で生まれ、京都の大学に通った。", [(0, 2), (3, 5)]),
        ("Taro belong to Keio university", [(0, 3), (15, 29)]),
    ]:
        row = record(model, tok(text, entity_spans=spans, return_tensors="pt"), hidden_states=True)
        pair_examples.append({"text": text, "spans": spans, **row})
    save_case("sentencepiece_pair_safetensors", model, tok_dir, case_files(tok_dir), pair_examples, weights="safetensors")
    shutil.rmtree(tok_dir)


if __name__ == "__main__":
    main()
