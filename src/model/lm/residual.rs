//! The forward pass taken apart, for ablation, direct logit attribution and the norms of what heads carry:
//! every layer's pieces of the residual stream ([`CausalLm::trace`]), one head's contribution, and the rest of
//! the model rerun without each head of a layer in turn.

use candle_core::Tensor;

use super::positions::{causal_mask, query_blocks, QUERY_BLOCK};
use super::{CausalLm, KeyValue, LayerTrace, Result, Trace};
use crate::model::head_set::{HeadSet, Replacement};
use crate::model::residual_add;

impl CausalLm {
    /// Runs the model on `ids` with the heads in `ablated` knocked out, keeping every layer's pieces of the
    /// residual stream: what ablation sweeps and direct logit attribution take apart. Ablating a head sets its
    /// attention-weighted values (its share of the output projection's input) to zero and leaves everything
    /// else, the projection's bias included, as it was.
    pub fn trace(&self, ids: &[u32], ablated: &HeadSet) -> Result<Trace> {
        self.trace_replacing(ids, ablated, None)
    }

    /// The means mean ablation puts in for `ids` (BOS included where read), from a pass of the intact model:
    /// `None` for zero ablation, or where no head is knocked out.
    pub fn knock_out_means(
        &self,
        ids: &[u32],
        ablated: &HeadSet,
        replacement: Replacement,
    ) -> Result<Option<Vec<Tensor>>> {
        if replacement.is_zero() || ablated.is_empty() {
            return Ok(None);
        }
        self.head_means(&self.trace(ids, &HeadSet::default())?)
            .map(Some)
    }

    /// [`CausalLm::trace`], with the ablated heads' values set to `means` (one tensor a layer, from
    /// [`CausalLm::head_means`]) instead of zero where given: mean ablation.
    pub fn trace_replacing(
        &self,
        ids: &[u32],
        ablated: &HeadSet,
        means: Option<&[Tensor]>,
    ) -> Result<Trace> {
        if means.is_some_and(|means| means.len() != self.blocks.len()) {
            candle_core::bail!(
                "mean ablation needs the means of all {} layers",
                self.blocks.len()
            );
        }
        let t = ids.len();
        let embeddings = self.embed_at(ids, 0)?;
        let mask = causal_mask(0, t, &self.device)?;
        let mut layers = Vec::with_capacity(self.blocks.len());
        let mut x = embeddings.clone();
        for (idx, block) in self.blocks.iter().enumerate() {
            let kept = self.kept_heads(ablated, idx, means.and_then(|means| means.get(idx)))?;
            let (out, _) = block.attn.forward(
                &block.attention_input(&x)?,
                None,
                &mask,
                false,
                kept.as_ref(),
            )?;
            let (mid, mlp) = block.finish(&x, &out.hidden)?;
            let input = std::mem::replace(&mut x, residual_add::add(&mid, &mlp)?);
            layers.push(LayerTrace {
                input,
                heads: out.heads,
                attention: out.hidden,
                mlp,
            });
        }
        Ok(Trace {
            embeddings,
            hidden: self.final_norm.forward(&x)?,
            residual: x,
            layers,
        })
    }

    /// What each head of `layer` adds to the residual stream at one position, given that position's
    /// attention-weighted values `heads` (n_head, head_dim): its values times its columns of the output
    /// projection, (n_head, n_embd). Also returns the projection's bias (n_embd; zeros where it has none), which
    /// belongs to no head. The heads' rows and the bias add up to the layer's attention output.
    pub fn head_contributions(&self, layer: usize, heads: &Tensor) -> Result<(Tensor, Tensor)> {
        let attn = &self.block(layer)?.attn;
        let per_head = attn.project_heads(&heads.unsqueeze(1)?)?.squeeze(1)?; // (n_head, n_embd)
        Ok((per_head, attn.out_bias()?))
    }

    /// Final hidden states (after the final norm) of the text traced in `trace` with each head of `layer`
    /// ablated in turn, one window per head: (n_head · t, n_embd), head h's window at rows h·t..(h + 1)·t. The
    /// layers below `layer` and the attention of every other head in it do not change, so they are taken from
    /// the trace: each window's attention output is the traced one with that head's values zeroed (or, where
    /// `means` (this layer's, from [`CausalLm::head_means`]) is given, set to its mean), then the rest of the
    /// model runs on all windows at once.
    pub fn without_each_head(
        &self,
        trace: &Trace,
        layer: usize,
        means: Option<&Tensor>,
    ) -> Result<Tensor> {
        let traced = trace
            .layers
            .get(layer)
            .ok_or_else(|| candle_core::Error::Msg(format!("the trace has no layer {layer}")))?;
        let (n_head, t, head_dim) = traced.heads.dims3()?;
        let c = n_head * head_dim;
        // One window per head: the traced values with that head's replaced, (n_head · t, c).
        let mut inputs = Vec::with_capacity(n_head);
        for h in 0..n_head {
            let knockout = self.knockout(|head| head != h, means)?;
            inputs.push(
                knockout
                    .apply(&traced.heads)?
                    .transpose(0, 1)?
                    .reshape((t, c))?,
            );
        }
        let input = Tensor::cat(&vec![&traced.input; n_head], 0)?;
        self.forward_from_values(layer, &input, &Tensor::cat(&inputs, 0)?, n_head, t)
    }

    /// Final hidden states (after the final norm) of `b` windows of `t` positions each, all starting at position
    /// 0, whose residual streams entering block `layer` are `x` (b·t, n_embd): the blocks from `layer` on run on
    /// all windows at once. What patching the residual stream reruns; the layers below are not recomputed.
    pub fn forward_from_layer(
        &self,
        layer: usize,
        x: Tensor,
        b: usize,
        t: usize,
    ) -> Result<Tensor> {
        let blocks = query_blocks(t, QUERY_BLOCK, &self.device)?;
        let mut x = x;
        for block in self.blocks.iter().skip(layer) {
            let attn =
                block
                    .attn
                    .forward_scoring(&block.attention_input(&x)?, b, t, 0, &blocks, true)?;
            let (mid, mlp) = block.finish(&x, &attn)?;
            x = residual_add::add(&mid, &mlp)?;
        }
        self.final_norm.forward(&x)
    }

    /// Final hidden states of `b` windows of `r` rows at positions `offset..offset + r` whose residual streams
    /// entering block `layer` are `x` (b·r, n_embd), and whose first `offset` positions are those of the run whose
    /// keys and values are `past` (one entry per layer, at least `offset` positions each): the blocks from `layer`
    /// on run only the rows that differ. What patching one position of the residual stream reruns: the positions
    /// before it are the corrupt run's at every layer.
    pub fn forward_rows_after(
        &self,
        layer: usize,
        x: Tensor,
        b: usize,
        r: usize,
        past: &[KeyValue],
        offset: usize,
    ) -> Result<Tensor> {
        let mask = causal_mask(offset, r, &self.device)?;
        let mut x = x;
        for (idx, block) in self.blocks.iter().enumerate().skip(layer) {
            let kv = past
                .get(idx)
                .ok_or_else(|| {
                    candle_core::Error::Msg(format!("no keys and values for layer {idx}"))
                })?
                .prefix(offset)?;
            let attn = block
                .attn
                .forward_windows(&block.attention_input(&x)?, b, r, &kv, &mask)?;
            let (mid, mlp) = block.finish(&x, &attn)?;
            x = residual_add::add(&mid, &mlp)?;
        }
        self.final_norm.forward(&x)
    }

    /// Final hidden states of `b` windows of `t` positions whose layer `layer` has the attention-weighted values
    /// `values` (b·t, n_head·head_dim, as the output projection reads them) and the residual streams `input`
    /// (b·t, n_embd) entering it: the output projection, the layer's MLP and every layer above run; nothing
    /// below is recomputed. What ablation and head patching rerun.
    pub fn forward_from_values(
        &self,
        layer: usize,
        input: &Tensor,
        values: &Tensor,
        b: usize,
        t: usize,
    ) -> Result<Tensor> {
        let block = self.block(layer)?;
        let attention = block.attn.out.forward(values)?;
        let (mid, mlp) = block.finish(input, &attention)?;
        self.forward_from_layer(layer + 1, residual_add::add(&mid, &mlp)?, b, t)
    }

    /// What each head of `layer` carries from each position: f_h(x_j) = v_h(x_j) W_O^h, its values (after the
    /// first norm, biases included) times its columns of the output projection, the projection's bias left out
    /// (it belongs to no edge), for the residual stream `input` (t, n_embd) entering the layer:
    /// (n_head, t, n_embd). With grouped-query attention, heads that share a key/value head share its values
    /// but not their output columns.
    pub fn value_outputs(&self, layer: usize, input: &Tensor) -> Result<Tensor> {
        let block = self.block(layer)?;
        let attn = &block.attn;
        attn.project_heads(&attn.values(&block.attention_input(input)?)?)
    }
}
