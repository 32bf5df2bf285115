#!/usr/bin/env python3
"""Expected Markov statistics and head-type scores, computed with numpy from the attention in
tests/fixtures/reference.json (itself from Hugging Face transformers). Writes tests/fixtures/markov_reference.json.

numpy solves the absorbing-chain systems with a general linear solver (np.linalg.solve) and the teleport
ranking as a linear system, so the Rust code's forward substitution and power iteration are checked against
different methods.  Usage: python tools/make_markov_reference.py   (needs numpy)
"""

import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
TEXT = "Attention is a Markov chain: row i says where token i looks."
TELEPORT = 0.15
STEPS = 3


def stats(a):
    n = a.shape[0]
    absorbing = [i for i in range(n) if a[i, i] >= 1 - 1e-9]
    transient = [i for i in range(n) if i not in absorbing]
    q = a[np.ix_(transient, transient)]
    r = a[np.ix_(transient, absorbing)]
    fundamental_solve = lambda rhs: np.linalg.solve(np.eye(len(transient)) - q, rhs)
    b_t = fundamental_solve(r)
    t_t = fundamental_solve(np.ones(len(transient)))
    b = np.zeros((n, len(absorbing)))
    t = np.zeros(n)
    for k, s in enumerate(absorbing):
        b[s, k] = 1.0
    for row, s in enumerate(transient):
        b[s] = b_t[row]
        t[s] = t_t[row]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(a > 0, a * np.log2(np.where(a > 0, a, 1)), 0).sum(axis=1)
    # π = α/n·1 + (1−α)·πA  ⇔  π (I − (1−α)A) = α/n·1
    pi = np.linalg.solve((np.eye(n) - (1 - TELEPORT) * a).T, np.full(n, TELEPORT / n))
    pi = pi / pi.sum()
    return {
        "row_sums": a.sum(axis=1).tolist(),
        "absorbing_states": absorbing,
        "absorption_probabilities": b.tolist(),
        "expected_steps": t.tolist(),
        "row_entropy_bits": h.tolist(),
        "effective_attended": (2.0 ** h).tolist(),
        "sink_mass": float(a[:, 0].mean()),
        "teleport_ranking": pi.tolist(),
        "k_step": np.linalg.matrix_power(a, STEPS).tolist(),
    }


def head_scores(att, ids):
    """TransformerLens's detect_head with error measure "mul": Σ(A⊙P)/ΣA, BOS column and diagonal kept."""
    n = len(ids)
    prev = np.eye(n, k=-1)
    dup = np.array([[1.0 if j < i and ids[j] == ids[i] else 0.0 for j in range(n)] for i in range(n)])
    ind = np.zeros((n, n))
    ind[:, 1:] = dup[:, :-1]  # duplicate pattern shifted one to the right
    ind = np.tril(ind)
    sink = np.zeros((n, n))
    sink[:, 0] = 1
    out = []
    for l, layer in enumerate(att):
        for h, a in enumerate(layer):
            score = lambda p: float((a * p).sum() / a.sum())
            out.append({"layer": l, "head": h, "previous_token": score(prev), "duplicate_token": score(dup),
                        "induction": score(ind), "sink": score(sink), "self_attention": score(np.eye(n))})
    return out


def prompt_scores(ref):
    """`attngraph heads --prompts FILE`'s figures: every reference text of one line, each read alone with BOS,
    and each head's five scores averaged over them, as TransformerLens's detect_head averages a batch."""
    cases = [c for c in ref["cases"] if c["with_bos"] and "\n" not in c["text"] and "\r" not in c["text"]]
    per_text = [head_scores(np.array(c["attentions"], dtype=np.float64), c["ids"]) for c in cases]
    keys = ["previous_token", "duplicate_token", "induction", "sink", "self_attention"]
    mean = [{"layer": heads[0]["layer"], "head": heads[0]["head"],
             **{k: float(np.mean([h[k] for h in heads])) for k in keys}}
            for heads in zip(*per_text)]
    return {"texts": [c["text"] for c in cases], "head_scores": mean}


def main():
    ref = json.load(open(os.path.join(FIXTURES, "reference.json")))
    case = next(c for c in ref["cases"] if c["text"] == TEXT and c["with_bos"])
    att = np.array(case["attentions"], dtype=np.float64)  # (layer, head, q, k)
    n = att.shape[-1]
    mean = att.mean(axis=1)
    rollout = np.eye(n)
    for layer in mean:
        rollout = (0.5 * layer + 0.5 * np.eye(n)) @ rollout
    selections = {
        "head_1_2": att[1, 2],
        "layer_mean_1": mean[1],
        "all_mean": att.mean(axis=(0, 1)),
        "rollout": rollout,
    }
    out = {
        "generator": "tools/make_markov_reference.py",
        "text": TEXT,
        "teleport": TELEPORT,
        "steps": STEPS,
        "ids": case["ids"],
        "selections": {name: {"matrix": m.tolist(), **stats(m)} for name, m in selections.items()},
        "head_scores": head_scores(att, case["ids"]),
        "prompt_scores": prompt_scores(ref),
    }
    json.dump(out, open(os.path.join(FIXTURES, "markov_reference.json"), "w"))
    print("wrote markov_reference.json")


if __name__ == "__main__":
    main()
