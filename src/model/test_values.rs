//! Inputs for the kernels' unit tests.

/// Pseudo-random values in [−0.5, 0.5) for the kernels' tests: a fixed linear congruential sequence per seed.
pub fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect()
}

/// The bits of every value of an f32 tensor, in row-major order: for tests that compare two paths bit for bit.
pub fn bits(t: &candle_core::Tensor) -> Vec<u32> {
    let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    values.iter().map(|v| v.to_bits()).collect()
}
