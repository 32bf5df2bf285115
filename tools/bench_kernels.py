#!/usr/bin/env python3
"""attngraph's matrix-product kernels beside PyTorch's, in one run, on GPT-2 small's four linear layers.

Prints the machine's yardsticks first: PyTorch's 2048 × 2048 sgemm (GFLOP/s, a fair peak for f32 products) and
a read of 512 MB with all threads (GB/s, the limit of a one-row product, which reads every weight once). Then,
for each layer and row count, attngraph's fastest kernel on this CPU (`attngraph bench --kernels`) against
`torch.nn.functional.linear`, as ms, GFLOP/s and the ratio of times; the MLP's GELU against PyTorch's (tanh
form); and a softmax's exponentials on one thread, e^(x − max) and their sum over a row, against `torch.exp`.

With --isa avx2 both sides run as on a CPU without AVX-512 (attngraph with ATTNGRAPH_ISA=avx2, PyTorch with its
BLAS, oneDNN and its own ops capped at AVX2: `benchlib.AVX2_PYTORCH`).

Usage: cargo build --release && python tools/bench_kernels.py [--bin target/release/attngraph] [--isa avx2]
"""

import argparse
import json
import os
import subprocess
import time

from benchlib import AVX2_PYTORCH, cap_pytorch_at, cpu_name


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "attngraph"))
    ap.add_argument("--isa", choices=["auto", "avx2"], default="auto",
                    help="avx2: both sides as on a CPU without AVX-512 (default: what this CPU has)")
    return ap.parse_args()


ARGS = parse_args()
cap_pytorch_at(ARGS.isa)

import torch  # noqa: E402  (after the caps are in the environment)


def median_secs(f, budget=0.2):
    f()
    start = time.perf_counter()
    f()
    once = max(time.perf_counter() - start, 1e-7)
    runs = max(3, min(2000, int(budget / once)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    args = ARGS
    torch.manual_seed(0)
    print(f"CPU: {cpu_name()}; PyTorch {torch.__version__} with {torch.get_num_threads()} threads")
    env = dict(os.environ)
    if args.isa == "avx2":
        env["ATTNGRAPH_ISA"] = "avx2"
        print("Both sides as on a CPU without AVX-512: attngraph with ATTNGRAPH_ISA=avx2, PyTorch with "
              + ", ".join(f"{k}={v}" for k, v in AVX2_PYTORCH.items()))

    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    peak = 2 * 2048**3 / median_secs(lambda: torch.mm(a, b)) / 1e9
    big = torch.ones(128 * 1024 * 1024)  # 512 MB
    bandwidth = big.numel() * 4 / median_secs(lambda: big.sum(), budget=0.5) / 1e9
    print(f"PyTorch 2048² sgemm: {peak:.1f} GFLOP/s; reading 512 MB: {bandwidth:.1f} GB/s")
    del a, b, big

    ours, gelus, exps, attentions = {}, [], [], []
    out = subprocess.run([args.bin, "bench", "--kernels", "--format", "json"], check=True, capture_output=True, text=True,
                         env=env)
    for line in out.stdout.splitlines():
        row = json.loads(line)
        if row["layer"] == "mlp.gelu":
            gelus.append(row)
            continue
        if "g_exp_per_s" in row:
            exps.append(row)
            continue
        if "attention_gflops" in row:
            attentions.append(row)
            continue
        # Of the packed kernel, only the tile the analysis runs at this level (the bench times every one the CPU
        # has); of the rest, the fastest.
        packed_tile = row["kernel"].split(" ")[0] if " packed" in row["kernel"] else None
        if packed_tile is not None and packed_tile != row["isa"]:
            continue
        key = (row["layer"], row["rows"])
        if key not in ours or row["ms"] < ours[key]["ms"]:
            ours[key] = row

    print()
    print("| layer | k × n | rows | attngraph kernel | attngraph ms | GFLOP/s | PyTorch ms | GFLOP/s | ratio |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for (layer, rows), row in ours.items():
        k, n = row["k"], row["n"]
        x = torch.randn(rows, k)
        w = torch.randn(n, k)
        bias = torch.randn(n)
        secs = median_secs(lambda: torch.nn.functional.linear(x, w, bias))
        flops = 2 * rows * k * n
        note = f" ({row['weights_gb_per_s']:.0f} GB/s of weights)" if rows == 1 else ""
        print(
            f"| {layer} | {k} × {n} | {rows} | {row['kernel']}{note} | {row['ms']:.3f} | {row['gflops']:.1f} | "
            f"{secs * 1e3:.3f} | {flops / secs / 1e9:.1f} | {row['ms'] / (secs * 1e3):.2f}× |"
        )

    print()
    print("| GELU (tanh), rows × 3072 | kernel | ms | PyTorch ms | ratio |")
    print("|---:|---|---:|---:|---:|")
    for row in gelus:
        x = torch.randn(row["rows"], 3072)
        secs = median_secs(lambda: torch.nn.functional.gelu(x, approximate="tanh"))
        print(f"| {row['rows']} | {row['kernel']} | {row['ms']:.3f} | {secs * 1e3:.3f} | {row['ms'] / (secs * 1e3):.2f}× |")

    # Causal attention of 12 heads of 64, PyTorch's scaled_dot_product_attention (its CPU kernel skips the masked
    # blocks too) against attngraph's op, which also keeps every probability; FLOPs of the causal half.
    print()
    print("| causal attention, 12 heads of 64 | tokens | attngraph kernel | ms | GFLOP/s | PyTorch SDPA ms | GFLOP/s | ratio |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for row in attentions:
        t = row["n"]
        q, k, v = (torch.randn(1, row["heads"], t, row["k"]) for _ in range(3))
        secs = median_secs(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True))
        flops = 4 * row["k"] * row["heads"] * t * (t + 1) / 2
        print(
            f"| attention | {t} | {row['kernel']} | {row['ms']:.3f} | {row['attention_gflops']:.1f} | "
            f"{secs * 1e3:.3f} | {flops / secs / 1e9:.1f} | {row['ms'] / (secs * 1e3):.2f}× |"
        )

    # e^(x − max) and their sum over one row, on one thread as attngraph's line is timed.
    print()
    print("| softmax exponentials, one thread | values | kernel | ms | G exp/s | PyTorch ms | G exp/s | ratio |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for row in exps:
        n = row["n"]
        x = torch.randn(n)
        secs = median_secs(lambda: torch.exp(x - x.max()).sum())
        print(
            f"| {row['layer']} | {n} | {row['kernel']} | {row['ms']:.4f} | {row['g_exp_per_s']:.2f} | "
            f"{secs * 1e3:.4f} | {n / secs / 1e9:.2f} | {row['ms'] / (secs * 1e3):.2f}× |"
        )
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
