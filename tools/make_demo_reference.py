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
  pages          for each check page (tests/fixtures/check_en.txt, everyday English narrative, and
                 tests/fixtures/check_zh.txt, everyday Traditional Chinese; sources that gave the model nothing
                 to train on): the sliding-window perplexity (make_reference.sliding_window) and the bits per
                 byte, as `attngraph perplexity` reports them.

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
from train_demo_model import scored_bytes  # noqa: E402

ROOT = os.path.join(HERE, "..")
MODEL = os.path.join(ROOT, "assets", "demo-model")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

TEXTS = [
    "I love tennis.",
    "我愛網球。",
    "She opened the door and saw that the garden was full of snow.",
    "我爱网球。 🎾 emoji, Simplified characters and a rare 龘",
    "  two  spaces\tand a tab",
]

REPEATED = "The old man walks to the market every morning. The old man walks to the market every morning."

PAGES = {"en": "check_en.txt", "zh": "check_zh.txt"}


def scored_page(model, tokenizer, page):
    """The sliding-window perplexity of a page without BOS, as `attngraph perplexity` computes it by default,
    and its bits per byte: the windows' summed negative log-likelihood over the bytes of the scored tokens (the
    first token is context only, so its bytes are left out; the page is read as it is, CRLF kept)."""
    encoding = tokenizer.encode(page)
    n_positions = model.config.n_positions
    windows = sliding_window(model, encoding.ids, n_positions, n_positions // 2)
    scored = scored_bytes(page, encoding)
    windows["bits_per_byte"] = windows["nll_sum"] / math.log(2) / scored
    windows["scored_bytes"] = scored
    windows["max_length"] = n_positions
    windows["stride"] = n_positions // 2
    return windows


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

    pages = {}
    for language, name in PAGES.items():
        with open(os.path.join(FIXTURES, name), encoding="utf-8", newline="") as f:
            page = f.read()
        pages[language] = scored_page(model, tokenizer, page)
        pages[language]["file"] = name

    reference = {
        "generator": "tools/make_demo_reference.py",
        "torch": torch.__version__,
        "cases": cases,
        "heads": heads,
        "probe": probe,
        "pages": pages,
    }
    path = os.path.join(FIXTURES, "demo_reference.json")
    with open(path, "w") as f:
        json.dump(reference, f)
    print(f"wrote {path}")
    for name, part in (("sentence said twice", heads), ("probe", probe)):
        for kind, s in part["best"].items():
            print(f"{name}: best {kind}: layer {s['layer']} head {s['head']} {s[kind]:.3f}")
    for language, windows in pages.items():
        print(
            f"{windows['file']}: {windows['tokens']} tokens, {windows['ppl']['token']:.3f} perplexity, "
            f"{windows['bits_per_byte']:.3f} bits per byte"
        )


if __name__ == "__main__":
    main()
