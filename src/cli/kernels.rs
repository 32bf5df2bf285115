//! `attngraph bench --kernels`: each matrix-product kernel on GPT-2 small's four linear layers and its LM head,
//! as GFLOP/s (2·m·k·n over the time) and, for a few rows, as GB/s of weights read (a product of one row reads
//! every weight once, so memory bandwidth is its limit); the MLP's GELU, candle's against attngraph's; and the
//! exponentials of a softmax, libm's `expf` against attngraph's vectors.
//! `tools/bench_kernels.py` puts PyTorch's numbers beside these in one run.

use std::io::Write;
use std::time::Instant;

use candle_core::{Device, Tensor};

use super::machine::cpu_name;
use crate::model::causal_attention;
use crate::model::cpu_caches;
use crate::model::gelu;
use crate::model::packed::{self, PackedLinear};
use crate::model::small_matmul;
use crate::model::vexp;

/// A product to time.
struct Layer {
    name: &'static str,
    /// Inputs.
    k: usize,
    /// Outputs.
    n: usize,
    /// Whether it adds a bias (the LM head does not).
    bias: bool,
    /// The most rows it is given at once: the analysis sends the LM head 128 rows at a time.
    max_rows: usize,
    /// Whether the analysis lays its input rows out apart ([`packed::mlp::padded_stride`]), as GELU writes the
    /// MLP's inner activations for the output projection: the packed kernel reads them so here too.
    padded: bool,
}

/// GPT-2 small's linear layers and its LM head (a third of an analysis's FLOPs).
const LAYERS: [Layer; 5] = [
    Layer {
        name: "attn.c_attn",
        k: 768,
        n: 2304,
        bias: true,
        max_rows: usize::MAX,
        padded: false,
    },
    Layer {
        name: "attn.c_proj",
        k: 768,
        n: 768,
        bias: true,
        max_rows: usize::MAX,
        padded: false,
    },
    Layer {
        name: "mlp.c_fc",
        k: 768,
        n: 3072,
        bias: true,
        max_rows: usize::MAX,
        padded: false,
    },
    Layer {
        name: "mlp.c_proj",
        k: 3072,
        n: 768,
        bias: true,
        max_rows: usize::MAX,
        padded: true,
    },
    Layer {
        name: "lm_head",
        k: 768,
        n: 50257,
        bias: false,
        max_rows: 128,
        padded: false,
    },
];

/// Input rows: one token (Continue ▸, typing), a short text, and longer ones. The analysis sends the LM head
/// at most 128 rows at a time.
const ROWS: [usize; 6] = [1, 8, 64, 128, 256, 1024];

/// Values from a fixed-seed linear congruential generator, in [−0.5, 0.5): the numbers do not matter, only that
/// they are not all zero.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// The median seconds of `f` over enough runs to take about 0.2 s (at least 3), after one untimed run.
fn median_secs(mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f()?;
    let start = Instant::now();
    f()?;
    let once = start.elapsed().as_secs_f64().max(1e-7);
    let runs = ((0.2 / once) as usize).clamp(3, 2000);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    // runs ≥ 3, so the middle exists.
    Ok(times[times.len() / 2])
}

/// Runs every kernel this CPU has on every layer and row count; one JSON object per line, or a table.
pub fn bench_kernels(json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let cpu = cpu_name();
    let threads = rayon::current_num_threads();
    let kb = |level| cpu_caches::cache_bytes(level).map(|b| b / 1024);
    let (l1, l2) = (kb(1), kb(2));
    let block = packed::block_len().map_err(anyhow::Error::msg)?;
    if !json {
        let size = |s: Option<usize>| s.map_or("unknown".into(), |s| format!("{s} KB"));
        writeln!(
            out,
            "CPU: {cpu}, {threads} threads, kernels up to {}; L1d {}, L2 {}: packed panel blocks of {block} \
             along k",
            crate::model::isa::level().name(),
            size(l1),
            size(l2)
        )?;
        writeln!(
            out,
            "| layer | k × n | rows | kernel | ms | GFLOP/s | weights GB/s |"
        )?;
        writeln!(out, "|---|---|---:|---|---:|---:|---:|")?;
    }
    for Layer {
        name,
        k,
        n,
        bias,
        max_rows,
        padded,
    } in LAYERS
    {
        let weight = values(k * n, 1);
        let bias = bias.then(|| values(n, 2));
        // (in, out) row-major, as GPT-2's Conv1D stores it.
        let packed = PackedLinear::pack(k, n, bias.as_deref(), |i, o| weight[i * n + o])?;
        // (out, in), as the model keeps its weights where it does not pack them: the few-row kernel streams
        // its rows, and candle's gemm multiplies by its transpose, as the portable path does.
        let w_out_in = Tensor::from_slice(&weight, (k, n), &Device::Cpu)?
            .t()?
            .contiguous()?;
        let w_t = w_out_in.t()?;
        let b = bias
            .map(|bias| Tensor::from_vec(bias, n, &Device::Cpu))
            .transpose()?;
        let add_bias = |y: Tensor| match &b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        };
        for m in ROWS.into_iter().filter(|&m| m <= max_rows) {
            let x_values = values(m * k, 3);
            let x = Tensor::from_slice(&x_values, (m, k), &Device::Cpu)?;
            let mut kernels: Vec<(String, f64)> = Vec::new();
            kernels.push((
                "candle gemm".into(),
                median_secs(|| {
                    std::hint::black_box(add_bias(x.matmul(&w_t)?)?);
                    Ok(())
                })?,
            ));
            // The same rows, `ld` apart where the analysis lays them out so.
            let ld = if padded {
                packed::mlp::padded_stride(k)
            } else {
                k
            };
            let mut spaced = vec![0.0f32; (m - 1) * ld + k];
            for (to, from) in spaced.chunks_mut(ld).zip(x_values.chunks_exact(k)) {
                to[..k].copy_from_slice(from);
            }
            // Every tile this CPU has (at the level `ATTNGRAPH_ISA` allows), whichever the analysis runs.
            for kernel in packed::Kernel::available() {
                kernels.push((
                    format!(
                        "{} packed{}",
                        kernel.name(),
                        if padded { ", rows padded" } else { "" }
                    ),
                    median_secs(|| {
                        let y = packed.forward_blocks(kernel, &spaced, m, ld, block)?;
                        std::hint::black_box(y);
                        Ok(())
                    })?,
                ));
            }
            if small_matmul::streams(k) && m <= small_matmul::MAX_ROWS {
                kernels.push((
                    "few-row streaming".into(),
                    median_secs(|| {
                        std::hint::black_box(add_bias(small_matmul::matmul_t(&x, &w_out_in)?)?);
                        Ok(())
                    })?,
                ));
            }
            for (kernel, secs) in kernels {
                let gflops = 2.0 * (m * k * n) as f64 / secs / 1e9;
                // Every weight is read once per product; with few rows that is most of the traffic.
                let gbs = (4 * k * n) as f64 / secs / 1e9;
                if json {
                    let line = serde_json::json!({"layer": name, "k": k, "n": n, "rows": m, "kernel": kernel, "ms": secs * 1e3, "gflops": gflops, "weights_gb_per_s": gbs, "cpu": cpu, "threads": threads, "isa": crate::model::isa::level().name(), "l1d_kb": l1, "l2_kb": l2, "block": block});
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "| {name} | {k} × {n} | {m} | {kernel} | {:.3} | {gflops:.1} | {} |",
                        secs * 1e3,
                        if m <= 8 {
                            format!("{gbs:.1}")
                        } else {
                            "—".into()
                        }
                    )?;
                }
            }
        }
    }
    // The MLP's activation: candle's own `gelu` (tanh form) against attngraph's, which runs on every core.
    for m in ROWS {
        let x = Tensor::from_slice(&values(m * 3072, 4), (m, 3072), &Device::Cpu)?;
        let kernels = [
            (
                "candle gelu",
                median_secs(|| {
                    std::hint::black_box(x.gelu()?);
                    Ok(())
                })?,
            ),
            (
                "attngraph gelu",
                median_secs(|| {
                    std::hint::black_box(gelu::gelu(&x)?);
                    Ok(())
                })?,
            ),
        ];
        for (kernel, secs) in kernels {
            // Read once, written once.
            let gbs = (2 * 4 * m * 3072) as f64 / secs / 1e9;
            if json {
                let line = serde_json::json!({"layer": "mlp.gelu", "k": 3072, "n": 3072, "rows": m, "kernel": kernel, "ms": secs * 1e3, "memory_gb_per_s": gbs, "cpu": cpu, "threads": threads});
                writeln!(out, "{line}")?;
            } else {
                writeln!(
                    out,
                    "| mlp.gelu | 3072 | {m} | {kernel} | {:.3} | — | {gbs:.1} (read and written) |",
                    secs * 1e3
                )?;
            }
        }
    }
    // The exponentials of a softmax, on one thread: e^(x − max) and their sum over a row of 50,257 logits (the LM
    // head's log-sum-exp) and over an attention row of 1,024 keys, libm's `expf` one value at a time (as
    // attngraph did before) against attngraph's sixteen lanes.
    for (name, n) in [
        ("lm_head log-sum-exp", 50_257),
        ("attention softmax", 1_024),
    ] {
        let row = values(n, 5);
        let mut scratch = vec![0.0f32; n];
        let kernels = [
            (
                "libm expf",
                median_secs(|| {
                    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                    let mut sum = 0.0f64;
                    for (d, &x) in scratch.iter_mut().zip(&row) {
                        *d = (x - max).exp();
                        sum += f64::from(*d);
                    }
                    std::hint::black_box((&scratch, sum));
                    Ok(())
                })?,
            ),
            (
                "attngraph vexp",
                median_secs(|| {
                    let sum = vexp::exp_into(&row, &mut scratch);
                    std::hint::black_box((&scratch, sum));
                    Ok(())
                })?,
            ),
        ];
        for (kernel, secs) in kernels {
            let per_s = n as f64 / secs / 1e9;
            if json {
                let line = serde_json::json!({"layer": name, "k": n, "n": n, "rows": 1, "kernel": kernel, "ms": secs * 1e3, "g_exp_per_s": per_s, "cpu": cpu, "threads": 1});
                writeln!(out, "{line}")?;
            } else {
                writeln!(
                    out,
                    "| {name} | {n} | 1 | {kernel} | {:.4} | — | {per_s:.2} G exponentials/s (one thread) |",
                    secs * 1e3
                )?;
            }
        }
    }
    // Attention of 12 heads of 64 values over t tokens, every probability kept as an analysis keeps them, on all
    // threads: the AVX-512 products against the `gemm` crate's. FLOPs over the causal half only: QKᵀ and P·V
    // each 2·64 per visible (query, key) pair, t(t + 1)/2 pairs a head.
    for t in [256, 1024] {
        let tensor = |seed| Tensor::from_vec(values(12 * t * 64, seed), (12, t, 64), &Device::Cpu);
        let (q, k, v) = (tensor(7)?, tensor(8)?, tensor(9)?);
        for (kernel, fast) in causal_attention::product_kernels() {
            let secs = median_secs(|| {
                let out = causal_attention::attention(&q, &k, &v, 0.125, true, fast)?;
                std::hint::black_box(out);
                Ok(())
            })?;
            let gflops = (4 * 64 * 12 * t * (t + 1) / 2) as f64 / secs / 1e9;
            if json {
                let line = serde_json::json!({"layer": "attention", "k": 64, "n": t, "rows": t, "heads": 12, "kernel": kernel, "ms": secs * 1e3, "attention_gflops": gflops, "cpu": cpu, "threads": threads});
                writeln!(out, "{line}")?;
            } else {
                writeln!(
                    out,
                    "| attention, 12 heads | 64 × {t} | {t} | {kernel} | {:.3} | {gflops:.1} (causal half) | — |",
                    secs * 1e3
                )?;
            }
        }
    }
    Ok(())
}
