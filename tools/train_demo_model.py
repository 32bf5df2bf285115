#!/usr/bin/env python3
"""Trains attngraph's demo model: a small GPT-2 (GPT2LMHeadModel) on the English and Chinese text that
tools/corpus/prepare.py writes (--corpus-dir; the shipped model's commands are in assets/demo-model/README.md), or,
as the first edition was, on English prose from Debian's documentation (--corpus).

What it writes, under --out (default assets/demo-model/):
  model.safetensors   the weights in float16, written by `save_pretrained` (tied LM head, `transformer.` keys)
  config.json         the GPT2Config
  tokenizer.json      a byte-level BPE vocabulary of its own (--vocab entries, `<|endoftext|>` is id 0)
  training.json       the run's numbers: sizes, steps, time, the held-out loss and bits per byte

The first edition's corpus (--corpus): the English prose paragraphs (not the code or command listings) of three Debian packages,
`debian-handbook` (The Debian Administrator's Handbook, GPL-2+ or CC-BY-SA-3.0), `debian-reference-en`
(Debian Reference, GPL-2+) and `python3.11-doc` (the Python documentation's tutorial, HOWTOs, FAQ, library and
language reference, What's New; PSF License 2); install them with
`apt-get install debian-handbook debian-reference-en python3.11-doc`. Every 10th file is held out: the model
never sees it, and the held-out loss is measured on it. --corpus wide appends four more packages, their split
after these files, and --corpus wider four more after those.

Induction: some training windows hold a sequence followed by the same sequence again, so that the model has a
reason to learn to copy (an induction head, which needs a previous-token head before it): a quarter repeat a
passage of the text, and a sixth repeat a run of random tokens (half, in the first --warm-steps steps); the rest
are ordinary running text. The held-out loss is measured on ordinary text only. Every 250 steps the script prints
the best previous-token and induction scores on `attngraph heads`'s probe (tools/probe.py), as attngraph computes
them. Options for trying other recipes (the defaults are run 4's, the model shipped before run 10; the model card,
assets/demo-model/README.md, gives the command of the model shipped now): --copy-steps (the copying task alone
first), --copy-alphabet (its runs, and the warm-up's random runs, from fewer ids), --copy-double with
--copy-widen or --copy-widen-below (then double those ids as it goes, at fixed steps or once the copying loss says
the circuit copies them), --copy-gap (other ids between a run and its copy), --copy-dropout, --repeat-gap (other
text between a passage and its repeat), --mask-random-runs, --wte-std, --winit, --wpe-sinusoid (initialisations),
--bf16 (autocast; fast only on CPUs with bfloat16 instructions), --corpus wide and wider (more prose packages,
appended so that the split of the three above holds) and --init-from with --layers (go on from a model this script saved,
with blocks added on top that start as the identity); the model card (assets/demo-model/README.md) lists what
they gave.

Reproducible: one seed fixes the split, the tokenizer, the initialisation and the batches; the step count is
fixed, not a time budget. Run on 2 CPU cores:

    pip install -r tools/requirements-train.txt
    python tools/train_demo_model.py --out /tmp/demo   # run 4's recipe: about 45 minutes on 2 cores alone

Only this script needs Python; the binary embeds what it writes.
"""

import argparse
import copy
import glob
import html.parser
import json
import math
import os
import random
import re
import sys
import time

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.models.gpt2.modeling_gpt2 import GPT2Block

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe import best_scores, fold, induction_probe_ids, probe_length  # noqa: E402

SOURCES = [
    "/usr/share/doc/debian-handbook/html/en-US/*.html",
    "/usr/share/debian-reference/*.en.html",
] + [
    f"/usr/share/doc/python3.11/html/{part}/*.html"
    for part in ("tutorial", "howto", "faq", "library", "reference", "whatsnew", "using", "extending")
]
# `--corpus wide` adds these after the files above, so that the split of those files is unchanged: everyday
# instructions for a desktop (GNOME's help, in Mallard XML, whose paragraphs are `<p>` too) and more of Debian's
# prose (its FAQ, its history, the Developer's Reference).
WIDE_SOURCES = [
    "/usr/share/help/C/gnome-help/*.page",
    "/usr/share/doc/debian/FAQ/*.en.html",
    "/usr/share/doc/debian-history/docs/*.en.html",
    "/usr/share/developers-reference/*.html",
]
WIDE_PACKAGES = "gnome-user-docs debian-faq debian-history developers-reference"
# `--corpus wider` adds these after the wide files, so that the split of those holds too: how-to prose for desktop
# programs (GIMP's manual, LibreOffice's help, whose paragraphs are `<p class="paragraph">`), a home server's user
# manual (FreedomBox) and a school network's (Debian Edu; the bookworm manual only: the bullseye one is mostly the
# same text).
WIDER_SOURCES = [
    "/usr/share/gimp/2.0/help/en/*.html",
    "/usr/share/libreoffice/help/en-US/text/**/*.html",
    "/usr/share/doc/freedombox/manual/en/*.html",
    "/usr/share/doc/debian-edu-doc-en/debian-edu-bookworm-manual.html",
]
WIDER_PACKAGES = "gimp-help-en libreoffice-help-en-us freedombox-doc-en debian-edu-doc-en"
CORPORA = ("base", "wide", "wider")
# The Developer's Reference also ships the whole book as one page (and a contents page and a search page):
# reading it would put every held-out chapter in the training split.
WIDE_LEFT_OUT = {
    "/usr/share/developers-reference/developers-reference.html",
    "/usr/share/developers-reference/index.html",
    "/usr/share/developers-reference/search.html",
}
EOT = "<|endoftext|>"


class Paragraphs(html.parser.HTMLParser):
    """Collects the text of prose paragraphs (`<p>`, LibreOffice's `<p class="paragraph">` and DocBook's
    `<div class="para">`), keeping inline
    markup's text and dropping paragraphs too short to be prose (titles, captions, lone commands)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.depth = 0
        self.parts = []
        self.paragraphs = []
        self.comments = 0

    def handle_starttag(self, tag, attrs):
        if tag == "comment":  # Mallard's editorial notes, not the page's text
            self.comments += 1
        if tag not in ("p", "div"):
            return
        attrs = dict(attrs)
        is_para = (tag == "p" and attrs.get("class") in (None, "paragraph")) or (tag == "div" and attrs.get("class") == "para")
        self.stack.append(is_para)
        if is_para:
            if self.depth == 0:
                self.parts = []
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "comment":
            self.comments -= 1
        if tag not in ("p", "div") or not self.stack:
            return
        if self.stack.pop():
            self.depth -= 1
            if self.depth == 0:
                text = re.sub(r"\s+", " ", "".join(self.parts)).strip()
                if len(text) > 60 and text.count(" ") > 8 and not self.comments:
                    self.paragraphs.append(text)

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def read_corpus(corpus="base"):
    """Returns (train documents, held-out documents, held-out documents of each smaller corpus) of `corpus`
    (one of CORPORA, each the one before it with more packages appended); each document is its list of
    paragraphs. A smaller corpus's files come first, so its held-out documents are the first of `corpus`'s."""
    files = sorted(f for pattern in SOURCES for f in glob.glob(pattern))
    if not files:
        raise SystemExit(
            "no corpus: run `apt-get install debian-handbook debian-reference-en python3.11-doc` first"
        )
    added = [(WIDE_SOURCES, WIDE_PACKAGES), (WIDER_SOURCES, WIDER_PACKAGES)]
    ends = [len(files)]  # where each corpus's files end
    for sources, packages in added[: CORPORA.index(corpus)]:
        found = {pattern: glob.glob(pattern, recursive=True) for pattern in sources}
        missing = [pattern for pattern, paths in found.items() if not paths]
        if missing:
            raise SystemExit(f"--corpus {corpus}: nothing at {missing}: run `apt-get install {packages}` first")
        files += sorted(f for paths in found.values() for f in paths if f not in WIDE_LEFT_OUT)
        ends.append(len(files))
    train, held_out, smaller = [], [], {}
    for index, path in enumerate(files):
        for name, end in zip(CORPORA, ends[:-1]):
            if index == end:
                smaller[name] = list(held_out)
        parser = Paragraphs()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        if parser.paragraphs:
            (held_out if index % 10 == 9 else train).append(parser.paragraphs)
    return train, held_out, smaller


def read_corpus_dir(root):
    """Reads the output of tools/corpus/prepare.py: `root/LANG/{train,heldout}/SOURCE__*.txt`, one document per
    file, paragraphs separated by a blank line. Returns ({language: train documents}, {language: held-out
    documents}, {"LANG/SOURCE": train documents}), languages in sorted order, documents in file-name order."""
    languages = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "train")))
    if not languages:
        raise SystemExit(f"--corpus-dir {root}: no LANG/train folder; run tools/corpus/prepare.py --out {root} first")
    train, held_out, by_source = {}, {}, {}
    for language in languages:
        for split, into in (("train", train), ("heldout", held_out)):
            documents = []
            for path in sorted(glob.glob(os.path.join(root, language, split, "*.txt"))):
                with open(path, encoding="utf-8") as f:
                    paragraphs = [p.strip() for p in f.read().split("\n\n") if p.strip()]
                if paragraphs:
                    documents.append(paragraphs)
                    if split == "train":
                        source = os.path.basename(path).split("__")[0]
                        by_source.setdefault(f"{language}/{source}", []).append(paragraphs)
            into[language] = documents
    return train, held_out, by_source


def page_bits_per_byte(model, tokenizer, path, block):
    """(tokens, bits per byte) of the text file at `path` as `attngraph perplexity` scores it without BOS: the
    ids as the tokenizer gives them, windows of `block` tokens with a stride of half a window (Hugging Face's
    sliding-window recipe), each token after the first scored once; the weights rounded to float16 first, as they
    are saved and shipped."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    encoding = tokenizer.encode(text)
    if len(encoding.ids) < 2:
        raise SystemExit(f"{path}: fewer than two tokens, nothing to score")
    ids = torch.tensor(encoding.ids)
    scored = scored_bytes(text, encoding)
    model = copy.deepcopy(model).half().float()
    stride = block // 2
    nats, previous_end = 0.0, 0
    model.eval()
    with torch.no_grad():
        for begin in range(0, len(ids), stride):
            end = min(begin + block, len(ids))
            window = ids[begin:end].unsqueeze(0)
            logits = model(window).logits[0].float()
            logp = torch.log_softmax(logits[:-1], dim=-1).gather(1, window[0, 1:].unsqueeze(1))[:, 0]
            # Score only the tokens this window is the first to reach: positions previous_end.. (global), but
            # never position 0 (it has no context).
            first = max(previous_end, 1) - begin  # ≥ 1: the first window starts at position 0
            nats -= logp[first - 1 :].sum().item()
            previous_end = end
            if end == len(ids):
                break
    return len(ids), nats / math.log(2) / scored


def scored_bytes(text, encoding):
    """The bytes of `text` that a scoring without BOS is divided by: all but the first token's, which is context
    only (as `attngraph perplexity`). The first token's bytes are counted from its byte-level characters (GPT-2's
    byte ↔ character table, as tokenizers uses), not from its offsets: a token can be part of a character, and
    the offsets would give the whole character."""
    to_byte = {c: b for b, c in enumerate(bytes_to_unicode())}
    return len(text.encode("utf-8")) - len([to_byte[c] for c in encoding.tokens[0]])


def bytes_to_unicode():
    """GPT-2's table from bytes to the printable characters byte-level tokens are written in, as a list indexed
    by byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


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


def grown_model(path, layers, winit, dropout):
    """The model saved at `path` (by this script) with blocks added on top up to `layers`. A new block starts as
    the identity, its two projections into the residual stream zero, so that the model computes what it computed
    before, heads included, and the new blocks learn from there; their other linear weights are drawn with σ
    `winit` (GPT-2's 0.02 when it is None)."""
    model = GPT2LMHeadModel.from_pretrained(path, dtype=torch.float32)
    have = model.config.n_layer
    if layers < have:
        raise SystemExit(f"--init-from {path} has {have} layers; --layers {layers} cannot remove any")
    model.config.n_layer = layers
    model.config.resid_pdrop = model.config.embd_pdrop = dropout
    with torch.no_grad():
        for index in range(have, layers):
            block = GPT2Block(model.config, layer_idx=index)
            for linear in (block.attn.c_attn, block.mlp.c_fc):
                linear.weight.normal_(0.0, 0.02 if winit is None else winit)
                linear.bias.zero_()
            for linear in (block.attn.c_proj, block.mlp.c_proj):
                linear.weight.zero_()
                linear.bias.zero_()
            model.transformer.h.append(block)
    return model


IGNORE = -100  # a label transformers' loss leaves out


def random_run(rng, length, vocab, alphabet=0):
    """`length` random ids below `vocab` (never `<|endoftext|>`'s 0), or from the `alphabet` ids from 1000 up."""
    draw = (lambda: 1000 + rng.randrange(alphabet)) if alphabet else (lambda: rng.randrange(1, vocab))
    return np.array([draw() for _ in range(length)], dtype=np.int64)


def said_twice_labels(run, between=0):
    """Labels for a run of random ids, `between` other ids, then the same run: the first copy, the ids between,
    and the second copy's first id cannot be predicted, so they are left out; every later id of the second copy
    can, by copying."""
    return np.concatenate([np.full(len(run) + between + 1, IGNORE), run[1:]])


def doubled_alphabet(alphabet, step, widen, every, most):
    """The copying ids at `step`: `alphabet` before step `widen`, then twice as many every `every` steps, up to
    `most`."""
    if step < widen:
        return alphabet
    return min(most, alphabet * 2 ** ((step - widen) // every + 1))


def copy_batch(rng, batch_size, block, vocab, eot_id, alphabet=0, max_gap=0):
    """Rows of the copying task alone: `<|endoftext|>`, then runs of 8-60 random ids (`random_run`), each said
    twice; with `max_gap`, up to that many other random ids (unscored) come between the two copies, so that only
    the ids, not how far back the copy is, say where to look."""
    rows, labels = [], []
    for _ in range(batch_size):
        row, label = [np.array([eot_id])], [np.array([IGNORE])]
        while sum(len(part) for part in row) < block:
            run = random_run(rng, rng.randint(8, 60), vocab, alphabet)
            if max_gap:
                gap = random_run(rng, rng.randint(0, max_gap), vocab, alphabet)
                row += [run, gap, run]
                label.append(said_twice_labels(run, len(gap)))
                continue
            row += [run, run]
            label.append(said_twice_labels(run))
        rows.append(np.concatenate(row)[:block])
        labels.append(np.concatenate(label)[:block])
    return torch.from_numpy(np.stack(rows)), torch.from_numpy(np.stack(labels))


def batch(
    rng,
    stream,
    batch_size,
    block,
    repeat_fraction,
    random_fraction,
    vocab,
    mask_random_runs,
    max_gap=0,
    alphabet=0,
    repeat_gap=0,
):
    """Rows of running text; a `repeat_fraction` of them hold a passage said twice (with `repeat_gap`, up to that
    many tokens of other text between the copies), and a `random_fraction` a run of random ids said twice (with
    `mask_random_runs`, scored only where it can be predicted; with `max_gap`, up to that many other random ids
    between the two copies; with `alphabet`, drawn from that many ids)."""
    rows, labels = [], []
    for _ in range(batch_size):
        draw = rng.random()
        if draw < random_fraction:
            gap = random_run(rng, rng.randint(0, max_gap), vocab, alphabet) if max_gap else random_run(rng, 0, vocab)
            half = rng.randint(block // 16, (block - len(gap)) // 2)
            run = random_run(rng, half, vocab, alphabet)
            start = rng.randrange(0, len(stream) - block)
            fill = stream[start : start + block - 2 * half - len(gap)]
            lead, tail = fill[: len(fill) // 2], fill[len(fill) // 2 :]
            row = np.concatenate([lead, run, gap, run, tail])
            if mask_random_runs:
                scored = said_twice_labels(run, len(gap))
            else:
                scored = np.concatenate([run, gap, run])
            label = np.concatenate([lead, scored, tail])
        elif draw < random_fraction + repeat_fraction:
            # With `repeat_gap`, the passage's place and the gap vary, so that how far back the copy lies says
            # nothing; without it, the passage sits back to back in the middle (and draws nothing more).
            between = rng.randint(0, repeat_gap) if repeat_gap else 0
            half = rng.randint(block // 8, (block - between) // 2)
            start = rng.randrange(0, len(stream) - half)
            passage = stream[start : start + half]
            fill = stream[rng.randrange(0, len(stream) - block) :][: block - 2 * half]
            cut = rng.randint(0, len(fill) - between) if repeat_gap else len(fill) // 2
            row = label = np.concatenate([fill[:cut], passage, fill[cut : cut + between], passage, fill[cut + between :]])
        else:
            start = rng.randrange(0, len(stream) - block)
            row = label = stream[start : start + block]
        rows.append(row)
        labels.append(label)
    return torch.from_numpy(np.stack(rows)), torch.from_numpy(np.stack(labels))


def mixed_batch(rng, streams, shares, batch_size, *args, **kwargs):
    """`batch` with each row drawn from one language's stream, chosen with the probabilities `shares` (a list
    parallel to `streams`). With one stream, `batch` itself, so that runs on one stream draw the random numbers
    they drew before streams existed."""
    if len(streams) == 1:
        return batch(rng, streams[0], batch_size, *args, **kwargs)
    rows, labels = [], []
    for _ in range(batch_size):
        stream = rng.choices(streams, weights=shares)[0]
        row, label = batch(rng, stream, 1, *args, **kwargs)
        rows.append(row)
        labels.append(label)
    return torch.cat(rows), torch.cat(labels)


@torch.no_grad()
def probe_scores(model, eot_id, vocab, alphabet=0):
    """The best previous-token and induction scores over the heads on the induction probe of `attngraph heads`
    (tools/probe.py), as attngraph computes them (no exclusions): a head's score is the attention it puts on the
    pattern's cells over all the attention it gives. With `alphabet`, the probe's ids are folded into the ids the
    copying task draws from."""
    model.eval()
    model.set_attn_implementation("eager")  # training runs SDPA, which returns no attention weights
    length = probe_length(model.config.n_positions)
    ids = induction_probe_ids(eot_id, length, vocab)
    ids = np.array(fold(ids, alphabet) if alphabet else ids)
    out = model(torch.from_numpy(ids).unsqueeze(0), output_attentions=True)
    previous, induction = best_scores([layer[0].numpy() for layer in out.attentions], list(ids))
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


def held_out_bits_per_byte(model, stream, size, block):
    """(nats per token, bits per byte) of a held-out `stream` of ids that encodes `size` bytes of text."""
    nats = held_out_loss(model, stream, block)
    # nats per token over the held-out tokens -> bits per byte of the held-out text.
    return nats, nats * (len(stream) - 1) / math.log(2) / size


def document_bytes(documents):
    """The bytes of `documents` as encode_documents reads them (paragraphs joined by a newline)."""
    return sum(len("\n".join(doc).encode("utf-8")) for doc in documents)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "assets", "demo-model"))
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--init-from",
        help="start from the model this script saved there (its weights and its tokenizer, which is kept) instead "
        "of a new one; with --layers above its own, new blocks are added on top, each starting as the identity",
    )
    parser.add_argument(
        "--corpus",
        choices=CORPORA,
        default="base",
        help="base: the three packages above; wide: also " + WIDE_PACKAGES + "; wider: also " + WIDER_PACKAGES
        + " (each appended, so the smaller corpora's split holds)",
    )
    parser.add_argument(
        "--corpus-dir",
        help="read the corpus tools/corpus/prepare.py wrote there (LANG/{train,heldout}/*.txt, check/LANG.txt) "
        "instead of --corpus's packages",
    )
    parser.add_argument(
        "--shares",
        help="with --corpus-dir: the share of training windows each language gets, e.g. en=0.6,zh=0.4 (default: "
        "in proportion to their tokens)",
    )
    parser.add_argument(
        "--checkpoint",
        help="save the whole training state (weights, optimiser, step, random states) to this file every "
        "--checkpoint-every steps; with --resume, go on from it",
    )
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on from --checkpoint, with the options it saved (--steps may change while it is still copying)",
    )
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=256)
    # The sizes default to None so that --init-from can tell them from a choice: a new model takes 4,096, 4, 8
    # and 256; a grown one keeps its own vocabulary, heads and width, and its layers unless --layers adds some.
    parser.add_argument("--vocab", type=int, help="(default 4096)")
    parser.add_argument("--layers", type=int, help="(default 4, or with --init-from the saved model's)")
    parser.add_argument("--heads", type=int, help="(default 8)")
    parser.add_argument("--embd", type=int, help="(default 256)")
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
    parser.add_argument(
        "--wte-std", type=float, help="standard deviation of the token embedding's init (default: GPT-2's 0.02)"
    )
    parser.add_argument(
        "--wpe-sinusoid",
        type=float,
        default=0.0,
        help="start the (learned) position embedding as this multiple of the sinusoids of 'Attention is all you "
        "need' instead of GPT-2's random init (0)",
    )
    parser.add_argument(
        "--winit",
        type=float,
        help="standard deviation of all the blocks' linear weights at init, the projections into the residual "
        "stream included (default: GPT-2's init, 0.02, and 0.02/sqrt(2 layers) for those projections); with "
        "--init-from, of the new blocks' c_attn and c_fc only (their projections start at zero, the saved blocks "
        "stay as they are)",
    )
    parser.add_argument("--bf16", action="store_true", help="train under bfloat16 autocast (weights stay float32)")
    parser.add_argument(
        "--decay-matrices-only",
        action="store_true",
        help="weight decay (0.1) on the blocks' weight matrices only, not on the embeddings, LayerNorms or biases "
        "(without it, every trainable parameter decays, as in runs A-J)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run the training steps through torch.compile (the same model and weights; about 1.4x faster steps on "
        "two cores after a compile of half a minute; the probe and held-out measures stay eager)",
    )
    parser.add_argument("--probe-every", type=int, default=250)
    parser.add_argument(
        "--copy-steps",
        type=int,
        default=0,
        help="steps of the copying task alone (random runs said twice) before the text",
    )
    parser.add_argument(
        "--mask-random-runs",
        action="store_true",
        help="leave the first copy of a random run (which cannot be predicted) out of the loss",
    )
    parser.add_argument("--copy-block", type=int, default=128, help="tokens in a row of the copying task")
    parser.add_argument(
        "--copy-alphabet",
        type=int,
        default=0,
        help="the copying task, and the random runs of the text's first --warm-steps, draw their ids from this many "
        "ids (from 1000 up) instead of the whole vocabulary",
    )
    parser.add_argument(
        "--copy-double",
        type=int,
        default=0,
        help="with --copy-alphabet: from copying step --copy-widen on, double the copying ids every this many steps, "
        "up to all the ids from 1000 up (the probe's); widening them at once breaks the circuit. The text's random "
        "runs then come from the whole vocabulary from its first step",
    )
    parser.add_argument("--copy-widen", type=int, default=0, help="the copying step the doubling starts at")
    parser.add_argument(
        "--copy-widen-below",
        type=float,
        default=0.0,
        help="with --copy-double, instead of --copy-widen: double the copying ids whenever the copying loss "
        "(the mean of the last 50 steps) is below this and --copy-double steps have passed since the last "
        "doubling, so that the ids widen only once the circuit copies them; the copying phase then ends "
        "--copy-double steps after the ids reach the probe's whole range (or at --copy-steps)",
    )
    parser.add_argument(
        "--copy-gap",
        type=int,
        default=0,
        help="up to this many other random ids between a run and its copy (the copying task and the random runs "
        "in the text), so that where to look is found by the ids, not by a fixed distance",
    )
    parser.add_argument(
        "--repeat-gap",
        type=int,
        default=0,
        help="up to this many tokens of other text between a passage and its repeat, the passage anywhere in the "
        "row (0: back to back), so that copying it needs an induction head, not a fixed offset",
    )
    parser.add_argument(
        "--copy-dropout",
        type=float,
        help="residual and embedding dropout during the copying task (default: --dropout); the text phase uses "
        "--dropout",
    )
    parser.add_argument(
        "--freeze-blocks",
        type=int,
        default=0,
        help="keep the first N blocks as they are (no gradient): with --init-from, to train the blocks above on text "
        "without wearing down the heads below (the induction circuit of blocks 0 and 1)",
    )
    parser.add_argument(
        "--freeze-positions",
        action="store_true",
        help="keep the position embedding as it is (no gradient): with --freeze-blocks, the previous-token head's "
        "positions stay as the frozen blocks learned them",
    )
    parser.add_argument(
        "--freeze-tokens",
        action="store_true",
        help="keep the token embedding (tied to the LM head) as it is: with --freeze-blocks and --freeze-positions, "
        "everything the heads of the frozen blocks compute stays exactly as it was, so their probe scores cannot move",
    )
    parser.add_argument(
        "--probe-held-out",
        metavar="LANG",
        help="at each probe, also print the bits per byte of LANG's held-out documents (needs --corpus-dir): to "
        "choose among checkpoints without looking at the check pages",
    )
    args = parser.parse_args()
    if args.copy_widen_below and not (args.copy_alphabet and args.copy_double):
        parser.error("--copy-widen-below needs --copy-alphabet and --copy-double (what to start from, how often to double)")
    if args.copy_widen_below and args.copy_double < 50:
        parser.error("--copy-widen-below needs --copy-double of at least 50: the loss it reads is the last 50 steps'")
    if not 0 <= args.repeat_gap <= args.block - 2 * (args.block // 8):
        parser.error(f"--repeat-gap must be 0 to {args.block - 2 * (args.block // 8)} with --block {args.block}")

    if args.init_from:
        if args.wte_std is not None or args.wpe_sinusoid:
            parser.error("--init-from keeps the model's embeddings: --wte-std and --wpe-sinusoid would draw them again")
        given = [name for name in ("vocab", "heads", "embd") if getattr(args, name) is not None]
        if given:
            parser.error(f"--init-from keeps the saved model's sizes: leave out --{', --'.join(given)}")
        saved = GPT2Config.from_pretrained(args.init_from)
        if args.block > saved.n_positions:
            parser.error(f"--block {args.block} is longer than the saved model's context, {saved.n_positions}")
        args.layers = saved.n_layer if args.layers is None else args.layers
        if args.layers < saved.n_layer:
            parser.error(f"--init-from {args.init_from} has {saved.n_layer} layers; --layers cannot remove any")
    else:
        args.vocab = 4096 if args.vocab is None else args.vocab
        args.layers = 4 if args.layers is None else args.layers
        args.heads = 8 if args.heads is None else args.heads
        args.embd = 256 if args.embd is None else args.embd

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    started = time.time()

    checkpoint = None
    if args.resume:
        if not args.checkpoint or not os.path.exists(args.checkpoint):
            parser.error("--resume needs --checkpoint naming a checkpoint this script saved")
        checkpoint = torch.load(args.checkpoint, weights_only=False)
        started -= checkpoint["seconds"]
        free = {"resume", "checkpoint_every", "threads", "probe_every", "probe_held_out", "compile"}
        if checkpoint["phase"] == "copy":
            # No text step has run yet, so the text phase's length (and its learning-rate schedule) is still open.
            free.add("steps")
        saved_args = checkpoint.get("args", {})
        changed = {
            key: (saved, getattr(args, key))
            for key, saved in saved_args.items()
            if key not in free and getattr(args, key) != saved
        }
        # An option newer than the checkpoint: the run went without it, so it must stay at its default.
        changed.update(
            (key, ("(none)", value))
            for key, value in vars(args).items()
            if saved_args and key not in saved_args and key not in free and value != parser.get_default(key)
        )
        if changed:
            parser.error(
                "--resume with other options than the run saved (saved, given): "
                + ", ".join(f"{key} {old!r} → {new!r}" for key, (old, new) in sorted(changed.items()))
            )
    languages, shares = [], []
    if args.corpus_dir:
        train_by_language, held_by_language, train_by_source = read_corpus_dir(args.corpus_dir)
        languages = list(train_by_language)
        train_docs = [doc for language in languages for doc in train_by_language[language]]
        held_docs = [doc for language in languages for doc in held_by_language[language]]
        smaller_held_docs = {}
    else:
        train_docs, held_docs, smaller_held_docs = read_corpus(args.corpus)
    if checkpoint is not None:
        tokenizer = Tokenizer.from_str(checkpoint["tokenizer"])
    elif args.init_from:
        # The model it grows from reads with its own vocabulary: keep it.
        tokenizer = Tokenizer.from_file(os.path.join(args.init_from, "tokenizer.json"))
    else:
        tokenizer = train_tokenizer(train_docs, args.vocab)
    eot_id = tokenizer.token_to_id(EOT)
    train_stream = encode_documents(tokenizer, train_docs, eot_id)
    streams = [train_stream]
    if args.corpus_dir:
        # One stream per source: a named source gets its share; a named language's share is split among its
        # sources not named, in proportion to their tokens; with no --shares, every source by its tokens.
        groups = sorted(train_by_source)
        streams = [encode_documents(tokenizer, train_by_source[group], eot_id) for group in groups]
        given = {key: float(value) for key, value in (part.split("=") for part in args.shares.split(","))} if args.shares else {}
        unknown = set(given) - set(languages) - set(groups)
        if unknown:
            parser.error(f"--shares names {sorted(unknown)}; the corpus has {languages} and {groups}")
        shares = []
        for group, stream in zip(groups, streams):
            language = group.split("/")[0]
            if not given:
                shares.append(float(len(stream)))
            elif group in given:
                shares.append(given[group])
            elif language in given:
                rest = [len(s) for g, s in zip(groups, streams) if g.startswith(language + "/") and g not in given]
                shares.append(given[language] * len(stream) / sum(rest))
            else:
                parser.error(f"--shares gives {group} nothing: name it or its language")
        for group, stream, share in zip(groups, streams, shares):
            print(f"{group}: {len(stream)} training tokens, share {share / sum(shares):.3f}", flush=True)
        # Every stream must hold more than a window: `batch` draws windows from it, and the held-out loss cuts it
        # into whole windows. Found now rather than when training is over.
        sizes = dict(zip(groups, map(len, streams)))
        for language in languages:
            sizes[f"{language} held out"] = len(encode_documents(tokenizer, held_by_language[language], eot_id))
        for name, tokens in sizes.items():
            if tokens <= args.block:
                parser.error(f"{name}: {tokens} tokens, not more than a window of {args.block}: too few to use")
        languages_shares = {}
        for group, share in zip(groups, shares):
            languages_shares[group] = share / sum(shares)
    held_stream = encode_documents(tokenizer, held_docs, eot_id)
    held_bytes = document_bytes(held_docs)
    probe_held = None
    if args.probe_held_out:
        if not args.corpus_dir:
            parser.error("--probe-held-out needs --corpus-dir (the held-out documents are read from there)")
        if args.probe_held_out not in held_by_language:
            parser.error(
                f"--probe-held-out {args.probe_held_out}: no such language in --corpus-dir "
                f"(it has {', '.join(sorted(held_by_language))})"
            )
        docs = held_by_language[args.probe_held_out]
        probe_held = (encode_documents(tokenizer, docs, eot_id), document_bytes(docs))
    # With a larger corpus, the held-out loss of each smaller one too (smaller_held_docs), comparable with runs
    # on those only.
    print(
        f"corpus: {len(train_docs)} train / {len(held_docs)} held-out documents, "
        f"{len(train_stream)} / {len(held_stream)} tokens",
        flush=True,
    )

    if args.init_from:
        model = grown_model(args.init_from, args.layers, args.winit, args.dropout)
    else:
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
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
    with torch.no_grad():
        # Only what is asked for is drawn again, so that the defaults consume the seed's random numbers as
        # GPT-2's init alone does. A resumed run keeps the weights it saved.
        if args.wte_std is not None and checkpoint is None:
            model.transformer.wte.weight.normal_(0.0, args.wte_std)
        if args.winit is not None and not args.init_from and checkpoint is None:
            for block in model.transformer.h:
                for linear in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
                    linear.weight.normal_(0.0, args.winit)
        if args.wpe_sinusoid and checkpoint is None:
            position = torch.arange(args.block, dtype=torch.float32).unsqueeze(1)
            frequency = torch.exp(torch.arange(0, args.embd, 2, dtype=torch.float32) * (-math.log(10000.0) / args.embd))
            wpe = model.transformer.wpe.weight
            wpe[:, 0::2] = args.wpe_sinusoid * torch.sin(position * frequency)
            wpe[:, 1::2] = args.wpe_sinusoid * torch.cos(position * frequency)
    if not 0 <= args.freeze_blocks <= len(model.transformer.h):
        raise SystemExit(f"--freeze-blocks {args.freeze_blocks}: the model has {len(model.transformer.h)} blocks")
    for block in model.transformer.h[: args.freeze_blocks]:
        block.requires_grad_(False)
    if args.freeze_positions:
        model.transformer.wpe.requires_grad_(False)
    if args.freeze_tokens:
        model.transformer.wte.requires_grad_(False)
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if args.decay_matrices_only:
        # The blocks' weight matrices decay; the embeddings (whose rare rows get little gradient and would shrink
        # towards zero, and with them what the induction probe's random tokens look like), the LayerNorms and
        # the biases do not.
        decayed = [p for name, p in trainable if p.dim() == 2 and ".h." in f".{name}"]
        kept = [p for name, p in trainable if not (p.dim() == 2 and ".h." in f".{name}")]
        groups = [{"params": decayed, "weight_decay": 0.1}, {"params": kept, "weight_decay": 0.0}]
    else:
        groups = [{"params": [p for _, p in trainable], "weight_decay": 0.1}]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    warmup = max(1, args.steps // 30)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    rng = random.Random(args.seed)
    vocab = tokenizer.get_vocab_size()
    if checkpoint is not None:
        rng.setstate(checkpoint["rng"])
        torch.set_rng_state(checkpoint["torch_rng"])

    def save_checkpoint(phase, step, **state):
        """Everything needed to go on from `step` of `phase` as if the run had not stopped (the data order and
        dropout draws included), written whole or not at all."""
        if not args.checkpoint:
            return
        part = args.checkpoint + ".part"
        torch.save(
            {
                "phase": phase,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": rng.getstate(),
                "torch_rng": torch.get_rng_state(),
                "tokenizer": tokenizer.to_str(),
                "seconds": time.time() - started,
                "args": vars(args),
                **state,
            },
            part,
        )
        os.replace(part, args.checkpoint)

    forward = torch.compile(model) if args.compile else model

    def train_step(ids, labels, lr, name, step, last, alphabet=0):
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = forward(ids, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss = loss.item()
        probe = step % args.probe_every == 0 or step == last
        if step % 100 == 0 or probe:
            line = f"{name} step {step} loss {loss:.3f} ({time.time() - started:.0f} s)"
            if probe:
                previous, induction = probe_scores(model, eot_id, vocab)
                line += f" probe: previous-token {previous:.3f}, induction {induction:.3f}"
                if alphabet:
                    previous, induction = probe_scores(model, eot_id, vocab, alphabet)
                    line += f"; folded into the copying ids: {previous:.3f}, {induction:.3f}"
                if probe_held is not None:
                    with torch.no_grad():
                        _, held_bits = held_out_bits_per_byte(model, *probe_held, args.block)
                    line += f"; {args.probe_held_out} held out {held_bits:.3f} bits/byte"
            print(line, flush=True)
        return loss

    def set_dropout(p):
        """The residual and embedding dropout (not the attention weights', which stays 0)."""
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Dropout) and not name.endswith("attn_dropout"):
                module.p = p

    model.train()
    # Phase 1, the copying task alone: runs of random ids said twice, scored only on the second copy.
    # Set on every module, so that a grown model's saved blocks (saved with none) and new blocks agree.
    set_dropout(args.copy_dropout if args.copy_dropout is not None else args.dropout)
    adaptive = bool(args.copy_widen_below and args.copy_alphabet and args.copy_double)
    alphabet, widened_at, losses = args.copy_alphabet, 0, []
    copy_steps_run = args.copy_steps
    first_copy_step, first_text_step = 0, 0
    if checkpoint is not None:
        copy_steps_run = checkpoint.get("copy_steps_run", args.copy_steps)
        if checkpoint["phase"] == "copy":
            first_copy_step = checkpoint["step"]
            alphabet, widened_at, losses = checkpoint["alphabet"], checkpoint["widened_at"], checkpoint["losses"]
        else:
            first_copy_step, first_text_step = args.copy_steps, checkpoint["step"]
        print(f"resumed from {args.checkpoint}: {checkpoint['phase']} step {checkpoint['step']}", flush=True)
    for step in range(first_copy_step, args.copy_steps):
        if adaptive:
            if step - widened_at >= args.copy_double:
                if alphabet >= vocab - 1000:
                    previous, induction = probe_scores(model, eot_id, vocab)
                    print(f"copy: done at step {step}; probe: previous-token {previous:.3f}, induction {induction:.3f}", flush=True)
                    copy_steps_run = step
                    break
                if len(losses) >= 50 and sum(losses[-50:]) / 50 < args.copy_widen_below:
                    alphabet, widened_at = min(vocab - 1000, 2 * alphabet), step
                    print(f"copy step {step}: drawing from {alphabet} ids", flush=True)
        elif alphabet and args.copy_double:
            alphabet = doubled_alphabet(args.copy_alphabet, step, args.copy_widen, args.copy_double, vocab - 1000)
        ids, labels = copy_batch(rng, args.batch, args.copy_block, vocab, eot_id, alphabet, args.copy_gap)
        lr = args.lr * min(1.0, (step + 1) / 50)
        losses.append(train_step(ids, labels, lr, "copy", step, args.copy_steps - 1, args.copy_alphabet))
        losses = losses[-50:]
        if (step + 1) % args.checkpoint_every == 0:
            save_checkpoint(
                "copy", step + 1, alphabet=alphabet, widened_at=widened_at, losses=losses, copy_steps_run=copy_steps_run
            )
    if adaptive and alphabet < vocab - 1000:
        print(f"copy: --copy-steps ran out drawing from {alphabet} ids; the text's random runs use all of them", flush=True)
    # Phase 2, running text, with passages and random runs said twice mixed in. Once the copying ids have been
    # doubled to all of them, the random runs stay on all of them.
    warm_alphabet = 0 if args.copy_double else args.copy_alphabet
    set_dropout(args.dropout)
    for step in range(first_text_step, args.steps):
        ids, labels = mixed_batch(
            rng,
            streams,
            shares or [1.0],
            args.batch,
            args.block,
            args.repeat_fraction,
            args.warm_random_fraction if step < args.warm_steps else args.random_fraction,
            vocab,
            args.mask_random_runs,
            args.copy_gap,
            warm_alphabet if step < args.warm_steps else 0,
            args.repeat_gap,
        )
        train_step(ids, labels, lr_at(step), "text", step, args.steps - 1, args.copy_alphabet if step < args.warm_steps else 0)
        if (step + 1) % args.checkpoint_every == 0 or step == args.steps - 1:
            save_checkpoint("text", step + 1, copy_steps_run=copy_steps_run)

    held, bits_per_byte = held_out_bits_per_byte(model, held_stream, held_bytes, args.block)
    previous, induction = probe_scores(model, eot_id, tokenizer.get_vocab_size())
    print(f"held-out loss {held:.4f} nats/token, {bits_per_byte:.3f} bits/byte", flush=True)
    smaller_held = {}
    by_language = {}
    for language in languages:
        docs = held_by_language[language]
        stream = encode_documents(tokenizer, docs, eot_id)
        _, held_bits = held_out_bits_per_byte(model, stream, document_bytes(docs), args.block)
        entry = {"held_out_bits_per_byte": held_bits}
        page = os.path.join(args.corpus_dir, "check", f"{language}.txt")
        if os.path.exists(page):
            entry["check_page_tokens"], entry["check_page_bits_per_byte"] = page_bits_per_byte(
                model, tokenizer, page, args.block
            )
        by_language[language] = entry
        print(f"{language}: {entry}", flush=True)
    for name, docs in smaller_held_docs.items():
        stream = encode_documents(tokenizer, docs, eot_id)
        _, smaller_held[name] = held_out_bits_per_byte(model, stream, document_bytes(docs), args.block)
        print(f"held-out of --corpus {name}: {smaller_held[name]:.3f} bits/byte", flush=True)
    parent = None
    if args.init_from and os.path.exists(os.path.join(args.init_from, "training.json")):
        with open(os.path.join(args.init_from, "training.json")) as f:
            parent = json.load(f)

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
                "wte_std": args.wte_std,
                "wpe_sinusoid": args.wpe_sinusoid,
                "corpus": args.corpus_dir and os.path.basename(os.path.normpath(args.corpus_dir)) or args.corpus,
                "shares": languages_shares if args.corpus_dir else None,
                "languages": by_language or None,
                "init_from": args.init_from,
                "init_training": parent,
                "copy_steps": args.copy_steps,
                "copy_steps_run": copy_steps_run,
                "copy_block": args.copy_block,
                "mask_random_runs": args.mask_random_runs,
                "copy_alphabet": args.copy_alphabet,
                "copy_gap": args.copy_gap,
                "copy_double": args.copy_double,
                "copy_widen": args.copy_widen,
                "copy_widen_below": args.copy_widen_below,
                "copy_dropout": args.copy_dropout,
                "freeze_blocks": args.freeze_blocks,
                "freeze_positions": args.freeze_positions,
                "freeze_tokens": args.freeze_tokens,
                "repeat_gap": args.repeat_gap,
                "lr": args.lr,
                "winit": args.winit,
                "bf16": args.bf16,
                "compile": args.compile,
                "decay_matrices_only": args.decay_matrices_only,
                "steps": args.steps,
                "batch": args.batch,
                "block": args.block,
                "vocab": tokenizer.get_vocab_size(),
                "layers": model.config.n_layer,
                "heads": model.config.n_head,
                "embd": model.config.n_embd,
                "parameters": sum(p.numel() for p in model.parameters()),
                "train_tokens": int(len(train_stream)),
                "held_out_tokens": int(len(held_stream)),
                "held_out_bytes": held_bytes,
                "held_out_loss_nats_per_token": held,
                "held_out_bits_per_byte": bits_per_byte,
                "base_held_out_bits_per_byte": smaller_held.get("base"),
                "smaller_corpora_held_out_bits_per_byte": smaller_held,
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
