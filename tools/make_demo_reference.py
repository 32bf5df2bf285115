#!/usr/bin/env python3
"""Golden values for the demo model (assets/demo-model), computed with Hugging Face transformers (PyTorch,
float32, eager attention) and numpy, for attngraph's tests.

What it writes: tests/fixtures/demo_reference.json with
  cases          for each text, with and without BOS: the ids of the model's own tokenizer (HF tokenizers),
                 every head's attention, log p(x_t | x_<t), rank, entropy, top-5 and the perplexity
                 (the same fields as reference.json, from make_reference.analyse);
  heads          for a sentence said twice (with BOS): the previous-token, induction and sink score of every
                 head, computed with numpy from transformers' attentions (TransformerLens's definition: the share
                 of a head's attention that falls on the pattern), and the best head of each kind;
  probe          the same scores on the induction probe of `attngraph heads` (tools/probe.py: `<|endoftext|>`,
                 50 pseudo-random ids, the same ids again), and the best head of each kind;
  perplexity     the sliding-window perplexity (make_reference.sliding_window) and the bits per byte of
                 tests/fixtures/demo_prose.txt, a page of prose the model never saw.

The weights are stored in float16; transformers loads them as float32 (each value exactly), as attngraph does.

    python tools/make_demo_reference.py

Needs: tools/requirements-train.txt.
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
from make_reference import analyse, sliding_window  # noqa: E402
from probe import head_scores, induction_probe_ids, probe_length  # noqa: E402

ROOT = os.path.join(HERE, "..")
MODEL = os.path.join(ROOT, "assets", "demo-model")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

TEXTS = [
    "I love tennis.",
    "The package manager installs the software and keeps it up to date.",
    "我爱网球。 🎾 emoji and CJK split over byte tokens",
    "  two  spaces\tand a tab",
]

REPEATED = (
    "The system administrator reads the log files every morning. "
    "The system administrator reads the log files every morning."
)


def main():
    model = GPT2LMHeadModel.from_pretrained(MODEL, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    tokenizer = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    eot = tokenizer.token_to_id("<|endoftext|>")
    cases = []
    for text in TEXTS:
        ids = tokenizer.encode(text).ids
        for with_bos in (False, True):
            case = analyse(model, [eot] + ids if with_bos else ids, with_bos)
            case["text"] = text
            cases.append(case)

    def scored(ids):
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True)
        attentions = [a[0].numpy().astype(float) for a in out.attentions]
        scores = head_scores(attentions, ids)
        best = {kind: max(scores, key=lambda s: s[kind]) for kind in ("previous_token", "induction", "sink")}
        return {"ids": ids, "scores": scores, "best": best}

    heads = scored([eot] + tokenizer.encode(REPEATED).ids)
    heads["text"] = REPEATED
    probe = scored(induction_probe_ids(eot, probe_length(model.config.n_positions), model.config.vocab_size))

    with open(os.path.join(FIXTURES, "demo_prose.txt"), encoding="utf-8") as f:
        prose = f.read()
    prose_ids = tokenizer.encode(prose).ids
    n_positions = model.config.n_positions
    windows = sliding_window(model, prose_ids, n_positions, n_positions // 2)
    # Without BOS the first token is context only: its bytes are not scored.
    first_end = tokenizer.encode(prose).offsets[0][1]
    scored_bytes = len(prose.encode("utf-8")) - len(prose[:first_end].encode("utf-8"))
    windows["bits_per_byte"] = windows["nll_sum"] / math.log(2) / scored_bytes
    windows["scored_bytes"] = scored_bytes
    windows["max_length"] = n_positions
    windows["stride"] = n_positions // 2

    reference = {
        "generator": "tools/make_demo_reference.py",
        "torch": torch.__version__,
        "cases": cases,
        "heads": heads,
        "probe": probe,
        "perplexity": windows,
    }
    path = os.path.join(FIXTURES, "demo_reference.json")
    with open(path, "w") as f:
        json.dump(reference, f)
    print(f"wrote {path}")
    for name, part in (("sentence said twice", heads), ("probe", probe)):
        for kind, s in part["best"].items():
            print(f"{name}: best {kind}: layer {s['layer']} head {s['head']} {s[kind]:.3f}")
    print(f"prose: {windows['ppl']['token']:.3f} perplexity, {windows['bits_per_byte']:.3f} bits per byte")


if __name__ == "__main__":
    main()
