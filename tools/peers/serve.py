"""The peers' side of tsumugi's alternating benchmarks (`src/tasks/bench/served_peer.rs`).

A peer started with --serve builds its model and warms up, then calls `serve`: one JSON line
saying it is ready, then for every line read on stdin it runs the case that line names once and
answers {"seconds": s}. It ends when stdin closes.
"""

import json
import sys
import time


def serve(cases, **about):
    """Answers timed runs of `cases` (name -> function of no arguments) until stdin closes."""
    print(json.dumps({"ready": True, **about}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if name not in cases:
            print(json.dumps({"error": f"unknown case {name!r}; known: {sorted(cases)}"}), flush=True)
            continue
        began = time.perf_counter()
        cases[name]()
        print(json.dumps({"seconds": time.perf_counter() - began}), flush=True)
