#!/usr/bin/env python3
"""Sliding-window perplexity speed: attngraph against Hugging Face transformers running the guide's loop, on the
same machine in one run, GPT-2-small shape with random weights, windows of 1024, stride 512.

Both score the same token ids (a text is made of random words and tokenized once, by attngraph's tokenizer.json).
transformers runs as the guide's users run it: its default attention implementation (SDPA; no attentions are
output), after one untimed warm-up window. PyTorch uses --threads threads (default 2). Prints the CPU, scored
tokens per second for each and the ratio, plus attngraph's peak RSS, and the floor: the scored tokens per second
this machine cannot beat, from the work every window needs (every block on the whole window, the causal half of
attention, the LM head on the scored rows only) at PyTorch's sgemm rate, or its weights read once per window at
its read bandwidth, whichever is slower (both measured in the same run, or given with --peak-gflops/--peak-gbps).

Usage:
  cargo build --release
  python tools/bench_perplexity.py --tokenizer tests/fixtures/tiny-gpt2/tokenizer.json [--tokens 20000]
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import tempfile
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from benchlib import cpu_name, floor_ms, peaks_from

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an "
         "had they you were their one all we can her has there been if more when will would who so no time people "
         "year way day man thing woman life child world school state family student group country problem").split()


def window_floor_ms(config, tokens, gflops, gbps, window=1024, stride=512):
    """The floor of the sliding-window loop above, summed over its windows: each window's blocks run on all its
    rows (the linear layers 2·w·12·d², the causal half of QKᵀ and A·V 2·w²·d), the LM head only on the rows it
    scores (2·s·d·V), or the weights read once, whichever is slower."""
    d, layers, vocab = config.n_embd, config.n_layer, config.vocab_size
    weight_bytes = 4 * (layers * 12 * d * d + d * (vocab + config.n_positions))  # the products' weights and wpe
    total, prev_end = 0.0, 0
    for begin in range(0, tokens, stride):
        end = min(begin + window, tokens)
        w, scored = end - begin, end - prev_end - (1 if prev_end == 0 else 0)
        flops = layers * (2 * w * 12 * d * d + 2 * w * w * d) + 2 * scored * d * vocab
        total += floor_ms(flops, weight_bytes, gflops, gbps)
        prev_end = end
        if end == tokens:
            break
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "attngraph"))
    ap.add_argument("--peak-gflops", type=float, help="the sgemm rate for the floor (default: PyTorch's, measured)")
    ap.add_argument("--peak-gbps", type=float, help="the read bandwidth for the floor (default: measured)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gflops, gbps, peaks_said = peaks_from(args, args.threads)
    folder = tempfile.mkdtemp(prefix="attngraph-ppl-")
    try:
        # The default attention implementation, as the guide's loop runs (the model is built, not loaded, so ask
        # for it by name).
        model = GPT2LMHeadModel(GPT2Config()).eval()
        model.set_attn_implementation("sdpa")
        model.save_pretrained(folder, safe_serialization=True)
        shutil.copy(args.tokenizer, os.path.join(folder, "tokenizer.json"))
        tok = PreTrainedTokenizerFast(tokenizer_file=args.tokenizer)
        rng = random.Random(1)
        text = " ".join(rng.choice(WORDS) for _ in range(args.tokens + 100))
        ids = tok(text)["input_ids"][: args.tokens]
        text = tok.decode(ids)
        ids = tok(text)["input_ids"]
        path = os.path.join(folder, "text.txt")
        with open(path, "w") as f:
            f.write(text)

        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-v", args.binary, "perplexity", "--model", folder, "--stride", "512",
                               "--format", "json", "--quiet", path], capture_output=True, text=True, check=True,
                              env={**os.environ, "RAYON_NUM_THREADS": str(args.threads)})
        ours_s = time.perf_counter() - start
        ours = json.loads(proc.stdout)
        peak = next(int(l.split()[-1]) for l in proc.stderr.splitlines() if "Maximum resident" in l) / 1024

        seq = torch.tensor([ids])
        with torch.no_grad():  # warm-up: one window, untimed
            model(seq[:, :1024])
        start = time.perf_counter()
        nll_sum, n, prev_end = 0.0, 0, 0
        for begin in range(0, len(ids), 512):
            end = min(begin + 1024, len(ids))
            trg_len = end - prev_end
            inp = seq[:, begin:end]
            tgt = inp.clone()
            tgt[:, :-trg_len] = -100
            with torch.no_grad():
                loss = model(inp, labels=tgt).loss
            k = int((tgt[:, 1:] != -100).sum())
            nll_sum += float(loss) * k
            n += k
            prev_end = end
            if end == len(ids):
                break
        theirs_s = time.perf_counter() - start
        floor_s = window_floor_ms(model.config, len(ids), gflops, gbps) / 1e3
        cpu = cpu_name()
        print(f"CPU: {cpu}; {len(ids)} tokens, windows 1024, stride 512, GPT-2-small shape, PyTorch {torch.__version__} "
              f"on {args.threads} threads, attention {model.config._attn_implementation}")
        print(f"| | scored tokens/s | perplexity (token) | peak RSS MB |")
        print(f"|---|---:|---:|---:|")
        print(f"| attngraph (whole process, load included) | {ours['predicted_tokens'] / ours_s:.0f} | {ours['ppl']['token']:.4f} | {peak:.0f} |")
        print(f"| transformers (loop only) | {n / theirs_s:.0f} | {math.exp(nll_sum / n):.4f} | |")
        print(f"| floor (max(FLOPs / {gflops:.1f} GFLOP/s, weights / {gbps:.1f} GB/s) per window) | {n / floor_s:.0f} | | |")
        print(f"ratio attngraph / transformers (tokens/s): {(ours['predicted_tokens'] / ours_s) / (n / theirs_s):.2f}×; "
              f"attngraph reaches {(ours['predicted_tokens'] / ours_s) / (n / floor_s):.2f} of the floor's tokens/s, "
              f"transformers {(n / theirs_s) / (n / floor_s):.2f} (the floor's rate: {peaks_said})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
