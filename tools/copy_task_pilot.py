#!/usr/bin/env python3
"""A pilot for the demo model's induction head: trains a small GPT2LMHeadModel on the copying task alone (rows of
`<|endoftext|>`, then runs of 8-60 random ids, each said twice; only the predictable part of each second copy is
scored) and prints the loss and the best previous-token and induction scores on `attngraph heads`'s probe.

It measures how soon a shape and an initialisation leave the plateaus (loss at ln V: nothing learned; near
ln(run length): the in-context unigram, which copies without an induction head) at a few seconds a hundred
steps, before a full run of tools/train_demo_model.py. Arguments are key=value:

    python tools/copy_task_pilot.py layers=2 embd=128 heads=4 steps=1000 alphabet=256 wte=0.1 sin=0.1 winit=0.088

  layers, embd, heads   the model's shape (vocabulary 4,096, context 256)
  block, batch, lr      tokens a row, rows a step, AdamW's learning rate (warm-up over 50 steps)
  wte                   the token embedding's init standard deviation (GPT-2: 0.02)
  sin                   the position embedding starts as this multiple of the sinusoids (0: GPT-2's init)
  winit                 the blocks' linear weights' init standard deviation (0: GPT-2's 0.02)
  alphabet              draw the runs from this many ids (from 1000 up) instead of the whole vocabulary (0); the
                        probe's ids are then folded into the same ids
  widen                 from this step on, draw from the whole vocabulary (the alphabet only before it); the probe
                        is printed both folded and whole
  double                with widen: instead of the whole vocabulary at once, double the alphabet every this many
                        steps from step widen on, up to the probe's ids (1000 .. 4095)
  gap                   up to this many other random ids (unscored) between a run and its copy (0: none), so that
                        how far back the copy lies does not tell where to look
  bf16                  1: train under bfloat16 autocast, as --bf16 does in the training script
  steps, every          steps, and how often to print
  save                  a folder to save the trained model in (save_pretrained)
"""

import math
import os
import random
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe import best_scores, fold, induction_probe_ids, probe_length  # noqa: E402
from train_demo_model import copy_batch, doubled_alphabet  # noqa: E402

VOCAB, CONTEXT = 4096, 256


def main():
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    known = {"layers", "embd", "heads", "block", "batch", "lr", "wte", "sin", "winit", "alphabet", "steps", "every", "save", "gap", "widen", "double", "bf16"}
    if set(args) - known:
        raise SystemExit(f"unknown arguments {sorted(set(args) - known)}; known: {sorted(known)}")
    get = lambda key, default: type(default)(args.get(key, default))  # noqa: E731
    block, batch, lr, steps, every = get("block", 128), get("batch", 16), get("lr", 2e-3), get("steps", 1000), get("every", 100)
    embd, alphabet = get("embd", 128), get("alphabet", 0)
    torch.manual_seed(1)
    rng = random.Random(1)
    torch.set_num_threads(2)
    config = GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=embd, n_layer=get("layers", 2), n_head=get("heads", 4),
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        if get("winit", 0.0):
            for b in model.transformer.h:
                for linear in (b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj):
                    linear.weight.normal_(0.0, get("winit", 0.0))
        model.transformer.wte.weight.normal_(0.0, get("wte", 0.02))
        if get("sin", 0.0):
            position = torch.arange(float(CONTEXT)).unsqueeze(1)
            frequency = torch.exp(torch.arange(0, embd, 2).float() * (-math.log(1e4) / embd))
            model.transformer.wpe.weight[:, 0::2] = get("sin", 0.0) * torch.sin(position * frequency)
            model.transformer.wpe.weight[:, 1::2] = get("sin", 0.0) * torch.cos(position * frequency)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))

    @torch.no_grad()
    def probe(alphabet):
        model.eval()
        model.set_attn_implementation("eager")
        half = probe_length(CONTEXT)
        ids = induction_probe_ids(0, half, VOCAB)
        if alphabet:
            # The runs were drawn from ids 1000 .. 1000 + alphabet; the probe is folded into them, so that it
            # scores induction on embeddings the pilot trained.
            ids = fold(ids, alphabet)
        attentions = [a[0].numpy() for a in model(torch.tensor([ids]), output_attentions=True).attentions]
        previous, induction = best_scores(attentions, ids)
        model.set_attn_implementation("sdpa")
        model.train()
        return previous, induction

    started = time.time()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 50)
        drawn = alphabet
        if "widen" in args and step >= get("widen", 0):
            if "double" in args:
                drawn = doubled_alphabet(alphabet, step, get("widen", 0), get("double", 1), VOCAB - 1000)
            else:
                drawn = 0
        ids, labels = copy_batch(rng, batch, block, VOCAB, 0, drawn, get("gap", 0))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(get("bf16", 0))):
            loss = model(ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % every == 0 or step == steps - 1:
            previous, induction = probe(alphabet)
            line = f"step {step} loss {loss.item():.3f} previous-token {previous:.3f} induction {induction:.3f}"
            if "widen" in args and alphabet:
                previous, induction = probe(0)
                line += f" (whole probe: {previous:.3f}, {induction:.3f}; drawing from {drawn or VOCAB - 1} ids)"
            print(f"{line} ({time.time() - started:.0f} s)", flush=True)
    if "save" in args:
        model.save_pretrained(args["save"])


if __name__ == "__main__":
    main()
