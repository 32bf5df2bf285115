//! The packed kernel against a plain f64 product at odd shapes, its blocks against the L1 cache, and its refusals.

use super::*;
use crate::model::test_values::test_values as values;

#[test]
fn equals_a_plain_f64_product_at_odd_shapes() {
    if !supported() {
        crate::skip_report::report(
            "packed::equals_a_plain_f64_product_at_odd_shapes",
            "the AVX-512 packed kernel",
            "this CPU has no AVX-512F",
        );
        return;
    }
    // Rows around every tile height (1–4, 8, 12), their sums and the tasks' 192, widths around the 16- and
    // 32-column panel edges, k below, at and across the panel blocks (176 or 256 long).
    for (m, k, n) in [
        (1, 1, 1),
        (1, 8, 16),
        (2, 16, 17),
        (3, 24, 31),
        (5, 7, 33),
        (7, 300, 64),
        (11, 256, 65),
        (12, 257, 40),
        (13, 513, 97),
        (25, 40, 300),
        (64, 768, 96),
        // Tasks of 192 rows: one full, one and a row, several with the last short; and with panels in
        // groups of more than one (35 panels), the last group short.
        (192, 9, 33),
        (193, 9, 33),
        (391, 33, 45),
        (200, 8, 1100),
        // No inputs: every output is its bias, stored by the only block along k there is.
        (3, 0, 40),
    ] {
        let (x, w, b) = (values(m * k, 1), values(k * n, 2), values(n, 3));
        let packed = PackedLinear::from_in_out(&w, k, n, Some(&b));
        // This CPU's block, and those of other L1 sizes.
        for block in [block_len().unwrap(), 64, 176, 256] {
            let y = packed.forward_blocks(&x, m, block).unwrap();
            for r in 0..m {
                for c in 0..n {
                    let want: f64 = f64::from(b[c])
                        + (0..k)
                            .map(|i| f64::from(x[r * k + i]) * f64::from(w[i * n + c]))
                            .sum::<f64>();
                    let got = f64::from(y[r * n + c]);
                    assert!(
                        (got - want).abs() < 1e-5 * (1.0 + k as f64).sqrt(),
                        "({m}, {k}, {n}) blocks of {block} [{r}][{c}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn panel_blocks_fit_the_l1_data_cache() {
    assert_eq!(block_len_for(Some(48 * 1024)), 256);
    assert_eq!(block_len_for(Some(32 * 1024)), 176);
    assert_eq!(block_len_for(None), 176);
    for l1 in [16, 32, 48, 64] {
        let len = block_len_for(Some(l1 * 1024));
        assert!((NR + MR) * len * 4 <= l1 * 1024, "{l1} KB: {len}");
    }
}

#[test]
fn a_wrong_input_length_is_an_error() {
    let packed = PackedLinear::from_in_out(&values(12, 5), 3, 4, None);
    assert!(packed.forward_f32(&values(7, 6), 2).is_err());
    let x = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], &candle_core::Device::Cpu).unwrap();
    assert!(packed.forward(&x).is_err());
}

#[test]
fn both_layouts_pack_the_same_and_rows_read_back() {
    let (k, n) = (5, 70);
    let w = values(k * n, 4); // (in, out)
    let mut w_t = vec![0.0; k * n]; // (out, in)
    for i in 0..k {
        for o in 0..n {
            w_t[o * k + i] = w[i * n + o];
        }
    }
    let a = PackedLinear::from_in_out(&w, k, n, None);
    let b = PackedLinear::from_out_in(&w_t, n, k, None);
    assert_eq!(a.data.as_slice(), b.data.as_slice());
    for o in [0, 31, 32, 69] {
        assert_eq!(a.row(o), w_t[o * k..(o + 1) * k].to_vec(), "row {o}");
    }
}

#[test]
fn packed_weights_start_on_a_cache_line() {
    for len in [0, 1, 7, 32, 1000, 4096, 12_345] {
        let mut a = WeightMemory::zeroed(len).expect("memory for a test's weights");
        assert_eq!(a.as_slice().len(), len);
        assert_eq!(a.as_slice().as_ptr().addr() % 64, 0, "{len} values");
        assert!(a.as_slice().iter().all(|&v| v == 0.0));
        a.as_mut_slice().fill(1.0);
        assert!(a.as_slice().iter().all(|&v| v == 1.0));
    }
    let p = PackedLinear::from_in_out(&values(3 * 40, 5), 3, 40, None);
    assert_eq!(p.data.as_slice().as_ptr().addr() % 64, 0);
}

/// The bytes of `[start, end)` that lie in mappings advised as huge (`hg` in their `VmFlags`) and in others, from
/// `/proc/self/smaps`; `None` where that cannot be read or has no `VmFlags` lines.
#[cfg(target_os = "linux")]
fn huge_and_not(start: usize, end: usize) -> Option<(usize, usize)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    // Each mapping starts with a line `start-end perms …` (hex addresses) and ends with its `VmFlags:` line.
    let (mut mapping, mut any_flags) = (None, false);
    let (mut huge, mut not) = (0, 0);
    for line in smaps.lines() {
        let range = line
            .split_once(' ')
            .and_then(|(range, _)| range.split_once('-'))
            .and_then(|(s, e)| {
                Some((
                    usize::from_str_radix(s, 16).ok()?,
                    usize::from_str_radix(e, 16).ok()?,
                ))
            });
        if range.is_some() {
            mapping = range;
        } else if let (Some(flags), Some((s, e))) = (line.strip_prefix("VmFlags:"), mapping) {
            any_flags = true;
            if s < end && start < e {
                let bytes = e.min(end) - s.max(start);
                if flags.split_whitespace().any(|f| f == "hg") {
                    huge += bytes;
                } else {
                    not += bytes;
                }
            }
        }
    }
    any_flags.then_some((huge, not))
}

#[cfg(target_os = "linux")]
#[test]
fn packed_weights_ask_for_huge_pages() {
    const TEST: &str = "packed::packed_weights_ask_for_huge_pages";
    // Whether a kernel has THP is its configuration, like a CPU's instructions: reported, not required in CI.
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
        crate::skip_report::report(
            TEST,
            "the huge-page advice check",
            "this kernel has no transparent huge pages",
        );
        return;
    }
    const MB: usize = 1 << 20;
    // (bytes of floats, bytes advised as huge): whole 2 MB pages always, a last part of at least 1 MB too.
    for (bytes, advised) in [
        (12 * MB, 12 * MB),
        (2 * MB + MB / 4, 2 * MB),
        (3 * MB + MB / 2, 3 * MB + MB / 2),
        (9 * MB, 9 * MB),
        (MB, 0),
    ] {
        let weights = WeightMemory::zeroed(bytes / 4).expect("memory for a test's weights");
        let range = weights.as_slice().as_ptr_range();
        if bytes >= 2 * MB {
            assert_eq!(
                range.start.addr() % (2 * MB),
                0,
                "{bytes} bytes start on 2 MB"
            );
        }
        // Other tests' threads map and unmap meanwhile, and a mapping that merges with ours while smaps is read
        // in pieces can be listed twice: read again until the listing covers the weights once.
        let listing = (0..5)
            .map(|_| huge_and_not(range.start.addr(), range.end.addr()))
            .find(|l| l.is_none_or(|(huge, not)| huge + not == bytes));
        let Some(listing) = listing else {
            panic!("/proc/self/smaps never listed the {bytes} bytes of weights once in five reads");
        };
        let Some((huge, _)) = listing else {
            crate::skip_report::report(
                TEST,
                "the huge-page advice check",
                "/proc/self/smaps cannot be read or has no VmFlags",
            );
            return;
        };
        assert_eq!(huge, advised, "bytes advised as huge of {bytes}");
    }
}

#[test]
fn weights_too_large_for_memory_are_an_error() {
    // 2⁴⁰ × 2⁴⁰ weights: more bytes than an address space holds, refused before anything is mapped.
    let Err(err) = PackedLinear::pack(1 << 40, 1 << 40, None, |_, _| 0.0) else {
        panic!("2⁸⁰ weights were packed");
    };
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
    assert!(err.to_string().contains("do not fit in memory"), "{err}");
    // 256 TiB: a size memmap2 accepts, more than the system gives a process, so the system itself says no.
    assert!(WeightMemory::zeroed(1 << 46).is_err());
}
