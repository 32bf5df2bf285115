#!/usr/bin/env python3
"""Golden values for `attngraph analyze --norms` (what each edge carries, Kobayashi et al. 2020), computed from
Hugging Face transformers' outputs with numpy in float64.

For each case (model, text, BOS) and layer l: x = hidden_states[l] (the residual stream entering block l, from
`output_hidden_states`), then ln_1(x), the values v = ln_1(x) W_V + b_V from `attn.c_attn` (a Conv1D, stored
(in, out)), each head's f_h(x_j) = v_j^h W_O^h with W_O^h its rows of `attn.c_proj`'s weight (the bias belongs to
no edge) — for Qwen2 and Llama, RMSNorm `input_layernorm`, `v_proj` (out, in), the key/value head each query head
reads (grouped-query attention: query head h reads h // (heads / key-value heads)) and its columns of `o_proj` — and with α the attentions transformers outputs: norms[l][h][i][j] = α_ij ‖f_h(x_j)‖,
layer_norms[l][i][j] = ‖Σ_h α^h_ij f_h(x_j)‖, value_norms[l][h][j] = ‖f_h(x_j)‖.

    python tools/make_norms_reference.py     # writes tests/fixtures/norms_reference.json

Needs: tools/requirements-train.txt.
"""

import json
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
    "tiny-qwen2": os.path.join(FIXTURES, "tiny-qwen2"),
    "tiny-llama": os.path.join(FIXTURES, "tiny-llama"),
}
CASES = [
    ("demo", "I love tennis. I love tennis.", True),
    ("tiny-gpt2", "The quick brown fox jumps over the lazy dog.", False),
    ("tiny-qwen2", "I love tennis. 我愛網球。", False),
    ("tiny-llama", "I love tennis. 🐱", True),
]


def np64(t):
    return t.detach().double().numpy()


def layer_norm(x, ln):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + ln.eps) * np64(ln.weight) + np64(ln.bias)


def case(model, tokenizer, text, bos):
    bos_token = "<s>" if model.config.model_type == "llama" else "<|endoftext|>"
    ids = ([tokenizer.token_to_id(bos_token)] if bos else []) + tokenizer.encode(text, add_special_tokens=False).ids
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True, output_attentions=True)
    if model.config.model_type != "gpt2":
        return llama_case(model, out, text, bos, ids)
    cfg = model.config
    c, n_head = cfg.n_embd, cfg.n_head
    d = c // n_head
    t = len(ids)
    norms, layer_norms, value_norms = [], [], []
    for l, block in enumerate(model.transformer.h):
        x = out.hidden_states[l][0].double().numpy()
        h1 = layer_norm(x, block.ln_1)
        qkv = h1 @ np64(block.attn.c_attn.weight) + np64(block.attn.c_attn.bias)
        v = qkv[:, 2 * c:3 * c].reshape(t, n_head, d)
        w_o = np64(block.attn.c_proj.weight)
        f = np.stack([v[:, h, :] @ w_o[h * d:(h + 1) * d, :] for h in range(n_head)])  # (n_head, t, c)
        a = out.attentions[l][0].double().numpy()  # (n_head, t, t)
        vn = np.linalg.norm(f, axis=-1)  # (n_head, t)
        norms.append((a * vn[:, None, :]).tolist())
        summed = np.einsum("hij,hjc->ijc", a, f)
        layer_norms.append(np.linalg.norm(summed, axis=-1).tolist())
        value_norms.append(vn.tolist())
    return {"text": text, "bos": bos, "ids": ids, "norms": norms, "layer_norms": layer_norms,
            "value_norms": value_norms}


def llama_case(model, out, text, bos, ids):
    cfg = model.config
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    d = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    t = len(ids)
    norms, layer_norms, value_norms = [], [], []
    for l, block in enumerate(model.model.layers):
        x = out.hidden_states[l][0].double().numpy()
        ln = block.input_layernorm
        h1 = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + cfg.rms_norm_eps) * np64(ln.weight)
        vp = block.self_attn.v_proj
        v = h1 @ np64(vp.weight).T + (np64(vp.bias) if vp.bias is not None else 0.0)
        v = v.reshape(t, n_kv, d)
        w_o = np64(block.self_attn.o_proj.weight)  # (out, in)
        group = n_head // n_kv
        f = np.stack([v[:, h // group, :] @ w_o[:, h * d:(h + 1) * d].T for h in range(n_head)])  # (n_head, t, c)
        a = out.attentions[l][0].double().numpy()
        vn = np.linalg.norm(f, axis=-1)
        norms.append((a * vn[:, None, :]).tolist())
        summed = np.einsum("hij,hjc->ijc", a, f)
        layer_norms.append(np.linalg.norm(summed, axis=-1).tolist())
        value_norms.append(vn.tolist())
    return {"text": text, "bos": bos, "ids": ids, "norms": norms, "layer_norms": layer_norms,
            "value_norms": value_norms}


def main():
    cases = []
    for name, text, bos in CASES:
        model = AutoModelForCausalLM.from_pretrained(MODELS[name], dtype=torch.float32, attn_implementation="eager")
        model.eval()
        tokenizer = Tokenizer.from_file(os.path.join(MODELS[name], "tokenizer.json"))
        c = case(model, tokenizer, text, bos)
        c["model"] = name
        cases.append(c)
    path = os.path.join(FIXTURES, "norms_reference.json")
    with open(path, "w") as f:
        json.dump({"generator": "tools/make_norms_reference.py", "torch": torch.__version__, "cases": cases}, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
