"""PyTorch peer for `tsumugi bench gemm`: times `torch.matmul` on the products tsumugi names.

--products is a comma-separated list of name:m:k:n:layouts, layouts two letters for A and B:
`n` as written, `t` stored transposed (A as [k, m], B as [n, k], used through `.t()`, as
nn.Linear uses its weight). One warm-up, then --repeats timed calls each, into a preallocated
output. Prints {name: [seconds, ...]} as JSON.
"""

import argparse
import json
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--products", required=True)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = {}
    for spec in a.products.split(","):
        name, m, k, n, layouts = spec.split(":")
        m, k, n = int(m), int(k), int(n)
        x = torch.rand(k, m).t() if layouts[0] == "t" else torch.rand(m, k)
        w = torch.rand(n, k).t() if layouts[1] == "t" else torch.rand(k, n)
        c = torch.empty(m, n)
        torch.matmul(x, w, out=c)
        seconds = []
        for _ in range(a.repeats):
            began = time.perf_counter()
            torch.matmul(x, w, out=c)
            seconds.append(time.perf_counter() - began)
        out[name] = seconds
    print(json.dumps(out))


if __name__ == "__main__":
    main()
