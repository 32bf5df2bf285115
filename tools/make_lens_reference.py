#!/usr/bin/env python3
"""Golden values for `attngraph lens` (the logit lens), computed with Hugging Face transformers and float64.

For each case (model, text, BOS): the model runs with `output_hidden_states=True` (PyTorch, float32, eager
attention). `hidden_states[l]` for l < n_layer is the residual stream entering block l (0: the embeddings); the
script puts it through the final norm and the LM head in float64 (numpy, with the model's own γ, β, ε and LM
head: GPT-2's LayerNorm `ln_f` and tied embedding, or Qwen2's and Llama's RMSNorm `model.norm` and `lm_head`). `hidden_states[n_layer]` already went through `ln_f`: the last row is the model's output. Per layer
and position it writes the top 5 ids and probabilities, ln p of the text's next token, and the entropy in bits.

    python tools/make_lens_reference.py     # writes tests/fixtures/lens_reference.json

Needs: tools/requirements-train.txt.
"""

import json
import math
import os

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
MODELS = {
    "tiny-gpt2": os.path.join(FIXTURES, "tiny-gpt2"),
    "demo": os.path.join(ROOT, "assets", "demo-model"),
    "tiny-gpt2-odd": os.path.join(FIXTURES, "tiny-gpt2-odd"),
    "tiny-qwen2": os.path.join(FIXTURES, "tiny-qwen2"),
    "tiny-llama": os.path.join(FIXTURES, "tiny-llama"),
}
TWICE = "The old man walks to the market every morning. " * 2
CASES = [
    ("demo", TWICE.strip(), True),
    ("demo", "I love tennis. 我愛網球。", False),
    ("tiny-gpt2", "I love tennis. I love tennis.", False),
    ("tiny-gpt2-odd", "Attention is a Markov chain.", True),
    ("tiny-qwen2", "The cat sat on the mat. The cat sat on the mat. 我愛網球", False),
    ("tiny-llama", "The cat sat on the mat. The cat sat on the mat. 🐱", True),
]
TOP = 5


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def case(model, tokenizer, text, bos):
    bos_token = "<s>" if model.config.model_type == "llama" else "<|endoftext|>"
    ids = ([tokenizer.token_to_id(bos_token)] if bos else []) + tokenizer.encode(text, add_special_tokens=False).ids
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    if model.config.model_type == "gpt2":
        t = model.transformer
        gamma = t.ln_f.weight.detach().double().numpy()
        beta = t.ln_f.bias.detach().double().numpy()
        eps = t.ln_f.eps
        wte = t.wte.weight.detach().double().numpy()
        norm = lambda x: layer_norm(x, gamma, beta, eps)  # noqa: E731
    else:
        gamma = model.model.norm.weight.detach().double().numpy()
        eps = model.config.rms_norm_eps
        wte = model.lm_head.weight.detach().double().numpy()
        norm = lambda x: x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * gamma  # noqa: E731
    n_layer = model.config.num_hidden_layers
    layers = []
    for l, h in enumerate(out.hidden_states):
        x = h[0].double().numpy()
        if l < n_layer:
            x = norm(x)
        logits = x @ wte.T
        logits -= logits.max(axis=-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        p = np.exp(logp)
        row = []
        for pos in range(len(ids)):
            top = np.argsort(-logp[pos], kind="stable")[:TOP]
            row.append({
                "top_ids": [int(i) for i in top],
                "top_probs": [float(p[pos, i]) for i in top],
                "next_logprob": float(logp[pos, ids[pos + 1]]) if pos + 1 < len(ids) else None,
                "entropy_bits": float(-(p[pos] * logp[pos]).sum() / math.log(2)),
            })
        layers.append(row)
    return {"text": text, "bos": bos, "ids": ids, "layers": layers}


def main():
    loaded = {}
    cases = []
    for name, text, bos in CASES:
        if name not in loaded:
            model = AutoModelForCausalLM.from_pretrained(MODELS[name], dtype=torch.float32, attn_implementation="eager")
            model.eval()
            loaded[name] = (model, Tokenizer.from_file(os.path.join(MODELS[name], "tokenizer.json")))
        model, tokenizer = loaded[name]
        c = case(model, tokenizer, text, bos)
        c["model"] = name
        cases.append(c)
    path = os.path.join(FIXTURES, "lens_reference.json")
    with open(path, "w") as f:
        json.dump({"generator": "tools/make_lens_reference.py", "torch": torch.__version__, "cases": cases}, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
