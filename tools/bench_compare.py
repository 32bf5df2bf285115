#!/usr/bin/env python3
"""Times a whole analysis in attngraph and in Hugging Face transformers side by side, on the same machine, and
prints the ratios.

A whole analysis = forward pass with every head's attention + per-token statistics (log-probability, rank,
entropy, top-5) for every position, on a text of T tokens, model already loaded, a different text each time.
Both sides use the GPT-2-small shape (12 layers, 12 heads, 768 wide, 50257 vocabulary, 1024 positions) with the
same random weights, float32, CPU; PyTorch is limited to --threads threads (default 2) with eager attention.
attngraph runs twice: with the kernels it picks for this CPU, and with ATTNGRAPH_KERNELS=portable (candle's gemm
and the few-row kernel, what CPUs without AVX-512 or AVX2 run, and what CPUs without AVX-512 ran before the packed
kernel had an AVX2 tile).

With --isa avx2 both sides run as on a CPU without AVX-512: attngraph with ATTNGRAPH_ISA=avx2 (every hand kernel at
its AVX2 build), PyTorch with MKL_ENABLE_INSTRUCTIONS=AVX2, ONEDNN_MAX_CPU_ISA=AVX2 and ATEN_CPU_CAPABILITY=avx2
(its BLAS, oneDNN and its own vectorised ops), the floor from PyTorch's sgemm rate under the same caps. The
libraries read those when they load, so the script starts itself again with them set.

Beside each time stands the floor this machine cannot beat, max(FLOPs / sgemm rate, weight bytes / bandwidth),
with the rate and bandwidth PyTorch reaches measured in the same run (a 2,048² float32 product and a sum over
512 MB on --threads threads; or given with --peak-gflops / --peak-gbps); attngraph is handed the same two
numbers, so both sides are held to one floor. The FLOPs are attngraph's count of the work (`attngraph bench`).

With --shape qwen2.5-0.5b both sides run a Qwen2.5-0.5B-shaped random model instead (24 layers, 14 query heads
sharing 2 key/value heads, 896 wide, SwiGLU of 4864, 151,936-token vocabulary, tied embeddings), its weights
saved in bf16 as on the Hub and run in float32 on both sides.

Usage:
  cargo build --release
  python tools/bench_compare.py --tokenizer tests/fixtures/tiny-gpt2/tokenizer.json [--tokens 8,64,256,1024] [--repeat 5]
  python tools/bench_compare.py --shape qwen2.5-0.5b --tokenizer tests/fixtures/tiny-qwen2/tokenizer.json
  python tools/bench_compare.py --isa avx2 --tokenizer tests/fixtures/tiny-gpt2/tokenizer.json
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import AVX2_PYTORCH, cap_pytorch_at

HERE = os.path.dirname(os.path.abspath(__file__))


def main_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="a GPT-2 tokenizer.json")
    ap.add_argument("--tokens", default="8,64,256,1024")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "attngraph"))
    ap.add_argument("--shape", choices=["gpt2", "qwen2.5-0.5b"], default="gpt2")
    ap.add_argument("--isa", choices=["auto", "avx2"], default="auto",
                    help="avx2: both sides as on a CPU without AVX-512 (default: what this CPU has)")
    ap.add_argument("--peak-gflops", type=float, help="the sgemm rate for the floor (default: PyTorch's, measured)")
    ap.add_argument("--peak-gbps", type=float, help="the read bandwidth for the floor (default: measured)")
    return ap.parse_args()


ARGS = main_args()
cap_pytorch_at(ARGS.isa)

import torch  # noqa: E402  (after the caps are in the environment)
from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

from benchlib import cpu_name, peaks_from  # noqa: E402



def hf_analysis(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
        logp = torch.log_softmax(out.logits[0].double(), dim=-1)
        target = torch.tensor(ids[1:])
        rows = logp[:-1]
        lp = rows.gather(1, target[:, None])[:, 0]
        rank = (rows > lp[:, None]).sum(dim=1) + 1
        entropy = -(rows.exp() * rows).sum(dim=1)
        top = torch.topk(logp, 5, dim=-1)
        attentions = [a[0].numpy() for a in out.attentions]
    return lp, rank, entropy, top, attentions


def main():
    args = ARGS
    lengths = [int(t) for t in args.tokens.split(",")]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gflops, gbps, peaks_said = peaks_from(args, args.threads)

    folder = tempfile.mkdtemp(prefix="attngraph-bench-")
    try:
        if args.shape == "gpt2":
            config = GPT2Config()  # GPT-2 small: 12 × 12 heads × 768, 1024 positions
            config._attn_implementation = "eager"
            model = GPT2LMHeadModel(config).eval()
            model.save_pretrained(folder, safe_serialization=True)
        else:
            config = Qwen2Config(
                vocab_size=151936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                num_key_value_heads=2, intermediate_size=4864, max_position_embeddings=32768,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, tie_word_embeddings=True,
                rms_norm_eps=1e-6,
            )
            config._attn_implementation = "eager"
            model = Qwen2ForCausalLM(config).eval()
            model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
            model = model.to(torch.float32).eval()
        shutil.copy(args.tokenizer, os.path.join(folder, "tokenizer.json"))

        # attngraph first, in its own process: its peak memory is its own. Then once more with the portable
        # kernels (candle's gemm and the few-row kernel), which CPUs without AVX-512 use.
        def attngraph(kernels):
            proc = subprocess.run(
                [args.binary, "bench", "--model", folder, "--tokens", args.tokens, "--repeat", str(args.repeat), "--format", "json",
                 "--peak-gflops", str(gflops), "--peak-gbps", str(gbps)],
                capture_output=True, text=True, check=True, env={**os.environ, "ATTNGRAPH_KERNELS": kernels, "RAYON_NUM_THREADS": str(args.threads), **isa},
            )
            return {r["tokens"]: r for r in map(json.loads, proc.stdout.strip().splitlines())}

        isa = {"ATTNGRAPH_ISA": "avx2"} if args.isa == "avx2" else {}
        ours = attngraph("auto")
        portable = attngraph("portable")

        g = torch.Generator().manual_seed(1)
        theirs = {}
        hf_analysis(model, [0] * 8)  # warm-up, as on the Rust side
        for t in lengths:
            times = []
            for _ in range(args.repeat):
                ids = torch.randint(0, min(50000, config.vocab_size), (t,), generator=g).tolist()
                start = time.perf_counter()
                hf_analysis(model, ids)
                times.append((time.perf_counter() - start) * 1e3)
            theirs[t] = statistics.median(times)
        peak_py = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        cpu = cpu_name()
        shape = "GPT-2-small shape" if args.shape == "gpt2" else "Qwen2.5-0.5B shape"
        print(f"CPU: {cpu}; {shape}, {args.threads} threads for PyTorch {torch.__version__} (eager "
              f"attention: the attentions are output), median of {args.repeat}")
        if args.isa == "avx2":
            print("Both sides as on a CPU without AVX-512: attngraph with ATTNGRAPH_ISA=avx2, PyTorch with "
                  + ", ".join(f"{k}={v}" for k, v in AVX2_PYTORCH.items()))
        print(f"Floor = max(FLOPs / {gflops:.1f} GFLOP/s, weight bytes / {gbps:.1f} GB/s): PyTorch's sgemm rate and read "
              f"bandwidth on {args.threads} threads ({peaks_said}); attngraph runs on as many")
        print("| tokens | GFLOP | floor ms | attngraph ms | attngraph / floor | transformers ms | transformers / floor | attngraph / transformers | attngraph peak RSS MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in lengths:
            o = ours[t]
            floor = o["floor_ms"]  # attngraph's, from the rate and bandwidth handed to it above
            print(f"| {t} | {o['gflop']:.2f} | {floor:.1f} | {o['median_ms']:.1f} | {o['median_ms'] / floor:.2f}× | "
                  f"{theirs[t]:.1f} | {theirs[t] / floor:.2f}× | {o['median_ms'] / theirs[t]:.2f}× | {o['peak_rss_mb']:.0f} |")
        print()
        print("| tokens | attngraph ms | transformers ms | ratio | attngraph peak RSS MB | typing: +1 token with prefix cache, ms | ratio | portable kernels ms | ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in lengths:
            o, p = ours[t], portable[t]
            typing = o["append_one_token_median_ms"]
            print(f"| {t} | {o['median_ms']:.1f} | {theirs[t]:.1f} | {o['median_ms'] / theirs[t]:.2f}× | {o['peak_rss_mb']:.0f} | {typing:.1f} | {typing / theirs[t]:.2f}× | {p['median_ms']:.1f} | {p['median_ms'] / theirs[t]:.2f}× |")
        print(f"(PyTorch process peak RSS over the whole run: {peak_py:.0f} MB)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
