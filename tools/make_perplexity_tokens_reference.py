#!/usr/bin/env python3
"""Writes tests/fixtures/perplexity_tokens_reference.json: each scored token's negative log-likelihood in Hugging
Face's sliding-window loop ("Perplexity of fixed-length models"), for the committed tiny-gpt2 fixture, and the
bytes of the text those tokens hold (bits per byte divides by them).

The guide's loop asks the model for one mean loss per window. Here each window's logits are taken from the same
call and the loss is split per token with `CrossEntropyLoss(reduction="none")` over the same shifted labels;
the script checks that the mean of the split losses is the model's own loss before it writes anything.

A token's bytes run from the end of the token before it to its own end (the first token's from the text's start),
so that with every token scored they are the whole text; where the stride equals the window, each window's first
token is not scored, and its bytes are not counted.

Reads tests/fixtures/tiny-gpt2 (written by tools/make_reference.py) and tests/fixtures/perplexity_text.txt; it
does not change the model. Needs torch and transformers: `python tools/make_perplexity_tokens_reference.py`.
"""

import itertools
import json
import os

import torch
from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")


def bytes_to_unicode():
    """GPT-2's byte-level alphabet (OpenAI's encoder.py): each byte as the character its vocabulary writes it
    with, printable bytes as themselves and the rest moved past 255."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def per_token(model, ids, max_length, stride):
    """(position, nll) of every token the guide's loop scores, positions counted in `ids`."""
    seq_len = len(ids)
    input_all = torch.tensor([ids])
    out = []
    prev_end = 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        input_ids = input_all[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            result = model(input_ids, labels=target_ids)
        labels = target_ids[0, 1:]
        losses = torch.nn.functional.cross_entropy(result.logits[0, :-1].double(), labels, reduction="none")
        kept = labels != -100
        mean = float(losses[kept].mean())
        assert abs(mean - float(result.loss)) <= 1e-5 * max(1.0, abs(mean)), (mean, float(result.loss))
        for j in torch.nonzero(kept).flatten().tolist():
            out.append((begin + 1 + j, float(losses[j])))
        prev_end = end
        if end == seq_len:
            break
    return out


def main():
    model_dir = os.path.join(FIXTURES, "tiny-gpt2")
    model = GPT2LMHeadModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    bos = tok.convert_tokens_to_ids("<|endoftext|>")
    long_text = open(os.path.join(FIXTURES, "perplexity_text.txt"), encoding="utf-8").read()
    cases = []
    for name, text, max_length, stride, with_bos in (
        ("long", long_text, 64, 32, False),
        ("long", long_text, 64, 32, True),
        ("long", long_text, 16, 5, False),
        ("long", long_text, 16, 16, False),
        ("long", long_text, 16, 16, True),
    ):
        text_ids = tok(text)["input_ids"]
        ids = ([bos] if with_bos else []) + text_ids
        scored = per_token(model, ids, max_length, stride)
        # Each token's end in bytes, from the bytes GPT-2's byte-level vocabulary gives each token (the
        # tokenizer's offsets count characters, and give a character split over tokens to all of them).
        to_byte = {c: b for b, c in bytes_to_unicode().items()}
        ends = list(itertools.accumulate(len(tok.convert_ids_to_tokens(i)) for i in text_ids))
        assert b"".join(bytes(to_byte[c] for c in tok.convert_ids_to_tokens(i)) for i in text_ids) == text.encode("utf-8")
        lead = 1 if with_bos else 0
        scored_positions = {p for p, _ in scored}
        unscored_bytes, before = 0, 0
        for i, end in enumerate(ends):
            if i + lead not in scored_positions:
                unscored_bytes += end - before
            before = end
        cases.append({
            "text": name, "max_length": max_length, "stride": stride, "bos": with_bos,
            "positions": [p for p, _ in scored], "nll": [n for _, n in scored],
            "scored_bytes": len(text.encode("utf-8")) - unscored_bytes,
        })
    with open(os.path.join(FIXTURES, "perplexity_tokens_reference.json"), "w") as f:
        json.dump({"generator": "tools/make_perplexity_tokens_reference.py", "torch": torch.__version__,
                   "transformers": __import__("transformers").__version__, "cases": cases}, f)
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
