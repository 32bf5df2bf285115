#!/usr/bin/env python3
"""Golden values for head ablation and direct logit attribution, computed with Hugging Face transformers
(PyTorch, float32) through forward hooks, and numpy (float64), for attngraph's tests.

Ablation: a pre-hook on each layer's `attn.c_proj` zeroes the ablated heads' columns of its input (each head's
attention-weighted values), leaving `c_proj`'s bias and everything else as it was. Recent transformers releases
ignore GPT-2's `head_mask`, so the hook is the way; the script checks that it changes the output. Mean ablation
puts in those columns, at every position, their mean over the text's positions in the intact model's run (a
first pass with hooks that only record `c_proj`'s input), as TransformerLens users mean-ablate on one prompt.

Attribution: hooks capture, at one position, each layer's `c_proj` input and MLP output and the input of
`ln_f`; numpy then takes each head's values times its rows of `c_proj`'s weight, and scores every part c as
((c − mean c) / σ · γ) · u with σ from `ln_f`'s input, γ `ln_f`'s weight and u the target's embedding row.

What it writes:
  tests/fixtures/tiny-gpt2-odd/     a second random GPT-2 of other sizes (5 heads of 8, n_inner 72, ε 1e-4,
                                    2 layers, 32 positions) in the Hub's key layout (no `transformer.` prefix),
                                    with the first demo model's tokenizer (4,096 ids)
  tests/fixtures/attribution_reference.json
        for tiny-gpt2 (tests/fixtures), the demo model (assets/demo-model) and tiny-gpt2-odd:
          ablate     ids, heads, the log-probabilities with and without them, and both perplexities; under
                     `mean`, the same heads mean-ablated
          sweep      every head ablated alone: its perplexity and per-position change; `mean_sweep`, every
                     head mean-ablated alone
          attribute  position, target, logit, log-probability and every part's contribution

    python tools/make_attribution_reference.py

Needs: tools/requirements-train.txt (torch, transformers, tokenizers, numpy).
"""

import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_reference import randomise  # noqa: E402

ROOT = os.path.join(HERE, "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
DEMO = os.path.join(ROOT, "assets", "demo-model")
ODD = os.path.join(FIXTURES, "tiny-gpt2-odd")

TEXTS = {
    "tiny-gpt2": ["I love tennis.", "我爱网球。 🎾🙂 ok"],
    "demo": [
        "The old man walks to the market every morning. The old man walks to the market every morning.",
        "我愛網球。 我爱网球。 🎾 emoji and CJK",
    ],
    "tiny-gpt2-odd": ["Attention is a Markov chain.", "東京は大きい 🎾"],
}


def make_odd_model():
    """A random GPT-2 whose sizes differ from every other fixture, saved in the Hub's key layout."""
    config = GPT2Config(
        # The first demo model's tokenizer (4,096 ids), kept in the fixture: the odd model does not follow the
        # demo model's later vocabularies.
        vocab_size=Tokenizer.from_file(os.path.join(ODD, "tokenizer.json")).get_vocab_size(),
        n_positions=32,
        n_embd=40,
        n_layer=2,
        n_head=5,
        n_inner=72,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-4,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    randomise(model, 11)
    model.tie_weights()
    os.makedirs(ODD, exist_ok=True)
    weights = {k: v.detach().clone().contiguous() for k, v in model.transformer.state_dict().items()}
    save_file(weights, os.path.join(ODD, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(ODD, "config.json"), "w") as f:
        cfg = config.to_dict()
        cfg.pop("_attn_implementation_autoset", None)
        json.dump(cfg, f, indent=2)
    return model


def head_dim(model):
    return model.config.n_embd // model.config.n_head


def head_means(model, ids):
    """Each layer's `c_proj` input in the intact model, averaged over the positions: {layer: (n_embd,)}."""
    means, hooks = {}, []
    for layer in range(model.config.n_layer):

        def record(_module, args, layer=layer):
            means[layer] = args[0][0].double().mean(dim=0).float()

        hooks.append(model.transformer.h[layer].attn.c_proj.register_forward_pre_hook(record))
    with torch.no_grad():
        model(torch.tensor([ids]))
    for hook in hooks:
        hook.remove()
    return means


def logprobs(model, ids, ablated, means=None):
    """ln p(x_t | x_<t) per position (None at 0) with the heads in `ablated` ({layer: [heads]}) zeroed, or with
    `means` (from `head_means`) put in their place."""
    d = head_dim(model)
    hooks = []
    for layer, heads in ablated.items():

        def zero(_module, args, heads=heads, layer=layer):
            x = args[0].clone()
            for h in heads:
                x[..., h * d : (h + 1) * d] = 0 if means is None else means[layer][h * d : (h + 1) * d]
            return (x,)

        hooks.append(model.transformer.h[layer].attn.c_proj.register_forward_pre_hook(zero))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    for hook in hooks:
        hook.remove()
    lp = torch.log_softmax(logits, dim=-1)
    return [None] + [lp[p - 1, ids[p]].item() for p in range(1, len(ids))]


def perplexity(lps):
    scored = [x for x in lps if x is not None]
    return math.exp(-sum(scored) / len(scored))


def delta(base, abl):
    return [None if b is None else a - b for a, b in zip(abl, base)]


def ablate_case(model, ids, heads):
    ablated = {}
    for layer, head in heads:
        ablated.setdefault(layer, []).append(head)
    base = logprobs(model, ids, {})
    abl = logprobs(model, ids, ablated)
    changed = max(abs(a - b) for a, b in zip(abl[1:], base[1:]))
    assert changed > 1e-6, f"ablating {heads} changed nothing: the hook did not take"
    mean = logprobs(model, ids, ablated, head_means(model, ids))
    assert max(abs(a - b) for a, b in zip(mean[1:], abl[1:])) > 1e-6, "the means changed nothing from zeros"
    return {
        "ids": ids,
        "heads": [list(h) for h in heads],
        "baseline_logprob": base,
        "ablated_logprob": abl,
        "delta_logprob": delta(base, abl),
        "baseline_perplexity": perplexity(base),
        "ablated_perplexity": perplexity(abl),
        "mean": {
            "ablated_logprob": mean,
            "delta_logprob": delta(base, mean),
            "ablated_perplexity": perplexity(mean),
        },
    }


def sweep_case(model, ids):
    base = logprobs(model, ids, {})
    means = head_means(model, ids)
    sweeps = {}
    for key, given in (("sweep", None), ("mean_sweep", means)):
        cells = []
        for layer in range(model.config.n_layer):
            row = []
            for head in range(model.config.n_head):
                abl = logprobs(model, ids, {layer: [head]}, given)
                row.append({"ablated_perplexity": perplexity(abl), "delta_logprob": delta(base, abl)})
            cells.append(row)
        sweeps[key] = cells
    return {"ids": ids, "baseline_logprob": base, "baseline_perplexity": perplexity(base), **sweeps}


def attribute_case(model, ids, position, target):
    """Direct logit attribution at `position` for `target` (None: the next token, or the top-1 at the end)."""
    cfg = model.config
    d = head_dim(model)
    captured = {}
    hooks = []
    for layer, block in enumerate(model.transformer.h):

        def values(_module, args, layer=layer):
            captured[("values", layer)] = args[0][0, position].double().numpy()

        def mlp_out(_module, _args, output, layer=layer):
            captured[("mlp", layer)] = output[0, position].double().numpy()

        hooks.append(block.attn.c_proj.register_forward_pre_hook(values))
        hooks.append(block.mlp.register_forward_hook(mlp_out))

    def final(_module, args):
        captured["x"] = args[0][0, position].double().numpy()

    hooks.append(model.transformer.ln_f.register_forward_pre_hook(final))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    for hook in hooks:
        hook.remove()
    row = logits[position].double()
    if target is None:
        target = ids[position + 1] if position + 1 < len(ids) else int(torch.argmax(row))
    logit = row[target].item()
    logprob = torch.log_softmax(row, dim=-1)[target].item()

    weight = lambda t: t.detach().double().numpy()  # noqa: E731
    wte, wpe = weight(model.transformer.wte.weight), weight(model.transformer.wpe.weight)
    gamma, beta = weight(model.transformer.ln_f.weight), weight(model.transformer.ln_f.bias)
    u = wte[target]
    x = captured["x"]
    sigma = math.sqrt(x.var() + cfg.layer_norm_epsilon)

    def direct(c):
        return float(((c - c.mean()) / sigma * gamma) @ u)

    heads, bias, mlp = [], [], []
    for layer, block in enumerate(model.transformer.h):
        w = weight(block.attn.c_proj.weight)  # Conv1D: (in, out)
        y = captured[("values", layer)]
        heads.append([direct(y[h * d : (h + 1) * d] @ w[h * d : (h + 1) * d]) for h in range(cfg.n_head)])
        bias.append(direct(weight(block.attn.c_proj.bias)))
        mlp.append(direct(captured[("mlp", layer)]))
    case = {
        "ids": ids,
        "position": position,
        "target": target,
        "logit": logit,
        "logprob": logprob,
        "embeddings": direct(wte[ids[position]] + wpe[position]),
        "heads": heads,
        "attention_bias": bias,
        "mlp": mlp,
        "ln_bias": float(beta @ u),
    }
    total = case["embeddings"] + sum(map(sum, heads)) + sum(bias) + sum(mlp) + case["ln_bias"]
    assert abs(total - logit) < 1e-3, f"the parts add up to {total}, the logit is {logit}"
    return case


def cases_for(name, model, tokenizer):
    eot = tokenizer.token_to_id("<|endoftext|>")
    n_layer, n_head = model.config.n_layer, model.config.n_head
    ablate, attribute = [], []
    for index, text in enumerate(TEXTS[name]):
        plain = tokenizer.encode(text).ids
        for bos in (True, False):
            ids = [eot] + plain if bos else plain
            one = [(n_layer - 1, (index + 1) % n_head)]
            two = [(0, index % n_head), (0, (index + 2) % n_head), (n_layer - 1, n_head - 1)]
            for heads in (one, two):
                case = ablate_case(model, ids, heads)
                case.update(text=text, bos=bos)
                ablate.append(case)
            last = len(ids) - 1
            for position, target in ((0, None), (last // 2, None), (last, None), (last // 2, 3)):
                case = attribute_case(model, ids, position, target)
                case.update(text=text, bos=bos, target_given=target is not None)
                attribute.append(case)
    text = TEXTS[name][0]
    sweep = sweep_case(model, [eot] + tokenizer.encode(text).ids)
    sweep.update(text=text, bos=True)
    return {"ablate": ablate, "sweep": [sweep], "attribute": attribute}


def main():
    torch.manual_seed(0)
    models = {}
    tiny = GPT2LMHeadModel.from_pretrained(os.path.join(FIXTURES, "tiny-gpt2"), attn_implementation="eager")
    models["tiny-gpt2"] = (tiny, Tokenizer.from_file(os.path.join(FIXTURES, "tiny-gpt2", "tokenizer.json")))
    demo = GPT2LMHeadModel.from_pretrained(DEMO, dtype=torch.float32, attn_implementation="eager")
    models["demo"] = (demo, Tokenizer.from_file(os.path.join(DEMO, "tokenizer.json")))
    odd = make_odd_model()
    models["tiny-gpt2-odd"] = (odd, Tokenizer.from_file(os.path.join(ODD, "tokenizer.json")))

    reference = {"generator": "tools/make_attribution_reference.py", "torch": torch.__version__, "models": {}}
    for name, (model, tokenizer) in models.items():
        model.eval()
        reference["models"][name] = cases_for(name, model, tokenizer)
        print(f"{name}: {len(reference['models'][name]['ablate'])} ablations, "
              f"{len(reference['models'][name]['attribute'])} attributions")
    path = os.path.join(FIXTURES, "attribution_reference.json")
    with open(path, "w") as f:
        json.dump(reference, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
