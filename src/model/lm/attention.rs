//! Causal self-attention for every family: GPT-2's fused `c_attn` or separate q/k/v projections, learned or
//! rotary positions, as many key/value heads as query heads or fewer (grouped-query attention), and the
//! attention probabilities of every head kept for the views.
//!
//! Follows transformers' eager attention: scores QKᵀ/√d, causal mask, softmax, weighted values, output
//! projection. Rotary embeddings rotate the two halves of each head (`rotate_half`), as `apply_rotary_pos_emb`.

use candle_core::{DType, Device, Result, Tensor};

use crate::model::causal_attention;
use crate::model::config::{Config, Positions};
use crate::model::layers::{Linear, Source};
use crate::model::weights::WeightsError;

use super::positions::{rotary_tables, QueryBlock};

/// What becomes of one layer's ablated heads: their attention-weighted values (n_head, t, head_dim) times
/// `kept` (n_head, 1, 1) of 1 (kept) and 0 (ablated), plus `fill` (n_head, 1, head_dim) where given, which is
/// zero on the kept heads: zero ablation without it, mean ablation with each ablated head's mean over every
/// position of the intact run, BOS included where it was read ([`super::CausalLm::head_means`]).
pub(super) struct Knockout {
    kept: Tensor,
    fill: Option<Tensor>,
}

impl Knockout {
    /// `kept` (n_head, 1, 1) of 1 and 0, and `fill` (n_head, 1, head_dim), zero where `kept` is 1.
    pub(super) fn new(kept: Tensor, fill: Option<Tensor>) -> Self {
        Self { kept, fill }
    }

    /// `heads` (n_head, t, head_dim) with the ablated ones replaced.
    pub(super) fn apply(&self, heads: &Tensor) -> Result<Tensor> {
        let kept = heads.broadcast_mul(&self.kept)?;
        match &self.fill {
            Some(fill) => kept.broadcast_add(fill),
            None => Ok(kept),
        }
    }
}

/// What one attention layer hands back besides its output.
pub struct AttentionOutput {
    /// The block's attention output, (t, n_embd).
    pub hidden: Tensor,
    /// Attention probabilities of the new rows: rows sum to 1.
    pub probs: LayerProbs,
    /// Pre-softmax scores QKᵀ/√d before masking, (n_head, t, t), if asked for.
    pub scores: Option<Tensor>,
    /// Each head's attention-weighted values, the input of the output projection split by head:
    /// (n_head, t, head_dim), as the knock-out left them for an ablated head (zeros, or its means).
    pub heads: Tensor,
}

/// One layer's attention probabilities for its new query rows, laid out as the path that made them writes them.
pub enum LayerProbs {
    /// (n_head, t_new, t), exactly zero above the diagonal.
    Dense(Tensor),
    /// n_head · Σ_{q=t−t_new}^{t−1} (q + 1) values: for each head, row q of each of the `new_rows` new queries,
    /// keys 0..=q, as [`causal_attention::attention`] writes them (the CPU path: the masked half is never stored;
    /// the analysis keeps this buffer as it is).
    Packed {
        /// The packed rows.
        values: Vec<f32>,
        /// t_new, the query rows they hold.
        new_rows: usize,
    },
}

/// One layer's keys and values for every position so far, (n_kv_head, t, head_dim) each, keys already
/// rotated: what a later call needs to extend the text without recomputing its prefix.
#[derive(Clone, Debug)]
pub struct KeyValue {
    /// Keys.
    pub k: Tensor,
    /// Values.
    pub v: Tensor,
}

impl KeyValue {
    /// The first `len` positions.
    pub fn prefix(&self, len: usize) -> Result<Self> {
        Ok(Self {
            k: self.k.narrow(1, 0, len)?,
            v: self.v.narrow(1, 0, len)?,
        })
    }

    /// How many positions it holds.
    pub fn positions(&self) -> Result<usize> {
        self.k.dim(1)
    }
}

/// The query, key and value projections.
enum Projection {
    /// GPT-2's `c_attn`: one product giving (t, 3c), queries then keys then values.
    Fused(Linear),
    /// Separate `q_proj`, `k_proj`, `v_proj`.
    Split { q: Linear, k: Linear, v: Linear },
}

pub(super) struct Attention {
    projection: Projection,
    /// The output projection (`c_proj` / `o_proj`).
    pub(super) out: Linear,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    /// Rotary inverse frequencies, (head_dim / 2), for families with rotary positions.
    inverse_frequencies: Option<Vec<f32>>,
    device: Device,
    /// Whether the CPU attention's products run in AVX-512 tiles where they can ([`crate::model::layers::Kernels`]
    /// `Auto` on an AVX-512 CPU, as the linear layers' packed kernel); `Portable` keeps the `gemm` crate.
    fast: bool,
}

impl Attention {
    /// GPT-2's `{name}.c_attn` and `{name}.c_proj`.
    pub(super) fn gpt2(
        src: &Source,
        name: &str,
        cfg: &Config,
    ) -> std::result::Result<Self, WeightsError> {
        let c = cfg.n_embd;
        let c_attn = Linear::conv1d(src, &format!("{name}.c_attn"), [c, 3 * c])?;
        let c_proj = Linear::conv1d(src, &format!("{name}.c_proj"), [c, c])?;
        Ok(Self::new(Projection::Fused(c_attn), c_proj, src, cfg))
    }

    /// Qwen2's and Llama's `{name}.{q,k,v,o}_proj`.
    pub(super) fn llama(
        src: &Source,
        name: &str,
        cfg: &Config,
    ) -> std::result::Result<Self, WeightsError> {
        let c = cfg.n_embd;
        let (q, kv) = (cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim);
        let linear =
            |part: &str, shape, bias| Linear::pytorch(src, &format!("{name}.{part}"), shape, bias);
        let projection = Projection::Split {
            q: linear("q_proj", [c, q], cfg.qkv_bias)?,
            k: linear("k_proj", [c, kv], cfg.qkv_bias)?,
            v: linear("v_proj", [c, kv], cfg.qkv_bias)?,
        };
        Ok(Self::new(
            projection,
            linear("o_proj", [q, c], cfg.out_bias)?,
            src,
            cfg,
        ))
    }

    fn new(projection: Projection, out: Linear, src: &Source, cfg: &Config) -> Self {
        Self {
            projection,
            out,
            n_head: cfg.n_head,
            n_kv_head: cfg.n_kv_head,
            head_dim: cfg.head_dim,
            inverse_frequencies: match &cfg.positions {
                Positions::Learned => None,
                Positions::Rotary(rope) => Some(
                    rope.inverse_frequencies(cfg.head_dim)
                        .into_iter()
                        .map(|f| f as f32)
                        .collect(),
                ),
            },
            device: src.device.clone(),
            fast: src.packs(),
        }
    }

    /// The projections of `x` (t, c) as rows: queries (t, n_head·d), keys and values (t, n_kv_head·d).
    pub(super) fn project(&self, x: &Tensor) -> Result<[Tensor; 3]> {
        match &self.projection {
            Projection::Fused(c_attn) => {
                let qkv = c_attn.forward(x)?; // (t, 3c)
                let c = qkv.dim(1)? / 3;
                Ok([
                    qkv.narrow(1, 0, c)?,
                    qkv.narrow(1, c, c)?,
                    qkv.narrow(1, 2 * c, c)?,
                ])
            }
            Projection::Split { q, k, v } => Ok([q.forward(x)?, k.forward(x)?, v.forward(x)?]),
        }
    }

    /// Rows (t, n·d) split into heads, (n, t, d).
    fn split(&self, rows: &Tensor) -> Result<Tensor> {
        let (t, width) = rows.dims2()?;
        if rows.device().is_cpu() && rows.dtype() == DType::F32 && rows.stride().get(1) == Some(&1)
        {
            return rows.apply_op1_no_bwd(&super::split_heads::SplitHeads {
                head_dim: self.head_dim,
            });
        }
        rows.reshape((t, width / self.head_dim, self.head_dim))? // (t, n, d)
            .transpose(0, 1)? // (n, t, d)
            .contiguous()
    }

    /// Queries (n_head, t, d), keys and values (n_kv_head, t, d) of projected rows at positions
    /// `offset..offset + t`, queries and keys rotated for rotary families.
    pub(super) fn heads(
        &self,
        rows: &[Tensor; 3],
        offset: usize,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let [q, k, v] = rows;
        self.rotate([self.split(q)?, self.split(k)?, self.split(v)?], offset)
    }

    /// [`Attention::heads`] of `x` (t, c) itself: where the packed kernel runs the projections, each writes its
    /// heads where they belong as it computes them, and no rows are made to be split afterwards (the copy took
    /// 1.3 ms of a 64-token analysis of GPT-2 small, 6.7 ms at 256 tokens); elsewhere [`Attention::project`]
    /// then [`Attention::heads`]. The same values either way.
    pub(super) fn qkv_heads(&self, x: &Tensor, offset: usize) -> Result<(Tensor, Tensor, Tensor)> {
        if !self.places_heads() {
            return self.heads(&self.project(x)?, offset);
        }
        let d = self.head_dim;
        let heads = match &self.projection {
            Projection::Fused(c_attn) => c_attn.forward_heads(x, d, 3)?,
            Projection::Split { q, k, v } => {
                let mut heads = q.forward_heads(x, d, 1)?;
                heads.extend(k.forward_heads(x, d, 1)?);
                heads.extend(v.forward_heads(x, d, 1)?);
                heads
            }
        };
        let heads = <[Tensor; 3]>::try_from(heads).map_err(|heads| {
            candle_core::Error::Msg(format!(
                "attention: the projections wrote {} parts, not queries, keys and values",
                heads.len()
            ))
        })?;
        self.rotate(heads, offset)
    }

    /// Whether the projections write their heads in place ([`Attention::qkv_heads`]).
    fn places_heads(&self) -> bool {
        let d = self.head_dim;
        match &self.projection {
            Projection::Fused(c_attn) => c_attn.places_heads(d, 3),
            Projection::Split { q, k, v } => [q, k, v].iter().all(|l| l.places_heads(d, 1)),
        }
    }

    /// Queries and keys of positions `offset..` rotated for rotary families; values as they are.
    fn rotate(&self, [q, k, v]: [Tensor; 3], offset: usize) -> Result<(Tensor, Tensor, Tensor)> {
        match &self.inverse_frequencies {
            None => Ok((q, k, v)),
            Some(freqs) => {
                let t = q.dim(1)?;
                let (cos, sin) = rotary_tables(freqs, offset, t, &self.device)?;
                let rotate = |x: &Tensor| -> Result<Tensor> {
                    candle_nn::rotary_emb::rope(&x.unsqueeze(0)?, &cos, &sin)?.squeeze(0)
                };
                Ok((rotate(&q)?, rotate(&k)?, v))
            }
        }
    }

    /// Keys or values of the key/value heads, (n_kv_head, t, d), repeated for the query heads that share each:
    /// (n_head, t, d), head h reading key/value head h / (n_head / n_kv_head), as transformers' `repeat_kv`.
    pub(super) fn expand(&self, x: &Tensor) -> Result<Tensor> {
        if self.n_kv_head == self.n_head {
            return Ok(x.clone());
        }
        let (n_kv, t, d) = x.dims3()?;
        let group = self.n_head / n_kv;
        x.unsqueeze(1)?
            .expand((n_kv, group, t, d))?
            .reshape((self.n_head, t, d))
    }

    /// Attention of the new positions `x` (t_new, c), which follow `past` cached positions whose keys and values
    /// are given. `knockout` replaces the attention-weighted values of the heads it ablates (their share of the
    /// output projection's input: zeros, or their means; the bias stays). Returns the output and this layer's
    /// keys and values for all past + new positions.
    pub(super) fn forward(
        &self,
        x: &Tensor,
        past: Option<&KeyValue>,
        mask: &Tensor,
        keep_scores: bool,
        knockout: Option<&Knockout>,
    ) -> Result<(AttentionOutput, KeyValue)> {
        let t_new = x.dim(0)?;
        let offset = match past {
            Some(kv) => kv.positions()?,
            None => 0,
        };
        let (q, k_new, v_new) = self.qkv_heads(x, offset)?;
        let (k, v) = match past {
            Some(kv) => (
                Tensor::cat(&[&kv.k, &k_new], 1)?, // (n_kv_head, t, head_dim)
                Tensor::cat(&[&kv.v, &v_new], 1)?,
            ),
            None => (k_new, v_new),
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let (probs, scores, heads) = if !keep_scores && causal_attention::applies(&[&q, &k, &v]) {
            let (packed, heads) =
                causal_attention::attention(&q, &k, &v, scale as f32, true, self.fast)?;
            let probs = LayerProbs::Packed {
                values: packed.ok_or_else(|| {
                    candle_core::Error::Msg("causal attention kept no probabilities".into())
                })?,
                new_rows: t_new,
            };
            (probs, None, heads)
        } else {
            // Scaling q (t_new × d values) instead of the scores (t_new × t per head) saves a pass over the
            // largest tensor.
            let scores = (q * scale)?.matmul(&self.expand(&k)?.t()?)?; // (n_head, t_new, t)
            let probs = crate::model::softmax::causal_softmax(&scores, mask, offset)?; // 0 in the future
            let heads = self.weighted_values(&probs, &v)?; // (n_head, t_new, head_dim)
            (
                LayerProbs::Dense(probs),
                keep_scores.then_some(scores),
                heads,
            )
        };
        let heads = match knockout {
            Some(knockout) => knockout.apply(&heads)?,
            None => heads,
        };
        let y = heads
            .transpose(0, 1)? // (t_new, n_head, head_dim)
            .reshape((t_new, self.n_head * self.head_dim))?;
        let out = AttentionOutput {
            hidden: self.out.forward(&y)?,
            probs,
            scores,
            heads,
        };
        Ok((out, KeyValue { k, v }))
    }

    /// Attention for scoring, where nobody looks at the probabilities: `x` is `b` windows of `t` rows each,
    /// (b·t, c), every window starting at position 0, and only the query rows `keep..t` of each window are
    /// computed. With `fused`, where it applies (the CPU), [`causal_attention::attention`] runs the rows; else
    /// they go in `blocks` that multiply only the keys they can see. Either way the masked half of QKᵀ is never
    /// computed and no (n_head, t, t) tensor is made. Returns (b·(t − keep), c).
    pub(super) fn forward_scoring(
        &self,
        x: &Tensor,
        b: usize,
        t: usize,
        keep: usize,
        blocks: &[QueryBlock],
        fused: bool,
    ) -> Result<Tensor> {
        // One window (sliding-window perplexity's default) has its projections written in heads where the kernel
        // can; several go through one product for all their rows, then are split, so that no weight is read once
        // per window.
        let rows = match self.places_heads() && b == 1 {
            true => None,
            false => Some(self.project(x)?), // (b·t, ·) each
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut outputs = Vec::with_capacity(b);
        for w in 0..b {
            let window = |rows: &Tensor| rows.narrow(0, w * t, t);
            let (q, k, v) = match &rows {
                None => self.qkv_heads(&window(x)?, 0)?,
                Some([q_rows, k_rows, v_rows]) => {
                    self.heads(&[window(q_rows)?, window(k_rows)?, window(v_rows)?], 0)?
                }
            };
            if fused && causal_attention::applies(&[&q, &k, &v]) {
                // Rows keep..t over keys 0..t, a block of rows at a time, no probabilities kept; the op scales
                // the scores and reads grouped heads in place.
                let q = q.narrow(1, keep, t - keep)?.contiguous()?;
                let (_, y) =
                    causal_attention::attention(&q, &k, &v, scale as f32, false, self.fast)?;
                outputs.push(
                    y.transpose(0, 1)?
                        .reshape((t - keep, self.n_head * self.head_dim))?,
                );
                continue;
            }
            let (q, k, v) = ((q * scale)?, self.expand(&k)?, self.expand(&v)?);
            let mut ys = Vec::with_capacity(blocks.len());
            for block in blocks.iter().filter(|bl| bl.start + bl.len > keep) {
                let start = block.start.max(keep);
                let len = block.start + block.len - start;
                let seen = start + len; // keys 0..seen
                let (k_seen, v_seen) = (k.narrow(1, 0, seen)?, v.narrow(1, 0, seen)?);
                let scores = q.narrow(1, start, len)?.matmul(&k_seen.t()?)?; // (n_head, len, seen)
                let mask = block.mask.narrow(0, start - block.start, len)?;
                let probs = crate::model::softmax::causal_softmax(&scores, &mask, start)?;
                let y = probs.matmul(&v_seen)?;
                ys.push(y); // (n_head, len, head_dim)
            }
            let y = Tensor::cat(&ys, 1)?; // (n_head, t − keep, head_dim)
            outputs.push(
                y.transpose(0, 1)?
                    .reshape((t - keep, self.n_head * self.head_dim))?,
            );
        }
        self.out.forward(&Tensor::cat(&outputs, 0)?)
    }

    /// Attention of `b` windows of `r` new rows each, (b·r, c), which all follow the same `past` positions (keys
    /// and values of every window's shared prefix): each window's rows sit at positions past..past + r and see the
    /// prefix and their own earlier rows (`mask`, (r, past + r)). Returns (b·r, c).
    pub(super) fn forward_windows(
        &self,
        x: &Tensor,
        b: usize,
        r: usize,
        past: &KeyValue,
        mask: &Tensor,
    ) -> Result<Tensor> {
        let offset = past.positions()?;
        let [q_rows, k_rows, v_rows] = self.project(x)?; // (b·r, ·) each
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut outputs = Vec::with_capacity(b);
        for w in 0..b {
            let window = |rows: &Tensor| rows.narrow(0, w * r, r);
            let (q, k_new, v_new) = self.heads(
                &[window(&q_rows)?, window(&k_rows)?, window(&v_rows)?],
                offset,
            )?;
            let k = Tensor::cat(&[&past.k, &k_new], 1)?;
            let v = Tensor::cat(&[&past.v, &v_new], 1)?;
            let y = if causal_attention::applies(&[&q, &k, &v]) {
                causal_attention::attention(&q, &k, &v, scale as f32, false, self.fast)?.1
            } else {
                let scores = (q * scale)?.matmul(&self.expand(&k)?.t()?)?; // (n_head, r, offset + r)
                let probs = crate::model::softmax::causal_softmax(&scores, mask, offset)?;
                self.weighted_values(&probs, &v)?
            }; // (n_head, r, head_dim)
            outputs.push(
                y.transpose(0, 1)?
                    .reshape((r, self.n_head * self.head_dim))?,
            );
        }
        self.out.forward(&Tensor::cat(&outputs, 0)?)
    }

    /// P·V for probabilities `probs` (n_head, t_new, t), zero above the diagonal, and values `v` (n_kv_head, t,
    /// d): (n_head, t_new, d).
    fn weighted_values(&self, probs: &Tensor, v: &Tensor) -> Result<Tensor> {
        if causal_attention::applies(&[probs, v]) {
            causal_attention::weighted_values(probs, v)
        } else {
            probs.matmul(&self.expand(v)?)
        }
    }

    /// Each query head's values at every position of `x` (t, c), before attention mixes them: (n_head, t, d).
    pub(super) fn values(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, v) = self.qkv_heads(x, 0)?;
        self.expand(&v)
    }

    /// What each head's values (n_head, rows, d) become through the output projection, bias left out:
    /// (n_head, rows, c_out): head h's values times its columns of the projection's weight.
    pub(super) fn project_heads(&self, heads: &Tensor) -> Result<Tensor> {
        let (n_head, _, d) = heads.dims3()?;
        let weight = self.out.weight(&self.device)?; // (c_out, n_head · d)
        let mut out = Vec::with_capacity(n_head);
        for h in 0..n_head {
            let columns = weight.narrow(1, h * d, d)?.t()?.contiguous()?; // (d, c_out)
            out.push(
                heads
                    .narrow(0, h, 1)?
                    .squeeze(0)?
                    .contiguous()?
                    .matmul(&columns)?,
            );
        }
        Tensor::stack(&out, 0)
    }

    /// The output projection's bias, (c_out): zeros where it has none.
    pub(super) fn out_bias(&self) -> Result<Tensor> {
        let width = self.n_head * self.head_dim;
        self.out
            .forward(&Tensor::zeros((1, width), DType::F32, &self.device)?)?
            .squeeze(0)
    }
}

#[cfg(test)]
mod tests;
