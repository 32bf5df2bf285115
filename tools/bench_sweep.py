#!/usr/bin/env python3
"""Times the ablation sweep (every head knocked out alone, the log-probability of every token each time) in
attngraph and in Hugging Face transformers side by side, and prints the ratios and the CPU.

transformers runs it the way its users do: one forward pass per head, with a pre-hook on that layer's
`attn.c_proj` zeroing the head's columns, default attention (SDPA: no attentions are output), float32,
--threads threads, model loaded once. attngraph runs `attngraph ablate --all-heads --format json` as a whole
process (model load included) on the same random GPT-2-small-shaped weights (12 layers × 12 heads, 768 wide,
50257 vocabulary) and the same tokens, and also a single full analysis for scale. Both are checked to agree.

Usage:
  cargo build --release
  python tools/bench_sweep.py [--tokens 16,64] [--repeat 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from benchlib import cpu_name

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
TOKENIZER = os.path.join(ROOT, "tests", "fixtures", "tiny-gpt2", "tokenizer.json")
WORDS = (
    "the people of the town walked to the river every morning to see the boats come in and to talk about "
    "the weather the prices and the news from the city across the water where the markets were busy"
).split()


def torch_sweep(model, ids):
    cfg = model.config
    d = cfg.n_embd // cfg.n_head
    x = torch.tensor([ids])
    target = x[0, 1:]
    with torch.no_grad():
        base = torch.log_softmax(model(x).logits[0, :-1].double(), -1).gather(1, target[:, None])[:, 0]
        out = []
        for layer in range(cfg.n_layer):
            row = []
            for head in range(cfg.n_head):

                def zero(_m, args, head=head):
                    y = args[0].clone()
                    y[..., head * d : (head + 1) * d] = 0
                    return (y,)

                hook = model.transformer.h[layer].attn.c_proj.register_forward_pre_hook(zero)
                lp = torch.log_softmax(model(x).logits[0, :-1].double(), -1).gather(1, target[:, None])[:, 0]
                hook.remove()
                row.append(math_ppl(lp))
            out.append(row)
    return math_ppl(base), out


def math_ppl(lp):
    return float(torch.exp(-lp.mean()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="16,64")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "attngraph"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    folder = tempfile.mkdtemp(prefix="attngraph-sweep-")
    try:
        model.save_pretrained(folder, safe_serialization=True)
        shutil.copy(TOKENIZER, os.path.join(folder, "tokenizer.json"))
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(TOKENIZER)
        print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}, {args.threads} threads")
        print(f"{'tokens':>6} {'attngraph s':>12} {'transformers s':>15} {'ratio':>7}  agree")
        for n in (int(t) for t in args.tokens.split(",")):
            text = ""
            i = 0
            while True:
                text += ("" if not text else " ") + WORDS[i % len(WORDS)]
                i += 1
                if len(tokenizer.encode(text).ids) >= n:
                    break
            ids = tokenizer.encode(text).ids
            ours, theirs, report = [], [], None
            for _ in range(args.repeat):
                start = time.perf_counter()
                run = subprocess.run(
                    [args.binary, "ablate", "--model", folder, "--text", text, "--all-heads", "--format", "json",
                     "--quiet"],
                    capture_output=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                )
                ours.append(time.perf_counter() - start)
                report = json.loads(run.stdout)
                start = time.perf_counter()
                base, sweep = torch_sweep(model, ids)
                theirs.append(time.perf_counter() - start)
            worst = max(
                abs(report["sweep"][l][h]["ablated_perplexity"] / sweep[l][h] - 1)
                for l in range(len(sweep))
                for h in range(len(sweep[l]))
            )
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{len(ids):>6} {a:>12.2f} {b:>15.2f} {a / b:>6.2f}×  max rel. diff {worst:.1e}")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
