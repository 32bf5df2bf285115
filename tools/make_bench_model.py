#!/usr/bin/env python3
"""Writes a GPT-2-small-shaped model with random weights (12 layers × 12 heads, 768 wide, 50257 vocabulary,
1024 positions) for benchmarks that need the real shape but not the real weights: the Hub cannot be reached
from the machines that build attngraph.

Usage: python tools/make_bench_model.py OUT_DIR [--tokenizer tests/fixtures/tiny-gpt2/tokenizer.json]
"""

import argparse
import os
import shutil

import torch
from transformers import GPT2Config, GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "..", "tests", "fixtures", "tiny-gpt2", "tokenizer.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    model.save_pretrained(args.out, safe_serialization=True)
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
