//! The attention op against the masked-softmax path it replaces, and its AVX-512 products against the `gemm`
//! crate's.

use super::*;
use candle_core::Device;

fn tensor(len: usize, seed: usize, shape: (usize, usize, usize)) -> Tensor {
    // Values in [−2, 2): scores large enough for sharp softmax rows.
    let values: Vec<f32> = crate::model::test_values::test_values(len, seed as u64)
        .into_iter()
        .map(|x| 4.0 * x)
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// The masked-softmax path the ops replace: full QKᵀ, −∞ above the diagonal, softmax, then P·V, with
/// grouped heads repeated.
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> (Tensor, Tensor) {
    let (n_head, t_new, _) = q.dims3().unwrap();
    let (n_kv, t, d) = k.dims3().unwrap();
    let repeat = |x: &Tensor| {
        x.unsqueeze(1)
            .unwrap()
            .expand((n_kv, n_head / n_kv, t, d))
            .unwrap()
            .reshape((n_head, t, d))
            .unwrap()
    };
    let scores = (q * scale)
        .unwrap()
        .matmul(&repeat(k).t().unwrap())
        .unwrap();
    // The masked path's mask (0 where a key is visible, −∞ in the future), which the op under test never uses.
    let mask = crate::model::lm::causal_mask(t - t_new, t_new, &Device::Cpu).unwrap();
    let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask).unwrap()).unwrap();
    let heads = probs.matmul(&repeat(v)).unwrap();
    (probs, heads)
}

fn close(a: &Tensor, b: &Tensor, what: &str) {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len(), "{what}: sizes");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what}[{i}]: {x} against {y}"
        );
    }
}

/// Packed rows (n_head, Σ (q + 1)) of `t_new` queries over `t` keys, dense again: (n_head, t_new, t) with
/// zeros above the diagonal.
fn unpack(packed: &[f32], t_new: usize, t: usize) -> Vec<Vec<Vec<f32>>> {
    let per_head = (t - t_new..t).map(|q| q + 1).sum::<usize>();
    assert_eq!(packed.len() % per_head.max(1), 0, "a head's rows");
    packed
        .chunks(per_head.max(1))
        .map(|head| {
            let mut rest = head;
            let rows = (t - t_new..t)
                .map(|q| {
                    let (row, after) = rest.split_at(q + 1);
                    rest = after;
                    let mut dense = row.to_vec();
                    dense.resize(t, 0.0);
                    dense
                })
                .collect();
            assert!(rest.is_empty(), "{} values left over", rest.len());
            rows
        })
        .collect()
}

#[test]
fn equals_the_masked_softmax_path() {
    // Blocks cut mid-text (ROWS = 64 < 150), cached positions before the rows, grouped heads (4 over 2),
    // and a single new row after a long prefix.
    for (n_head, n_kv, t_new, offset, d) in [
        (4, 4, 150, 0, 16),
        (4, 2, 70, 9, 8),
        (6, 2, 1, 40, 12),
        (2, 1, 3, 0, 4),
    ] {
        let t = offset + t_new;
        let q = tensor(n_head * t_new * d, 1, (n_head, t_new, d));
        let k = tensor(n_kv * t * d, 2, (n_kv, t, d));
        let v = tensor(n_kv * t * d, 3, (n_kv, t, d));
        let scale = 1.0 / (d as f64).sqrt();
        let (want_p, want_h) = reference(&q, &k, &v, scale);
        let case = format!("{n_head}/{n_kv} heads, {t_new} rows after {offset}");
        let (p, h) = attention(&q, &k, &v, scale as f32, true, true).unwrap();
        let p = unpack(&p.unwrap(), t_new, t);
        let p = Tensor::new(p, &Device::Cpu).unwrap();
        close(&p, &want_p, &format!("probabilities, {case}"));
        close(&h, &want_h, &format!("weighted values, {case}"));
        // Without the probabilities kept, the same weighted values to the bit.
        let (none, h_alone) = attention(&q, &k, &v, scale as f32, false, true).unwrap();
        assert!(none.is_none());
        assert_eq!(
            h_alone.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            h.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            "{case}"
        );
        // The dense path's P·V op on the reference's probabilities.
        close(
            &weighted_values(&want_p, &v).unwrap(),
            &want_h,
            &format!("weighted values of dense probabilities, {case}"),
        );
    }
}

#[test]
fn the_avx512_products_equal_the_gemm_crates() {
    if avx512_missing("the_avx512_products_equal_the_gemm_crates") {
        return;
    }
    // Heads of 64: rows in several blocks and tiles, keys not a multiple of 32 and (64) one, grouped heads,
    // one row after a long prefix.
    for (n_head, n_kv, t_new, offset) in [
        (2, 2, 150, 0),
        (4, 2, 70, 9),
        (3, 1, 1, 40),
        (2, 1, 13, 0),
        (2, 2, 32, 32),
    ] {
        let (t, d) = (offset + t_new, 64);
        let q = tensor(n_head * t_new * d, 4, (n_head, t_new, d));
        let k = tensor(n_kv * t * d, 5, (n_kv, t, d));
        let v = tensor(n_kv * t * d, 6, (n_kv, t, d));
        let scale = 0.125;
        let case = format!("{n_head}/{n_kv} heads, {t_new} rows after {offset}");
        let (fast_p, fast_h) = attention(&q, &k, &v, scale, true, true).unwrap();
        let (gemm_p, gemm_h) = attention(&q, &k, &v, scale, true, false).unwrap();
        let packed = |p: Option<Vec<f32>>| {
            let p = p.unwrap();
            let len = p.len();
            Tensor::from_vec(p, len, &Device::Cpu).unwrap()
        };
        close(
            &packed(fast_p),
            &packed(gemm_p),
            &format!("probabilities, {case}"),
        );
        close(&fast_h, &gemm_h, &format!("weighted values, {case}"));
        let (want_p, want_h) = reference(&q, &k, &v, f64::from(scale));
        close(
            &fast_h,
            &want_h,
            &format!("weighted values against the reference, {case}"),
        );
        // Without the probabilities kept, the same weighted values to the bit.
        let (_, alone) = attention(&q, &k, &v, scale, false, true).unwrap();
        assert_eq!(
            alone.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            fast_h.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            "{case}"
        );
        let (p, _) = attention(&q, &k, &v, scale, true, true).unwrap();
        let p = Tensor::new(unpack(&p.unwrap(), t_new, t), &Device::Cpu).unwrap();
        close(
            &p,
            &want_p,
            &format!("probabilities against the reference, {case}"),
        );
    }
}

/// Whether the CPU lacks AVX-512F, said by name for `test`.
fn avx512_missing(test: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    if avx512::Avx512::detect().is_some() {
        return false;
    }
    let why = "the CPU has no AVX-512F, or ATTNGRAPH_ISA is set below it";
    crate::skip_report::report(test, "the AVX-512 products", why);
    true
}

#[test]
fn no_new_rows_give_empty_results() {
    let q = tensor(0, 1, (2, 0, 4));
    let (k, v) = (
        tensor(2 * 5 * 4, 2, (2, 5, 4)),
        tensor(2 * 5 * 4, 3, (2, 5, 4)),
    );
    let (p, h) = attention(&q, &k, &v, 0.5, true, true).unwrap();
    assert!(p.unwrap().is_empty());
    assert_eq!(h.dims(), &[2, 0, 4]);
    let p = Tensor::zeros((2, 0, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert_eq!(weighted_values(&p, &v).unwrap().dims(), &[2, 0, 4]);
}

#[test]
fn mismatched_shapes_are_errors() {
    let q = tensor(3 * 4 * 8, 1, (3, 4, 8));
    let k = tensor(2 * 4 * 8, 2, (2, 4, 8)); // 3 heads cannot share 2 key heads
    assert!(attention(&q, &k, &k, 1.0, true, true).is_err());
    let k = tensor(3 * 2 * 8, 2, (3, 2, 8)); // fewer keys than rows
    assert!(attention(&q, &k, &k, 1.0, true, true).is_err());
    let k = tensor(3 * 4 * 8, 2, (3, 4, 8));
    let v = tensor(3 * 5 * 8, 3, (3, 5, 8)); // values of other positions than the keys
    assert!(attention(&q, &k, &v, 1.0, false, true).is_err());
}
