//! GELU (tanh form, `gelu_new`) on the CPU across all cores. candle's element-wise ops run on one thread, and
//! the MLP's activation was a tenth of an analysis; on other devices candle's own kernel is used.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::softmax::contiguous_f32;

/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as Hugging Face's `NewGELUActivation`.
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let y = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    // tanh(y) = 1 − 2/(e^{2y} + 1): one exp instead of libm's tanhf (expm1f inside), a third of the cost, and
    // exact at the extremes (e^{2y} → ∞ gives 1, → 0 gives −1).
    let tanh = 1.0 - 2.0 / ((2.0 * y).exp() + 1.0);
    0.5 * x * (1.0 + tanh)
}

struct ParallelGelu;

impl CustomOp1 for ParallelGelu {
    fn name(&self) -> &'static str {
        "parallel-gelu-tanh"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, "parallel GELU")?;

        let out: Vec<f32> = input
            .par_chunks(8192)
            .flat_map_iter(|c| c.iter().map(|&x| gelu_tanh(x)))
            .collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// GELU of `x`: in parallel on the CPU for contiguous f32, else candle's `gelu`.
pub fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 && x.is_contiguous() {
        x.apply_op1_no_bwd(&ParallelGelu)
    } else {
        x.gelu()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_tanh_formula() {
        for i in -400..=400 {
            let x = i as f32 / 40.0;
            let want = 0.5
                * f64::from(x)
                * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt()
                        * (f64::from(x) + 0.044715 * f64::from(x).powi(3)))
                    .tanh());
            assert!((f64::from(gelu_tanh(x)) - want).abs() < 2e-6, "x = {x}");
        }
        assert_eq!(gelu_tanh(100.0), 100.0);
        assert_eq!(gelu_tanh(-100.0), 0.0);
    }
}
