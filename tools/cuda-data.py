#!/usr/bin/env python3
"""Writes what tools/cuda-train.sh reads into a folder that travels to a GPU machine, which
reaches no registry.

    tools/cuda-data.py CACHE OUT_DIR

CACHE is a TSUMUGI_HOME whose datasets hold `r8`, `glove-100d`, `ptb` and `sentiment`
(`tsumugi data get` each). OUT_DIR/datasets gets R8, PTB and sentiment as they are, and
OUT_DIR/r8-glove-100d.bin the GloVe rows of every word a tokenizer could ask for in R8 (each
whitespace token, its parts between punctuation, and the lower case of both), in the same
word2vec binary format: about 8 MB instead of 134. `classify train --vectors
OUT_DIR/r8-glove-100d.bin` then gives what `--vectors glove-100d` gives (check it on the CPU
before carrying it). Run tools/cuda-train.sh with TSUMUGI_HOME=OUT_DIR.
"""
import os
import re
import shutil
import sys


def wanted_words(r8_dir):
    words = set()
    for name in os.listdir(r8_dir):
        if not name.endswith(".tab"):
            continue
        with open(os.path.join(r8_dir, name), encoding="utf-8") as f:
            for line in f:
                text = line.rstrip("\n").split("\t", 1)[-1]
                for token in text.split():
                    for w in [token, *re.split(r"[^0-9A-Za-z]+", token)]:
                        if w:
                            words.add(w)
                            words.add(w.lower())
    return words


def main():
    cache, out = sys.argv[1], sys.argv[2]
    for name in ["r8", "ptb", "sentiment"]:
        src = os.path.join(cache, "datasets", name)
        shutil.copytree(src, os.path.join(out, "datasets", name), dirs_exist_ok=True)
    words = wanted_words(os.path.join(cache, "datasets", "r8"))
    src = os.path.join(cache, "datasets", "glove-100d", "glove-100d.bin")
    kept = []
    with open(src, "rb") as f:
        count, dim = map(int, f.readline().split())
        for _ in range(count):
            word = bytearray()
            while (c := f.read(1)) != b" ":
                word += c
            row = f.read(4 * dim)
            if f.read(1) != b"\n":
                f.seek(-1, 1)
            if word.decode("utf-8", "replace") in words:
                kept.append((bytes(word), row))
    path = os.path.join(out, "r8-glove-100d.bin")
    with open(path + ".tmp", "wb") as f:
        f.write(f"{len(kept)} {dim}\n".encode())
        for word, row in kept:
            f.write(word + b" " + row + b"\n")
    os.replace(path + ".tmp", path)
    print(f"{path}: {len(kept)} of {count} vectors")


if __name__ == "__main__":
    main()
