#!/usr/bin/env python3
"""Trains attngraph's demo model: a small GPT-2 (GPT2LMHeadModel) on English prose from Debian's documentation.

What it writes, under --out (default assets/demo-model/):
  model.safetensors   the weights in float16, written by `save_pretrained` (tied LM head, `transformer.` keys)
  config.json         the GPT2Config
  tokenizer.json      a byte-level BPE vocabulary of its own (4,096 entries, `<|endoftext|>` is id 0)
  training.json       the run's numbers: sizes, steps, time, the held-out loss and bits per byte

The corpus: the English prose paragraphs (not the code or command listings) of three Debian packages,
`debian-handbook` (The Debian Administrator's Handbook, GPL-2+ or CC-BY-SA-3.0), `debian-reference-en`
(Debian Reference, GPL-2+) and `python3.11-doc` (the Python documentation's tutorial, HOWTOs, FAQ, library and
language reference, What's New; PSF License 2); install them with
`apt-get install debian-handbook debian-reference-en python3.11-doc`. Every 10th HTML file is held out: the
model never sees it, and the held-out loss is measured on it.

Induction: some training windows hold a sequence followed by the same sequence again, so that the model has a
reason to learn to copy (an induction head, which needs a previous-token head before it): a quarter repeat a
passage of the text, and a sixth repeat a run of random tokens (half, in the first --warm-steps steps); the rest
are ordinary running text. The held-out loss is measured on ordinary text only. Every 250 steps the script prints
the best previous-token and induction scores on a repeated random probe, as `attngraph heads` computes them.

Reproducible: one seed fixes the split, the tokenizer, the initialisation and the batches; the step count is
fixed, not a time budget. Run on 2 CPU cores:

    pip install -r tools/requirements-train.txt
    python tools/train_demo_model.py            # about 45 minutes on 2 cores alone (0.9 s a step here)

Only this script needs Python; the binary embeds what it writes.
"""

import argparse
import glob
import html.parser
import json
import math
import os
import random
import re
import time

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel

SOURCES = [
    "/usr/share/doc/debian-handbook/html/en-US/*.html",
    "/usr/share/debian-reference/*.en.html",
] + [
    f"/usr/share/doc/python3.11/html/{part}/*.html"
    for part in ("tutorial", "howto", "faq", "library", "reference", "whatsnew", "using", "extending")
]
EOT = "<|endoftext|>"


class Paragraphs(html.parser.HTMLParser):
    """Collects the text of prose paragraphs (`<p>` and DocBook's `<div class="para">`), keeping inline
    markup's text and dropping paragraphs too short to be prose (titles, captions, lone commands)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.depth = 0
        self.parts = []
        self.paragraphs = []

    def handle_starttag(self, tag, attrs):
        if tag not in ("p", "div"):
            return
        attrs = dict(attrs)
        is_para = (tag == "p" and attrs.get("class") is None) or (tag == "div" and attrs.get("class") == "para")
        self.stack.append(is_para)
        if is_para:
            if self.depth == 0:
                self.parts = []
            self.depth += 1

    def handle_endtag(self, tag):
        if tag not in ("p", "div") or not self.stack:
            return
        if self.stack.pop():
            self.depth -= 1
            if self.depth == 0:
                text = re.sub(r"\s+", " ", "".join(self.parts)).strip()
                if len(text) > 60 and text.count(" ") > 8:
                    self.paragraphs.append(text)

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def read_corpus():
    """Returns (train documents, held-out documents); each document is its list of paragraphs."""
    files = sorted(f for pattern in SOURCES for f in glob.glob(pattern))
    if not files:
        raise SystemExit(
            "no corpus: run `apt-get install debian-handbook debian-reference-en python3.11-doc` first"
        )
    train, held_out = [], []
    for index, path in enumerate(files):
        parser = Paragraphs()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        if parser.paragraphs:
            (held_out if index % 10 == 9 else train).append(parser.paragraphs)
    return train, held_out


def train_tokenizer(documents, vocab_size):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator((p for doc in documents for p in doc), trainer=trainer)
    return tokenizer


def encode_documents(tokenizer, documents, eot_id):
    """One stream of ids: paragraphs joined by a newline, documents separated by `<|endoftext|>`."""
    stream = []
    for doc in documents:
        stream.append(eot_id)
        stream.extend(tokenizer.encode("\n".join(doc)).ids)
    return np.array(stream, dtype=np.int64)


def batch(rng, stream, batch_size, block, repeat_fraction, random_fraction, vocab):
    rows = []
    for _ in range(batch_size):
        draw = rng.random()
        if draw < random_fraction:
            half = rng.randint(block // 16, block // 2)
            run = np.array([rng.randrange(1, vocab) for _ in range(half)], dtype=np.int64)
            start = rng.randrange(0, len(stream) - block)
            fill = stream[start : start + block - 2 * half]
            row = np.concatenate([fill[: len(fill) // 2], run, run, fill[len(fill) // 2 :]])
        elif draw < random_fraction + repeat_fraction:
            half = rng.randint(block // 8, block // 2)
            start = rng.randrange(0, len(stream) - half)
            passage = stream[start : start + half]
            fill = stream[rng.randrange(0, len(stream) - block) :][: block - 2 * half]
            lead = fill[: len(fill) // 2]
            row = np.concatenate([lead, passage, passage, fill[len(fill) // 2 :]])
        else:
            start = rng.randrange(0, len(stream) - block)
            row = stream[start : start + block]
        rows.append(row)
    return torch.from_numpy(np.stack(rows))


@torch.no_grad()
def probe_scores(model, eot_id, vocab, seed, length=50):
    """The best previous-token and induction scores over the heads, as `attngraph heads` computes them
    (no exclusions): on `<|endoftext|>` + `length` random ids (from 1000 up) + the same ids again, a head's
    score is the attention it puts on the pattern's cells over all the attention it gives."""
    model.eval()
    model.set_attn_implementation("eager")  # training runs SDPA, which returns no attention weights
    rng = np.random.default_rng(seed)
    half = rng.integers(1000, vocab, size=length)
    ids = np.concatenate([[eot_id], half, half])
    out = model(torch.from_numpy(ids).unsqueeze(0), output_attentions=True)
    n = len(ids)
    previous, induction = 0.0, 0.0
    for layer in out.attentions:
        a = layer[0].double()  # [head, n, n]
        total = a.sum(dim=(1, 2))
        prev = torch.stack([a[:, i, i - 1] for i in range(1, n)], dim=1).sum(dim=1)
        # In the second copy, token i's earlier copy is i - length, and the token after it is i - length + 1.
        ind = torch.stack([a[:, i, i - length + 1] for i in range(length + 1, n)], dim=1).sum(dim=1)
        previous = max(previous, (prev / total).max().item())
        induction = max(induction, (ind / total).max().item())
    model.set_attn_implementation("sdpa")
    model.train()
    return previous, induction


@torch.no_grad()
def held_out_loss(model, stream, block):
    """Mean cross-entropy (nats per predicted token) over the held-out stream cut into whole blocks."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(stream) - block, block):
        ids = torch.from_numpy(stream[start : start + block]).unsqueeze(0)
        out = model(ids, labels=ids)
        total += out.loss.item() * (block - 1)
        count += block - 1
    model.train()
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "assets", "demo-model"))
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--embd", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--repeat-fraction", type=float, default=0.25)
    parser.add_argument("--random-fraction", type=float, default=1 / 6)
    parser.add_argument(
        "--warm-steps",
        type=int,
        default=600,
        help="the first steps draw --warm-random-fraction of their rows from repeated random runs",
    )
    parser.add_argument("--warm-random-fraction", type=float, default=0.5)
    parser.add_argument("--dropout", type=float, default=0.1, help="residual and embedding dropout")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    started = time.time()

    train_docs, held_docs = read_corpus()
    tokenizer = train_tokenizer(train_docs, args.vocab)
    eot_id = tokenizer.token_to_id(EOT)
    train_stream = encode_documents(tokenizer, train_docs, eot_id)
    held_stream = encode_documents(tokenizer, held_docs, eot_id)
    held_bytes = sum(len("\n".join(doc).encode("utf-8")) for doc in held_docs)
    print(
        f"corpus: {len(train_docs)} train / {len(held_docs)} held-out documents, "
        f"{len(train_stream)} / {len(held_stream)} tokens",
        flush=True,
    )

    config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(),
        n_positions=args.block,
        n_embd=args.embd,
        n_layer=args.layers,
        n_head=args.heads,
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        # No dropout on attention weights: it blurs the sharp patterns (previous token, induction) the demo is for.
        attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    warmup = max(1, args.steps // 30)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    rng = random.Random(args.seed)
    model.train()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        ids = batch(
            rng,
            train_stream,
            args.batch,
            args.block,
            args.repeat_fraction,
            args.warm_random_fraction if step < args.warm_steps else args.random_fraction,
            tokenizer.get_vocab_size(),
        )
        loss = model(ids, labels=ids).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step == args.steps - 1:
            line = f"step {step} loss {loss.item():.3f} ({time.time() - started:.0f} s)"
            if step % 250 == 0 or step == args.steps - 1:
                previous, induction = probe_scores(model, eot_id, tokenizer.get_vocab_size(), args.seed)
                line += f" probe: previous-token {previous:.3f}, induction {induction:.3f}"
            print(line, flush=True)

    held = held_out_loss(model, held_stream, args.block)
    previous, induction = probe_scores(model, eot_id, tokenizer.get_vocab_size(), args.seed)
    # nats per token over the held-out tokens -> bits per byte of the held-out text.
    bits_per_byte = held * (len(held_stream) - 1) / math.log(2) / held_bytes
    print(f"held-out loss {held:.4f} nats/token, {bits_per_byte:.3f} bits/byte", flush=True)

    os.makedirs(args.out, exist_ok=True)
    model.config.attn_pdrop = model.config.resid_pdrop = model.config.embd_pdrop = 0.0
    model.half().save_pretrained(args.out, safe_serialization=True)
    tokenizer.save(os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(
            {
                "seed": args.seed,
                "repeat_fraction": args.repeat_fraction,
                "random_fraction": args.random_fraction,
                "warm_steps": args.warm_steps,
                "warm_random_fraction": args.warm_random_fraction,
                "dropout": args.dropout,
                "steps": args.steps,
                "batch": args.batch,
                "block": args.block,
                "vocab": tokenizer.get_vocab_size(),
                "layers": args.layers,
                "heads": args.heads,
                "embd": args.embd,
                "parameters": sum(p.numel() for p in model.parameters()),
                "train_tokens": int(len(train_stream)),
                "held_out_tokens": int(len(held_stream)),
                "held_out_bytes": held_bytes,
                "held_out_loss_nats_per_token": held,
                "held_out_bits_per_byte": bits_per_byte,
                "probe_best_previous_token": previous,
                "probe_best_induction": induction,
                "seconds": round(time.time() - started),
                "torch": torch.__version__,
            },
            f,
            indent=2,
        )
        f.write("\n")


if __name__ == "__main__":
    main()
