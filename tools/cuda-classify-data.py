#!/usr/bin/env python3
"""Writes the word vectors R8's texts can look up, for a GPU machine that reaches no registry.

    tools/cuda-classify-data.py CACHE OUT_DIR

CACHE is a TSUMUGI_HOME whose datasets hold `r8` and `glove-100d` (`tsumugi data get` both).
OUT_DIR/datasets/r8 gets R8 as it is, and OUT_DIR/r8-glove-100d.bin the GloVe rows of every
word a tokenizer could ask for (each whitespace token, its parts between punctuation, and the
lower case of both), in the same word2vec binary format: about 8 MB instead of 134, so it
travels with the binary. `classify train --vectors OUT_DIR/r8-glove-100d.bin` then gives what
`--vectors glove-100d` gives (check it on the CPU before carrying it).
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
    r8 = os.path.join(cache, "datasets", "r8")
    words = wanted_words(r8)
    shutil.copytree(r8, os.path.join(out, "datasets", "r8"), dirs_exist_ok=True)
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
