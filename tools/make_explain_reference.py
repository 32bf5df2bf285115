#!/usr/bin/env python3
"""Golden values for `attngraph explain` (the lesson's numbers), computed with Hugging Face transformers
(PyTorch, float32, eager attention) and numpy (float64), for attngraph's tests.

For each case (model, text, BOS, head): the head's pre-softmax scores QKᵀ/√d before the mask (a hook on the
attention's input, as make_reference.scores_of), its attention matrix, and each token's log-probability; then
numpy gives ‖S − Sᵀ‖_F / ‖S‖_F, the mean over rows of (A^k)[i][0] for k = 1..8 (numpy.linalg.matrix_power),
whether rows sum to 1, whether the graph without self-loops is acyclic, the absorbing tokens, and the joint
log-probability, perplexity, bits and bits per byte (bytes after the first token when there is no BOS).
For the lesson's questions (`attngraph lesson`): d_head, S[last][0] and S[0][last], where the last token looks
most and its row's entropy, the heaviest column, the drain of the uniform causal matrix of the same size, the
positions whose pair (x_{t-1}, x_t) occurred earlier (and where first), and the text's size through Python's
gzip module at level 9.

    python tools/make_explain_reference.py      # writes tests/fixtures/explain_reference.json

Needs: tools/requirements-train.txt.
"""

import gzip
import json
import math
import os
import sys

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_reference import scores_of  # noqa: E402

ROOT = os.path.join(HERE, "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
MODELS = {
    "tiny-gpt2": os.path.join(FIXTURES, "tiny-gpt2"),
    "demo": os.path.join(ROOT, "assets", "demo-model"),
    "tiny-gpt2-odd": os.path.join(FIXTURES, "tiny-gpt2-odd"),
}
CASES = [
    ("tiny-gpt2", "I love tennis.", True, 1, 2),
    ("tiny-gpt2", "The quick brown fox jumps over the lazy dog.", False, 2, 3),
    ("tiny-gpt2", "我爱网球。 東京は大きい 🎾🙂", True, 0, 1),
    ("demo", "The old man walks to the market every morning. The old man walks to the market every morning.", True, 1, 1),
    ("tiny-gpt2-odd", "Attention is a Markov chain.", True, 1, 4),
    # The lesson's repeat step: the pairs (x_{t-1}, x_t) seen before, with and without BOS.
    ("tiny-gpt2", "I love tennis. I love tennis.", False, 1, 2),
    ("tiny-gpt2", "I love tennis. I love tennis.", True, 0, 3),
    ("tiny-gpt2", "The cat sat on the mat.", True, 2, 0),
]


def is_dag_without_self_loops(a):
    n = len(a)
    edges = [[j for j in range(n) if j != i and a[i, j] > 0] for i in range(n)]
    state = [0] * n  # 0 new, 1 on the stack, 2 done

    def visit(i):
        state[i] = 1
        for j in edges[i]:
            if state[j] == 1 or (state[j] == 0 and not visit(j)):
                return False
        state[i] = 2
        return True

    return all(state[i] == 2 or visit(i) for i in range(n))


def case(model, tokenizer, text, bos, layer, head):
    eot = tokenizer.token_to_id("<|endoftext|>")
    encoding = tokenizer.encode(text)
    ids = ([eot] if bos else []) + encoding.ids
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    a = out.attentions[layer][0, head].double().numpy()
    s = np.array(scores_of(model, ids, layer)[head])
    logp = torch.log_softmax(out.logits[0].double(), dim=-1)
    lps = [logp[t - 1, ids[t]].item() for t in range(1, len(ids))]
    joint = sum(lps)
    first_end = len(text[: encoding.offsets[0][1]].encode("utf-8"))
    scored_bytes = len(text.encode("utf-8")) - (0 if bos else first_end)
    bits = -joint / math.log(2)
    n = len(ids)
    return {
        "text": text,
        "bos": bos,
        "layer": layer,
        "head": head,
        "ids": ids,
        "characters": len(text),
        "bytes": len(text.encode("utf-8")),
        "tokens": n,
        "score_asymmetry": float(np.linalg.norm(s - s.T) / np.linalg.norm(s)),
        "row_stochastic": bool(np.all(np.abs(a.sum(axis=1) - 1) <= 1e-5)),
        "dag_without_self_loops": is_dag_without_self_loops(a),
        "absorbing_states": [i for i in range(n) if a[i, i] >= 1 - 1e-9],
        "mass_on_token0": [float(np.linalg.matrix_power(a, k)[:, 0].mean()) for k in range(1, 9)],
        "joint_log_prob": joint,
        "logprobs": lps,
        "perplexity": math.exp(-joint / len(lps)),
        "bits": bits,
        "scored_bytes": scored_bytes,
        "bits_per_byte": bits / scored_bytes,
        # What the lesson's steps ask about (attngraph lesson).
        "head_dim": model.config.n_embd // model.config.n_head,
        "score_last_first": float(s[n - 1, 0]),
        "score_first_last": float(s[0, n - 1]),
        "last_row_argmax": int(np.argmax(a[n - 1])),
        "last_row_max": float(a[n - 1].max()),
        "last_row_entropy_bits": float(-sum(p * math.log2(p) for p in a[n - 1] if p > 0)),
        "most_attended": int(np.argmax(a.sum(axis=0))),
        "most_attended_total": float(a.sum(axis=0).max()),
        "uniform_mass_on_token0": [
            float(np.linalg.matrix_power(uniform_causal(n), k)[:, 0].mean()) for k in range(1, 9)
        ],
        "repeat_positions": [t for t, _ in repeated_pairs(ids)],
        "repeat_first_positions": [first for _, first in repeated_pairs(ids)],
        # zlib's deflate at level 9 in a gzip frame without a file name (as `gzip -9 -n` writes it).
        "gzip_bytes": len(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)),
    }


def uniform_causal(n):
    """Row i spreads evenly over tokens 0..i."""
    return np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]


def repeated_pairs(ids):
    """(t, t') for each t where the pair (ids[t-1], ids[t]) occurred first at t' < t."""
    first, out = {}, []
    for t in range(1, len(ids)):
        pair = (ids[t - 1], ids[t])
        if pair in first:
            out.append((t, first[pair]))
        else:
            first[pair] = t
    return out


def main():
    loaded = {}
    cases = []
    for name, text, bos, layer, head in CASES:
        if name not in loaded:
            model = GPT2LMHeadModel.from_pretrained(MODELS[name], dtype=torch.float32, attn_implementation="eager")
            model.eval()
            loaded[name] = (model, Tokenizer.from_file(os.path.join(MODELS[name], "tokenizer.json")))
        model, tokenizer = loaded[name]
        c = case(model, tokenizer, text, bos, layer, head)
        c["model"] = name
        cases.append(c)
    path = os.path.join(FIXTURES, "explain_reference.json")
    with open(path, "w") as f:
        json.dump({"generator": "tools/make_explain_reference.py", "torch": torch.__version__, "cases": cases}, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
