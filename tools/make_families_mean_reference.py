#!/usr/bin/env python3
"""Golden values for mean ablation on Qwen2 and Llama, computed with Hugging Face transformers (PyTorch,
float32) through forward hooks, for attngraph's tests.

It reads the random models that tools/make_families_reference.py saved (tests/fixtures/tiny-qwen2 and
tiny-llama) without making them again, and the ablation cases of tests/fixtures/families_reference.json. For each
case it first checks that zeroing the heads' columns of `o_proj`'s input, as that script does, gives the
reference's log-probabilities again (the model loaded here is the one the reference was made with). Then, for
mean ablation, a first, intact pass records each layer's `o_proj` input, whose mean over every position read a
pre-hook then puts in the knocked-out heads' columns at every position.

What it writes:
  tests/fixtures/families_mean_ablation.json
        for tiny-qwen2 and tiny-llama: text, ids, heads, and the mean-ablated log-probabilities and perplexity

    python tools/make_families_mean_reference.py

Needs: tools/requirements-train.txt (torch, transformers, tokenizers).
"""

import json
import os

import sys

import torch
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_families_reference import FIXTURES, layers_of, logprobs, perplexity  # noqa: E402


def means_of(model, ids):
    """Each layer's `o_proj` input in the intact model, averaged over the positions: {layer: (heads · d,)}."""
    means, hooks = {}, []
    for layer, block in enumerate(layers_of(model)):

        def record(_module, args, layer=layer):
            means[layer] = args[0][0].double().mean(dim=0).float()

        hooks.append(block.self_attn.o_proj.register_forward_pre_hook(record))
    with torch.no_grad():
        model(torch.tensor([ids]))
    for hook in hooks:
        hook.remove()
    return means


def main():
    with open(os.path.join(FIXTURES, "families_reference.json")) as f:
        families = json.load(f)
    out = {
        "generator": "tools/make_families_mean_reference.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "models": {},
    }
    for name in ("tiny-qwen2", "tiny-llama"):
        model = AutoModelForCausalLM.from_pretrained(
            os.path.join(FIXTURES, name), dtype=torch.float32, attn_implementation="eager"
        )
        model.eval()
        cases = []
        for case in families["models"][name]["ablate"]:
            ids, heads = case["ids"], case["heads"]
            ablated = {}
            for layer, head in heads:
                ablated.setdefault(layer, []).append(head)
            zero = logprobs(model, ids, ablated)
            worst = max(abs(a - b) for a, b in zip(zero[1:], case["ablated_logprob"][1:]))
            assert worst < 1e-5, f"{name}: zero ablation {worst} away from the reference: another model?"
            mean = logprobs(model, ids, ablated, means_of(model, ids))
            assert max(abs(a - b) for a, b in zip(mean[1:], zero[1:])) > 1e-6, "the means changed nothing"
            cases.append(
                {
                    "text": case["text"],
                    "ids": ids,
                    "heads": heads,
                    "ablated_logprob": mean,
                    "ablated_perplexity": perplexity(mean),
                }
            )
        out["models"][name] = cases
        print(f"{name}: {len(cases)} cases")
    path = os.path.join(FIXTURES, "families_mean_ablation.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
