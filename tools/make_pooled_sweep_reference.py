#!/usr/bin/env python3
"""Golden values for `attngraph ablate --all-heads --prompts FILE` and `ablate --heads … --prompts FILE`, computed with Hugging Face transformers
(PyTorch, float32) through forward pre-hooks on each layer's `c_proj`, as tools/make_attribution_reference.py
knocks heads out (its helpers are imported, not copied).

Each text of the file is read alone, with <|endoftext|> first, and every head is knocked out alone in turn, as
zeros and as its means over the text's positions (mean ablation). The figures pool every scored token of every
text: the perplexity over all of them, intact and with each head knocked out, and the mean change of ln p a
token.

What it writes:
  tests/fixtures/pooled_sweep.json
        model, texts, scored_tokens, baseline_perplexity, and for "zero" and "mean" a [layer][head] grid of
        {ablated_perplexity, mean_delta_logprob}; and "set": heads 0.0 and 1.1 knocked out together, for
        "zero" and "mean" the perplexity over every text and each text's, beside each text's intact one

    python tools/make_pooled_sweep_reference.py

Needs: tools/requirements-train.txt (torch, transformers, tokenizers).
"""

import json
import math
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_attribution_reference import FIXTURES, head_means, logprobs  # noqa: E402

# Texts of one line each (the file holds one a line): English, Chinese with emoji, a repeat, a single word.
TEXTS = ["I love tennis.", "我爱网球。 🎾🙂 ok", "the cat sat on the mat, the cat sat on the mat", "Hello"]


def main():
    folder = os.path.join(FIXTURES, "tiny-gpt2")
    model = GPT2LMHeadModel.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    eot = tokenizer.token_to_id("<|endoftext|>")
    texts = [[eot] + tokenizer.encode(t).ids for t in TEXTS]
    base = [logprobs(model, ids, {}) for ids in texts]
    scored = [x for lps in base for x in lps if x is not None]
    n = len(scored)
    out = {
        "generator": "tools/make_pooled_sweep_reference.py",
        "torch": torch.__version__,
        "model": "tiny-gpt2",
        "texts": TEXTS,
        "ids": texts,
        "scored_tokens": n,
        "baseline_perplexity": math.exp(-sum(scored) / n),
    }
    means = [head_means(model, ids) for ids in texts]
    for key, given in (("zero", [None] * len(texts)), ("mean", means)):
        grid = []
        for layer in range(model.config.n_layer):
            row = []
            for head in range(model.config.n_head):
                total, change = 0.0, 0.0
                for ids, b, m in zip(texts, base, given):
                    abl = logprobs(model, ids, {layer: [head]}, m)
                    total += sum(a for a in abl if a is not None)
                    change += sum(a - x for a, x in zip(abl, b) if x is not None)
                row.append({"ablated_perplexity": math.exp(-total / n), "mean_delta_logprob": change / n})
            grid.append(row)
        out[key] = grid
    # A set of heads knocked out together (`ablate --heads 0.0,1.1 --prompts FILE`): the perplexity over every
    # scored token, and each text's own.
    ablated = {0: [0], 1: [1]}
    for key, given in (("zero", [None] * len(texts)), ("mean", means)):
        abls = [logprobs(model, ids, ablated, m) for ids, m in zip(texts, given)]
        total = sum(a for lps in abls for a in lps if a is not None)
        out.setdefault("set", {"heads": [[0, 0], [1, 1]]})[key] = {
            "ablated_perplexity": math.exp(-total / n),
            "per_text": [math.exp(-sum(a for a in lps if a is not None) / (len(lps) - 1)) for lps in abls],
        }
    out["set"]["per_text_baseline"] = [math.exp(-sum(x for x in b if x is not None) / (len(b) - 1)) for b in base]
    assert any(abs(c["mean_delta_logprob"] - d["mean_delta_logprob"]) > 1e-6
               for r, s in zip(out["zero"], out["mean"]) for c, d in zip(r, s)), "the means changed nothing"
    path = os.path.join(FIXTURES, "pooled_sweep.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}: {len(TEXTS)} texts, {n} scored tokens")


if __name__ == "__main__":
    main()
