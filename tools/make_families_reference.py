#!/usr/bin/env python3
"""Golden fixtures for the Qwen2 and Llama families, made with Hugging Face transformers (PyTorch, float32, eager
attention) on small random models this script builds, for attngraph's tests.

What it writes, under tests/fixtures/:
  tiny-qwen2/   a random Qwen2ForCausalLM: grouped-query attention (4 query heads, 2 key/value heads), biases on
                q/k/v, the LM head tied to the embedding, one model.safetensors, config.json as transformers 5
                writes it (`rope_parameters`), and a byte-level BPE tokenizer in Qwen2's style (NFC, Qwen2's
                split regex, no BOS token) trained here on English and Chinese lines
  tiny-llama/   a random LlamaForCausalLM: 6 query heads and 2 key/value heads of width 12 (`head_dim` given, not
                hidden_size / heads), an untied LM head, Llama 3's RoPE scaling (`llama3`), the weights in three
                shards (model.safetensors.index.json), config.json in the Hub's older layout (`rope_theta` and
                `rope_scaling` at the top level), and a SentencePiece-style BPE with byte fallback (`▁` for
                spaces, `<0xE6>` tokens, `<s>` added by the post-processor) trained here
  families_reference.json
        for each model and text: the ids `tokenizer(text)` gives, the ids with and without BOS, every layer's
        attention, log p(x_t | x_<t) with rank, entropy and top-5, the perplexity; sliding-window perplexity of
        tests/fixtures/perplexity_text.txt; head ablation through a pre-hook on `o_proj` that zeroes the heads'
        columns of its input; and direct logit attribution from hooks on `o_proj`'s input, the MLP's output and
        the final RMSNorm's input (numpy, float64): part c scores (c / σ · γ) · u with σ = √(mean(x²) + ε).

    python tools/make_families_reference.py

Needs: tools/requirements-train.txt (torch, transformers, tokenizers, numpy, safetensors).
"""

import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_reference import analyse, sliding_window  # noqa: E402

ROOT = os.path.join(HERE, "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

# Lines the two tokenizers are trained on: the project's tokenizer corpus and a few everyday sentences in both
# languages, so that common words and characters get tokens of their own and the rest falls back to bytes.
EXTRA_LINES = [
    "I love tennis. We play tennis every week, and I love the game.",
    "The cat sat on the mat. The dog ran in the park with the children.",
    "She said that she would come home early, but the rain kept her at the station.",
    "我愛網球。我們每個星期都打網球。",
    "今天天氣很好，我們去公園散步。我愛我的家。",
    "我爱网球。今天天气很好，我们去打网球吧！",
] * 3

TEXTS = [
    "I love tennis.",
    "The cat sat on the mat, and the dog ran home.",
    "我愛網球。今天天氣很好",
    "emoji 🐱🎾 and 東京貓",
]

QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def corpus_lines():
    with open(os.path.join(FIXTURES, "tokenizer_corpus.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n<<<>>>\n")
    return lines + EXTRA_LINES


def byte_level_tokenizer(vocab_size):
    """Qwen2's tokenizer shape: NFC, its split regex, byte-level BPE, `<|endoftext|>` special, nothing added."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def sentencepiece_tokenizer(vocab_size):
    """Llama 2's tokenizer shape: `▁` for spaces with one prepended, BPE with byte fallback (`<0x00>`..`<0xFF>` at
    ids 3..258, as in Llama 2), `<unk>` `<s>` `</s>` at 0..2, and `<s>` added in front by the post-processor."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer)
    spec = json.loads(tok.to_str())
    trained = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for token, _ in trained:
        if token not in vocab:
            vocab[token] = len(vocab)
    spec["model"]["vocab"] = vocab
    spec["pre_tokenizer"] = None
    for added in spec["added_tokens"]:
        added["id"] = vocab[added["content"]]
    spec["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ],
    }
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return tok


def randomise(model, seed):
    """HF's init leaves norms at 1 and biases at 0, which would hide bugs there; weights are drawn wide enough
    that attention is far from uniform but not one-hot."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(0.35 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.25 * torch.randn(p.shape, generator=g))


def save_tokenizer(tok, folder, bos, eos):
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos)
    fast.save_pretrained(folder)
    return PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token=bos, eos_token=eos)


def make_qwen2():
    folder = os.path.join(FIXTURES, "tiny-qwen2")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    tok = byte_level_tokenizer(600)
    fast = save_tokenizer(tok, folder, None, "<|endoftext|>")
    config = Qwen2Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=48,
        max_position_embeddings=64,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        eos_token_id=tok.token_to_id("<|endoftext|>"),
        bos_token_id=None,
    )
    torch.manual_seed(1)
    model = Qwen2ForCausalLM(config)
    randomise(model, 30)
    model.tie_weights()
    model.save_pretrained(folder)
    for extra in ("generation_config.json",):
        path = os.path.join(folder, extra)
        if os.path.exists(path):
            os.remove(path)
    model = Qwen2ForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    return model, fast


def make_llama():
    folder = os.path.join(FIXTURES, "tiny-llama")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    tok = sentencepiece_tokenizer(700)
    fast = save_tokenizer(tok, folder, "<s>", "</s>")
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=6,
        num_key_value_heads=2,
        head_dim=12,
        intermediate_size=64,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 4.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(2)
    model = LlamaForCausalLM(config)
    randomise(model, 40)
    model.save_pretrained(folder, max_shard_size="60KB")
    gen = os.path.join(folder, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    model = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    # The Hub's older layout of the same configuration: rope_theta and rope_scaling at the top level.
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = rope
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    reread = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    probe = torch.tensor([[1, 5, 9, 300, 42]])
    with torch.no_grad():
        assert torch.equal(model(probe).logits, reread(probe).logits), "the two config layouts disagree"
    shards = [n for n in os.listdir(folder) if n.startswith("model-") and n.endswith(".safetensors")]
    assert len(shards) >= 2, f"expected shards, got {shards}"
    return model, fast


def layers_of(model):
    return model.model.layers


def head_dim_of(config):
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def logprobs(model, ids, ablated, means=None):
    """ln p(x_t | x_<t) per position (None at 0) with the heads in `ablated` ({layer: [heads]}) zeroed: a pre-hook
    on `o_proj` sets the heads' columns of its input (their attention-weighted values) to 0, or to `means`
    ({layer: (heads · d,)}, tools/make_families_mean_reference.py) where given."""
    d = head_dim_of(model.config)
    hooks = []
    for layer, heads in ablated.items():

        def zero(_module, args, heads=heads, layer=layer):
            x = args[0].clone()
            for h in heads:
                x[..., h * d : (h + 1) * d] = 0 if means is None else means[layer][h * d : (h + 1) * d]
            return (x,)

        hooks.append(layers_of(model)[layer].self_attn.o_proj.register_forward_pre_hook(zero))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    for hook in hooks:
        hook.remove()
    lp = torch.log_softmax(logits, dim=-1)
    return [None] + [lp[p - 1, ids[p]].item() for p in range(1, len(ids))]


def perplexity(lps):
    scored = [x for x in lps if x is not None]
    return math.exp(-sum(scored) / len(scored))


def ablate_case(model, ids, heads):
    ablated = {}
    for layer, head in heads:
        ablated.setdefault(layer, []).append(head)
    base = logprobs(model, ids, {})
    abl = logprobs(model, ids, ablated)
    assert max(abs(a - b) for a, b in zip(abl[1:], base[1:])) > 1e-6, f"ablating {heads} changed nothing"
    return {
        "ids": ids,
        "heads": [list(h) for h in heads],
        "baseline_logprob": base,
        "ablated_logprob": abl,
        "baseline_perplexity": perplexity(base),
        "ablated_perplexity": perplexity(abl),
    }


def attribute_case(model, ids, position):
    """Direct logit attribution at `position` for the next token (the top-1 at the end) with RMSNorm: no mean
    is subtracted and there is no β, so the parts add up to the logit with nothing left over."""
    cfg = model.config
    d = head_dim_of(cfg)
    captured = {}
    hooks = []
    for layer, block in enumerate(layers_of(model)):

        def values(_module, args, layer=layer):
            captured[("values", layer)] = args[0][0, position].double().numpy()

        def mlp_out(_module, _args, output, layer=layer):
            captured[("mlp", layer)] = output[0, position].double().numpy()

        hooks.append(block.self_attn.o_proj.register_forward_pre_hook(values))
        hooks.append(block.mlp.register_forward_hook(mlp_out))

    def final(_module, args):
        captured["x"] = args[0][0, position].double().numpy()

    hooks.append(model.model.norm.register_forward_pre_hook(final))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    for hook in hooks:
        hook.remove()
    row = logits[position].double()
    target = ids[position + 1] if position + 1 < len(ids) else int(torch.argmax(row))
    weight = lambda t: t.detach().double().numpy()  # noqa: E731
    gamma = weight(model.model.norm.weight)
    u = weight(model.lm_head.weight)[target]
    x = captured["x"]
    sigma = math.sqrt(float((x * x).mean()) + cfg.rms_norm_eps)

    def direct(c):
        return float((c / sigma * gamma) @ u)

    heads, bias, mlp = [], [], []
    for layer, block in enumerate(layers_of(model)):
        w = weight(block.self_attn.o_proj.weight)  # (out, in)
        y = captured[("values", layer)]
        heads.append([direct(w[:, h * d : (h + 1) * d] @ y[h * d : (h + 1) * d]) for h in range(cfg.num_attention_heads)])
        b = block.self_attn.o_proj.bias
        bias.append(0.0 if b is None else direct(weight(b)))
        mlp.append(direct(captured[("mlp", layer)]))
    case = {
        "ids": ids,
        "position": position,
        "target": target,
        "logit": row[target].item(),
        "logprob": torch.log_softmax(row, dim=-1)[target].item(),
        "embeddings": direct(weight(model.model.embed_tokens.weight)[ids[position]]),
        "heads": heads,
        "attention_bias": bias,
        "mlp": mlp,
        "ln_bias": 0.0,
    }
    total = case["embeddings"] + sum(map(sum, heads)) + sum(bias) + sum(mlp)
    assert abs(total - case["logit"]) < 1e-3, f"the parts add up to {total}, the logit is {case['logit']}"
    return case


def cases_for(model, fast):
    cfg = model.config
    bos = fast.bos_token_id
    analyses, ablate, attribute = [], [], []
    sharpness = []
    for index, text in enumerate(TEXTS):
        default = fast(text)["input_ids"]
        plain = fast(text, add_special_tokens=False)["input_ids"]
        variants = [("default", default)]
        if bos is not None:
            variants += [("bos", [bos] + plain), ("no_bos", plain)]
        for mode, ids in variants:
            assert len(ids) <= cfg.max_position_embeddings, (text, len(ids))
            with torch.no_grad():
                out = model(torch.tensor([ids]), output_attentions=True)
            sharpness.append(float(torch.stack(out.attentions).amax(-1).mean()))
            case = analyse(model, ids, mode == "bos" or (mode == "default" and bos is not None and ids[:1] == [bos]))
            case.update(text=text, mode=mode)
            analyses.append(case)
        ids = default
        one = [(cfg.num_hidden_layers - 1, (index + 1) % cfg.num_attention_heads)]
        two = [(0, index % cfg.num_attention_heads), (1, (index + 2) % cfg.num_attention_heads)]
        for heads in (one, two):
            case = ablate_case(model, ids, heads)
            case["text"] = text
            ablate.append(case)
        last = len(ids) - 1
        for position in (0, last // 2, last):
            case = attribute_case(model, ids, position)
            case["text"] = text
            attribute.append(case)
    print(f"  mean of each attention row's largest weight: {np.mean(sharpness):.3f} (1 would be one-hot)")
    ppl_text = open(os.path.join(FIXTURES, "perplexity_text.txt"), encoding="utf-8").read()
    ids = fast(ppl_text)["input_ids"]
    windows = []
    for max_length, stride in ((64, 32), (64, 7), (16, 5)):
        windows.append({"max_length": max_length, "stride": stride, **sliding_window(model, ids, max_length, stride)})
    return {
        "bos_token_id": bos,
        "tokenizer_adds_bos": fast("a")["input_ids"][:1] == [bos] if bos is not None else False,
        "analyze": analyses,
        "perplexity": {"text": "perplexity_text.txt", "ids": ids, "cases": windows},
        "ablate": ablate,
        "attribute": attribute,
    }


def main():
    reference = {
        "generator": "tools/make_families_reference.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "models": {},
    }
    for name, make in (("tiny-qwen2", make_qwen2), ("tiny-llama", make_llama)):
        model, fast = make()
        model.eval()
        print(name)
        reference["models"][name] = cases_for(model, fast)
    path = os.path.join(FIXTURES, "families_reference.json")
    with open(path, "w") as f:
        json.dump(reference, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
