//! The forward pass taken apart, for ablation and direct logit attribution: every layer's pieces of the residual
//! stream ([`Gpt2::trace`]), one head's contribution, the rest of the model rerun without each head of a layer
//! in turn, and the final LayerNorm and unembedding the attribution reads.

use candle_core::{DType, Tensor};

use super::{causal_mask, Gpt2, LayerTrace, Result, Trace, QUERY_BLOCK};
use crate::model::head_set::HeadSet;

impl Gpt2 {
    /// Runs the model on `ids` with the heads in `ablated` knocked out, keeping every layer's pieces of the
    /// residual stream: what ablation sweeps and direct logit attribution take apart. Ablating a head sets its
    /// attention-weighted values (its share of `c_proj`'s input) to zero and leaves everything else, `c_proj`'s
    /// bias included, as it was.
    pub fn trace(&self, ids: &[u32], ablated: &HeadSet) -> Result<Trace> {
        let t = ids.len();
        let embeddings = self.embed_at(ids, 0)?;
        let mask = causal_mask(0, t, &self.device)?;
        let mut layers = Vec::with_capacity(self.blocks.len());
        let mut x = embeddings.clone();
        for (idx, block) in self.blocks.iter().enumerate() {
            let kept = self.kept_heads(ablated, idx)?;
            let (out, _) =
                block
                    .attn
                    .forward(&block.ln_1.forward(&x)?, None, &mask, false, kept.as_ref())?;
            let input = x;
            let mid = (&input + &out.hidden)?;
            let mlp = block.mlp.forward(&block.ln_2.forward(&mid)?)?;
            x = (&mid + &mlp)?;
            layers.push(LayerTrace {
                input,
                heads: out.heads,
                attention: out.hidden,
                mlp,
            });
        }
        Ok(Trace {
            embeddings,
            hidden: self.ln_f.forward(&x)?,
            residual: x,
            layers,
        })
    }

    /// What each head of `layer` adds to the residual stream at one position, given that position's
    /// attention-weighted values `heads` (n_head, head_dim): its values times its rows of `c_proj`'s weight,
    /// (n_head, n_embd). Also returns `c_proj`'s bias (n_embd), which belongs to no head. The heads' rows and
    /// the bias add up to the layer's attention output.
    pub fn head_contributions(&self, layer: usize, heads: &Tensor) -> Result<(Tensor, Tensor)> {
        let block = self.block(layer)?;
        let (n_head, head_dim) = heads.dims2()?;
        let c = n_head * head_dim;
        // Row h holds head h's values in its own columns and zeros elsewhere: c_proj of it is that head's
        // product plus the bias, and c_proj of a zero row is the bias alone.
        let mut rows = Vec::with_capacity(n_head + 1);
        for h in 0..n_head {
            let mut parts = Vec::with_capacity(3);
            if h > 0 {
                parts.push(Tensor::zeros((1, h * head_dim), DType::F32, &self.device)?);
            }
            parts.push(heads.narrow(0, h, 1)?);
            if h + 1 < n_head {
                parts.push(Tensor::zeros(
                    (1, c - (h + 1) * head_dim),
                    DType::F32,
                    &self.device,
                )?);
            }
            rows.push(Tensor::cat(&parts, 1)?);
        }
        rows.push(Tensor::zeros((1, c), DType::F32, &self.device)?);
        let projected = block.attn.c_proj.forward(&Tensor::cat(&rows, 0)?)?; // (n_head + 1, c)
        let bias = projected.narrow(0, n_head, 1)?;
        let per_head = projected.narrow(0, 0, n_head)?.broadcast_sub(&bias)?;
        Ok((per_head, bias.squeeze(0)?))
    }

    /// Final hidden states (after `ln_f`) of the text traced in `trace` with each head of `layer` ablated in
    /// turn, one window per head: (n_head · t, n_embd), head h's window at rows h·t..(h + 1)·t. The layers below
    /// `layer` and the attention of every other head in it do not change, so they are taken from the trace:
    /// each window's attention output is the traced one with that head's values zeroed, then the rest of the
    /// model runs on all windows at once.
    pub fn without_each_head(&self, trace: &Trace, layer: usize) -> Result<Tensor> {
        let block = self.block(layer)?;
        let traced = trace
            .layers
            .get(layer)
            .ok_or_else(|| candle_core::Error::Msg(format!("the trace has no layer {layer}")))?;
        let (n_head, t, head_dim) = traced.heads.dims3()?;
        let c = n_head * head_dim;
        // One window per head: the traced values with that head's zeroed, (n_head · t, c).
        let mut inputs = Vec::with_capacity(n_head);
        for h in 0..n_head {
            let kept = self.kept_mask(n_head, |head| head != h)?;
            inputs.push(
                traced
                    .heads
                    .broadcast_mul(&kept)?
                    .transpose(0, 1)?
                    .reshape((t, c))?,
            );
        }
        let attention = block.attn.c_proj.forward(&Tensor::cat(&inputs, 0)?)?;
        let input = Tensor::cat(&vec![&traced.input; n_head], 0)?;
        let mid = (input + attention)?;
        let mut x = (&mid + block.mlp.forward(&block.ln_2.forward(&mid)?)?)?;
        let blocks = self.query_blocks(t, QUERY_BLOCK)?;
        for block in self.blocks.iter().skip(layer + 1) {
            let attn =
                block
                    .attn
                    .forward_scoring(&block.ln_1.forward(&x)?, n_head, t, 0, &blocks)?;
            x = (x + attn)?;
            x = (&x + block.mlp.forward(&block.ln_2.forward(&x)?)?)?;
        }
        self.ln_f.forward(&x)
    }

    /// What each head of `layer` carries from each position: f_h(x_j) = (ln_1(x_j) W_V^h + b_V^h) W_O^h, with
    /// W_O^h head h's rows of `c_proj`'s weight and `c_proj`'s bias left out (it belongs to no edge), for the
    /// residual stream `input` (t, n_embd) entering the layer: (n_head, t, n_embd).
    pub fn value_outputs(&self, layer: usize, input: &Tensor) -> Result<Tensor> {
        let block = self.block(layer)?;
        let qkv = block.attn.c_attn.forward(&block.ln_1.forward(input)?)?; // (t, 3c)
        let v = block.attn.split_heads(&qkv, 2)?; // (n_head, t, head_dim)
        let (n_head, t, head_dim) = v.dims3()?;
        let c = n_head * head_dim;
        let bias = block
            .attn
            .c_proj
            .forward(&Tensor::zeros((1, c), DType::F32, &self.device)?)?; // (1, c)
        let mut out = Vec::with_capacity(n_head);
        for h in 0..n_head {
            // Head h's values in its own columns, zeros elsewhere: c_proj of it is f_h plus the bias.
            let mut parts = Vec::with_capacity(3);
            if h > 0 {
                parts.push(Tensor::zeros((t, h * head_dim), DType::F32, &self.device)?);
            }
            parts.push(v.narrow(0, h, 1)?.squeeze(0)?);
            if h + 1 < n_head {
                parts.push(Tensor::zeros(
                    (t, c - (h + 1) * head_dim),
                    DType::F32,
                    &self.device,
                )?);
            }
            let projected = block
                .attn
                .c_proj
                .forward(&Tensor::cat(&parts, 1)?.contiguous()?)?; // (t, c)
            out.push(projected.broadcast_sub(&bias)?);
        }
        Tensor::stack(&out, 0)
    }

    /// `ln_f` of a residual stream (t, n_embd): what the logit lens puts each layer's stream through.
    pub fn final_norm_forward(&self, x: &Tensor) -> Result<Tensor> {
        self.ln_f.forward(x)
    }

    /// `ln_f`'s weight γ, bias β (n_embd each) and ε.
    pub fn final_norm(&self) -> (&Tensor, &Tensor, f64) {
        (
            &self.ln_f.weight,
            &self.ln_f.bias,
            self.config.layer_norm_epsilon,
        )
    }

    /// Row `id` of the token embedding, which is also the LM head's row for that token: (n_embd).
    pub fn unembedding(&self, id: u32) -> Result<Tensor> {
        self.embed(&[id])?.squeeze(0)
    }
}
