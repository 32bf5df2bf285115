//! Which keys each query sees and where it sits: the causal mask, query rows cut into blocks with their masks,
//! and the rotary tables of the families that rotate queries and keys by position.

use candle_core::{DType, Device, Result, Tensor};

/// A block of query rows for attention's scoring pass with its causal mask (len, start + len).
pub(super) struct QueryBlock {
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) mask: Tensor,
}

/// Query rows per block: small enough that a block's scores stay in cache-friendly buffers (12 heads × 256 ×
/// 1,024 floats = 12 MB at most), large enough for efficient matrix products.
pub(super) const QUERY_BLOCK: usize = 256;

/// cos and sin of every rotary angle p·f for positions `offset..offset + t`: (t, d / 2) each. The angle is a
/// float32 product, as transformers computes it.
pub(super) fn rotary_tables(
    freqs: &[f32],
    offset: usize,
    t: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = freqs.len();
    let mut cos = Vec::with_capacity(t * half);
    let mut sin = Vec::with_capacity(t * half);
    for p in offset..offset + t {
        for &f in freqs {
            let angle = f64::from(p as f32 * f);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    Ok((
        Tensor::from_vec(cos, (t, half), device)?,
        Tensor::from_vec(sin, (t, half), device)?,
    ))
}

/// The causal mask of `t_new` queries at positions offset.. over all offset + t_new keys: 0 where the key is
/// not in the query's future, -inf where it is. (t_new, offset + t_new).
pub(crate) fn causal_mask(offset: usize, t_new: usize, device: &Device) -> Result<Tensor> {
    let t = offset + t_new;
    let values: Vec<f32> = (0..t_new)
        .flat_map(|i| {
            (0..t).map(move |j| {
                if j <= offset + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (t_new, t), device)?.to_dtype(DType::F32)
}

/// Query blocks of `block` rows over `t` positions, each with its causal mask.
pub(super) fn query_blocks(t: usize, block: usize, device: &Device) -> Result<Vec<QueryBlock>> {
    (0..t)
        .step_by(block.max(1))
        .map(|start| {
            let len = block.max(1).min(t - start);
            Ok(QueryBlock {
                start,
                len,
                mask: causal_mask(start, len, device)?,
            })
        })
        .collect()
}
