#!/usr/bin/env python3
"""Golden values for activation patching, computed with Hugging Face transformers in float64 through PyTorch
forward hooks, for `attngraph patch`'s tests.

The metric is logit[answer] − logit[wrong] at the last position. For every (layer, head), a pre-hook on the
attention's output projection (`c_proj` for GPT-2, `o_proj` for Llama) overwrites that head's columns of its
input — the head's attention-weighted values at every position — with the clean run's, on the corrupt run. For
every (layer, position), a pre-hook on the block overwrites that position of its input (the residual stream
entering it; layer 0's input is the embeddings) with the clean run's. The hooks are checked themselves: patching
every position at layer 0 gives the clean metric, and patching a position where both texts have the same token
at layer 0 leaves the corrupt one.

What it writes: tests/fixtures/patch_reference.json, for the demo model (assets/demo-model), tests/fixtures/
tiny-gpt2 and tests/fixtures/tiny-llama: the ids of both texts, answer and wrong ids, both logit differences,
`heads` [layer][head] and `residual` [layer][position].

    python tools/make_patch_reference.py

Needs: tools/requirements-train.txt (torch, transformers, tokenizers, numpy).
"""

import json
import os

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

CASES = {
    "demo": (
        os.path.join(ROOT, "assets", "demo-model"),
        [
            ("The old man walks to the market. The old man walks to the",
             "The old man walks to the river. The old man walks to the"),
            ("I love tennis and I love", "I hate tennis and I love"),
        ],
    ),
    "tiny-gpt2": (
        os.path.join(FIXTURES, "tiny-gpt2"),
        [("When Mary and John went to the store, John gave a drink to",
          "When Mary and John went to the store, Mary gave a drink to")],
    ),
    "tiny-llama": (
        os.path.join(FIXTURES, "tiny-llama"),
        [("The cat sat on the mat and the cat", "The dog sat on the mat and the cat")],
    ),
}


def parts(model):
    """(blocks, output projection of block l, head width) for GPT-2 and Llama-like models."""
    if hasattr(model, "transformer"):
        blocks = model.transformer.h
        return blocks, lambda b: b.attn.c_proj, model.config.n_embd // model.config.n_head
    blocks = model.model.layers
    d = getattr(model.config, "head_dim", None) or model.config.hidden_size // model.config.num_attention_heads
    return blocks, lambda b: b.self_attn.o_proj, d


def capture(model, ids):
    """The clean run's inputs of every block and of every output projection, (t, ·) each."""
    blocks, proj, _ = parts(model)
    got, hooks = {}, []
    for l, block in enumerate(blocks):
        def block_in(_m, args, kwargs, l=l):
            x = args[0] if args else kwargs["hidden_states"]
            got[("block", l)] = x[0].clone()

        def proj_in(_m, args, l=l):
            got[("proj", l)] = args[0][0].clone()

        hooks.append(block.register_forward_pre_hook(block_in, with_kwargs=True))
        hooks.append(proj(block).register_forward_pre_hook(proj_in))
    with torch.no_grad():
        model(torch.tensor([ids]))
    for h in hooks:
        h.remove()
    return got


def metric(model, ids, answer, wrong, hooks=()):
    handles = [module.register_forward_pre_hook(fn, with_kwargs=True) for module, fn in hooks]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    for h in handles:
        h.remove()
    return float(logits[answer] - logits[wrong])


def patch_head(model, l, h, clean):
    blocks, proj, d = parts(model)

    def fn(_m, args, kwargs):
        x = args[0].clone()
        x[0, :, h * d:(h + 1) * d] = clean[("proj", l)][:, h * d:(h + 1) * d]
        return (x,) + tuple(args[1:]), kwargs

    return [(proj(blocks[l]), fn)]


def patch_position(model, l, positions, clean):
    blocks, _, _ = parts(model)

    def fn(_m, args, kwargs):
        if args:
            x = args[0].clone()
        else:
            x = kwargs["hidden_states"].clone()
        for p in positions:
            x[0, p] = clean[("block", l)][p]
        if args:
            return (x,) + tuple(args[1:]), kwargs
        kwargs["hidden_states"] = x
        return args, kwargs

    return [(blocks[l], fn)]


def case(model, encode, clean_text, corrupt_text):
    clean_ids, corrupt_ids = encode(clean_text), encode(corrupt_text)
    assert len(clean_ids) == len(corrupt_ids), (clean_ids, corrupt_ids)
    with torch.no_grad():
        clean_last = model(torch.tensor([clean_ids])).logits[0, -1]
        corrupt_last = model(torch.tensor([corrupt_ids])).logits[0, -1]
    answer = int(torch.argmax(clean_last))
    wrong = int(torch.argmax(corrupt_last))
    if wrong == answer:
        wrong = int(torch.topk(corrupt_last, 2).indices[1])
    clean = capture(model, clean_ids)
    clean_diff = metric(model, clean_ids, answer, wrong)
    corrupt_diff = metric(model, corrupt_ids, answer, wrong)
    blocks, _, _ = parts(model)
    n_layer, t = len(blocks), len(clean_ids)
    n_head = model.config.num_attention_heads
    # The hooks themselves: every position at layer 0 gives the clean run; a shared token changes nothing.
    everything = metric(model, corrupt_ids, answer, wrong, patch_position(model, 0, range(t), clean))
    assert abs(everything - clean_diff) < 1e-9, (everything, clean_diff)
    same = next(p for p in range(t) if clean_ids[p] == corrupt_ids[p])
    unchanged = metric(model, corrupt_ids, answer, wrong, patch_position(model, 0, [same], clean))
    assert abs(unchanged - corrupt_diff) < 1e-9, (unchanged, corrupt_diff)
    heads = [[metric(model, corrupt_ids, answer, wrong, patch_head(model, l, h, clean)) for h in range(n_head)]
             for l in range(n_layer)]
    residual = [[metric(model, corrupt_ids, answer, wrong, patch_position(model, l, [p], clean)) for p in range(t)]
                for l in range(n_layer)]
    return {
        "clean": clean_text,
        "corrupt": corrupt_text,
        "clean_ids": clean_ids,
        "corrupt_ids": corrupt_ids,
        "answer": answer,
        "wrong": wrong,
        "clean_logit_diff": clean_diff,
        "corrupt_logit_diff": corrupt_diff,
        "heads": heads,
        "residual": residual,
    }


def main():
    torch.set_default_dtype(torch.float64)
    reference = {"generator": "tools/make_patch_reference.py", "torch": torch.__version__, "models": {}}
    for name, (folder, pairs) in CASES.items():
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float64).eval()
        if name == "tiny-llama":
            fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token="<s>")
            encode = lambda text: fast(text)["input_ids"]  # noqa: E731 (with <s>, as the tokenizer gives)
        else:
            tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
            encode = lambda text, tok=tok: tok.encode(text).ids  # noqa: E731
        reference["models"][name] = [case(model, encode, clean, corrupt) for clean, corrupt in pairs]
        print(f"{name}: {len(pairs)} pairs")
    path = os.path.join(FIXTURES, "patch_reference.json")
    with open(path, "w") as f:
        json.dump(reference, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
