//! The packed kernel against a plain f64 product at odd shapes, its blocks against the L1 cache, and its refusals.

use super::mlp::{padded_stride, GeluMlp};
use super::tasks::{rows_per_task, ROWS_PER_TASK};
use super::*;
use crate::model::test_values::{bits, test_values as values};

/// Whether this CPU runs the packed kernel (at the level `ATTNGRAPH_ISA` allows); where it does not, the test
/// says so by name and skips its check.
fn kernel_or_skip(test: &str, what: &str) -> bool {
    if !supported() {
        crate::skip_report::report(
            test,
            what,
            "this CPU has neither AVX-512F nor AVX2 with FMA",
        );
    }
    supported()
}

/// Every tile this CPU runs (at the level `ATTNGRAPH_ISA` allows); the test says by name which it cannot run.
fn tiles_or_skip(test: &str, what: &str) -> Vec<Kernel> {
    let tiles = Kernel::available();
    for (name, needs) in [("avx512", "AVX-512F"), ("avx2", "AVX2 and FMA")] {
        if !tiles.iter().any(|t| t.name() == name) {
            let what = format!("{what} on the {name} tile");
            let why = format!("this CPU has no {needs}, or ATTNGRAPH_ISA is set below it");
            crate::skip_report::report(test, &what, &why);
        }
    }
    tiles
}

#[test]
fn equals_a_plain_f64_product_at_odd_shapes() {
    let tiles = tiles_or_skip(
        "packed::equals_a_plain_f64_product_at_odd_shapes",
        "the packed kernel",
    );
    // Rows around every tile height (1–6, 8, 12), their sums (7 and 8 on AVX2's: two tiles, the first fetching
    // far; 14: three) and the tasks' 192, widths around the 16- and 32-column panel edges, k below, at and across the
    // panel blocks (176 or 256 long).
    for (m, k, n) in [
        (1, 1, 1),
        (1, 8, 16),
        (2, 16, 17),
        (3, 24, 31),
        (5, 7, 33),
        (7, 300, 64),
        (8, 300, 64),
        (14, 40, 33),
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
        // Chunks rounded up to a multiple of the threads and cut evenly at whole tiles (400 rows: three
        // chunks, or four on two threads; 1,030: six on one, two, three or six threads, 86 tiles, the last
        // one short).
        (400, 9, 33),
        (1030, 5, 40),
        // No inputs: every output is its bias, stored by the only block along k there is (with one row tile, and
        // with several, whose later tiles have nothing to fetch).
        (3, 0, 40),
        (13, 0, 40),
        (64, 0, 40),
    ] {
        let (x, w, b) = (values(m * k, 1), values(k * n, 2), values(n, 3));
        let packed = PackedLinear::from_in_out(&w, k, n, Some(&b));
        // This CPU's block, and those of other L1 sizes, on every tile.
        let runs = tiles
            .iter()
            .flat_map(|&t| [block_len().unwrap(), 64, 176, 256].map(|block| (t, block)));
        for (tile, block) in runs {
            let y = packed.forward_blocks(tile, &x, m, k, block).unwrap();
            for r in 0..m {
                for c in 0..n {
                    let want: f64 = f64::from(b[c])
                        + (0..k)
                            .map(|i| f64::from(x[r * k + i]) * f64::from(w[i * n + c]))
                            .sum::<f64>();
                    let got = f64::from(y[r * n + c]);
                    assert!(
                        (got - want).abs() < 1e-5 * (1.0 + k as f64).sqrt(),
                        "({m}, {k}, {n}) {tile:?}, blocks of {block} [{r}][{c}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn heads_written_in_place_are_the_rows_split_bit_for_bit() {
    if !kernel_or_skip(
        "packed::heads_written_in_place_are_the_rows_split_bit_for_bit",
        "the packed kernel",
    ) {
        return;
    }
    // GPT-2's fused projection (three runs of heads of 64), single runs, heads of 32 and 128, rows across the
    // tiles and the tasks' chunks, and no rows at all.
    for (m, k, n, d, parts) in [
        (1, 20, 96, 32, 3),
        (13, 40, 192, 64, 3),
        (64, 768, 2304, 64, 3),
        (200, 9, 256, 128, 2),
        (400, 9, 64, 32, 1),
        (0, 8, 96, 32, 3),
    ] {
        let (x, w, b) = (values(m * k, 4), values(k * n, 5), values(n, 6));
        let packed = PackedLinear::from_in_out(&w, k, n, Some(&b));
        let rows = packed.forward_f32(&x, m).unwrap();
        let heads = packed.forward_heads_f32(&x, m, d, parts).unwrap();
        assert_eq!(heads.len(), parts);
        let run = n / parts;
        for (part, buffer) in heads.iter().enumerate() {
            assert_eq!(buffer.len(), m * run, "({m}, {k}, {n}) part {part}");
            for (i, &got) in buffer.iter().enumerate() {
                // Value i of a part is head i / (m·d), row i / d within it, column i % d of the head.
                let (h, r, e) = (i / (m * d), i / d % m, i % d);
                let want = rows[r * n + part * run + h * d + e];
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "({m}, {k}, {n}) heads of {d} in {parts}: part {part} head {h} row {r} column {e}"
                );
            }
        }
        // Through a tensor: (n / parts / d, m, d) each.
        let xt = Tensor::from_vec(x.clone(), (m, k), &candle_core::Device::Cpu).unwrap();
        for t in packed.forward_heads(&xt, d, parts).unwrap() {
            assert_eq!(t.dims(), &[run / d, m, d]);
        }
    }
    // Heads that are not whole panels, runs that are not whole heads, parts that do not divide the outputs.
    let packed = PackedLinear::from_in_out(&values(8 * 192, 7), 8, 192, None);
    let x = values(3 * 8, 8);
    for (d, parts) in [(16, 3), (48, 1), (64, 2), (32, 5), (0, 1), (32, 0)] {
        let err = packed.forward_heads_f32(&x, 3, d, parts);
        assert!(err.is_err(), "heads of {d} in {parts} runs of 192 outputs");
    }
}

#[test]
fn row_chunks_cover_the_rows_in_whole_tiles_evenly() {
    // Cut by hand: 1,024 rows are 86 tiles (the last of 4 rows), six chunks for two threads; 256 rows are 22
    // tiles, two chunks; 200 rows are 17 tiles, on 32 threads one chunk each.
    let cut = |m, threads| row_chunks(m, threads, ROWS_PER_TASK).collect::<Vec<_>>();
    assert_eq!(
        cut(1024, 2),
        [0..168, 168..336, 336..516, 516..684, 684..852, 852..1024]
    );
    assert_eq!(cut(256, 2), [0..132, 132..256]);
    assert_eq!(cut(192, 2).first(), Some(&(0..192)));
    assert_eq!(cut(192, 2).len(), 1);
    assert_eq!(cut(193, 1), [0..96, 96..193]);
    assert_eq!(
        cut(200, 32),
        (0..17)
            .map(|t| t * 12..(t * 12 + 12).min(200))
            .collect::<Vec<_>>()
    );
    // 1,024 rows in tasks of 96 (inputs of 3,072 on a 2 MB L2): 86 tiles in 12 chunks of 7 or 8.
    let long = row_chunks(1024, 2, 96).collect::<Vec<_>>();
    assert_eq!(long.len(), 12);
    assert_eq!(long[..2], [0..84, 84..168]);
    for per in [MR, 8 * MR, ROWS_PER_TASK] {
        for threads in [1, 2, 3, 8, 16, 32, 64] {
            for m in (1..=500).chain([1023, 1024, 1025, 4096, 8191]) {
                let chunks: Vec<_> = row_chunks(m, threads, per).collect();
                let ctx = format!("{m} rows, {threads} threads, {per} a task: {chunks:?}");
                // In order, back to back, from 0 to m, none empty, each starting on a tile.
                assert_eq!(chunks.first().map(|c| c.start), Some(0), "{ctx}");
                assert_eq!(chunks.last().map(|c| c.end), Some(m), "{ctx}");
                assert!(chunks.windows(2).all(|w| w[0].end == w[1].start), "{ctx}");
                assert!(
                    chunks.iter().all(|c| !c.is_empty() && c.start % MR == 0),
                    "{ctx}"
                );
                // No more than a task's rows; one chunk up to that; beyond it a multiple of the threads, or one
                // tile each where there are fewer tiles, and never more chunks than the smallest such multiple.
                assert!(chunks.iter().all(|c| c.len() <= per), "{ctx}");
                let (n, tiles) = (chunks.len(), m.div_ceil(MR));
                if m <= per {
                    assert_eq!(n, 1, "{ctx}");
                } else {
                    assert!(n % threads == 0 || n == tiles, "{ctx}");
                    assert!(n < m.div_ceil(per) + threads, "{ctx}");
                }
                // Even: whole tiles differ by at most one between chunks (the last may also lose a short tile).
                let tiles: Vec<_> = chunks.iter().map(|c| c.len().div_ceil(MR)).collect();
                let (lo, hi) = (tiles.iter().min(), tiles.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{ctx}");
            }
        }
    }
}

#[test]
fn tasks_keep_their_inputs_in_half_of_l2() {
    // By hand: a tile of 12 rows of k floats is 48·k bytes; half of L2 holds ⌊L2 / 2 / 48k⌋ tiles, kept
    // within 8 to 16.
    let mb = 1 << 20;
    // k = 768 (36,864 bytes a tile): 28 tiles in 1 MB, 14 in 512 KB.
    assert_eq!(rows_per_task(768, Some(2 * mb)), 192);
    assert_eq!(rows_per_task(768, Some(mb)), 168);
    assert_eq!(rows_per_task(768, None), 168);
    // k = 2,048 (98,304 bytes): 10 tiles in 1 MB.
    assert_eq!(rows_per_task(2048, Some(2 * mb)), 120);
    // k = 3,072 (147,456 bytes): 7 tiles in 1 MB, so the floor of 8; a k too long for one tile gets 8 too.
    assert_eq!(rows_per_task(3072, Some(2 * mb)), 96);
    assert_eq!(rows_per_task(1 << 20, Some(2 * mb)), 96);
    // A large L2 or an empty row: the cap.
    assert_eq!(rows_per_task(3072, Some(8 * mb)), 192);
    assert_eq!(rows_per_task(0, Some(2 * mb)), ROWS_PER_TASK);
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

#[test]
fn padded_rows_fall_on_distinct_lines_and_read_back_the_same() {
    // The stride: k or more by whole lines' worth of values, MR rows on MR lines modulo 4 KB.
    for k in (1..=5000).step_by(7).chain([768, 1024, 3072, 4096, 4864]) {
        let ld = padded_stride(k);
        let lines: std::collections::BTreeSet<_> =
            (0..MR).map(|r| r * ld * 4 % 4096 / 64).collect();
        assert!(
            ld >= k && (ld - k).is_multiple_of(16) && lines.len() == MR,
            "k = {k}: {ld}"
        );
    }
    assert_eq!(padded_stride(3072), 3088);
    assert_eq!(padded_stride(768), 784);
    let tiles = tiles_or_skip(
        "packed::padded_rows_fall_on_distinct_lines_and_read_back_the_same",
        "the packed kernel on padded rows",
    );
    // Rows read from a padded layout give the bits of the same rows packed tight, on every tile.
    let block = block_len().unwrap();
    let shapes = [(1, 3072, 40), (13, 768, 70), (200, 96, 33)];
    for (tile, (m, k, n)) in tiles.iter().flat_map(|&t| shapes.map(|s| (t, s))) {
        let (x, w, b) = (values(m * k, 4), values(k * n, 5), values(n, 6));
        let packed = PackedLinear::from_in_out(&w, k, n, Some(&b));
        let ld = padded_stride(k) + 16;
        let mut padded = vec![f32::NAN; (m - 1) * ld + k];
        for (r, row) in x.chunks(k).enumerate() {
            padded[r * ld..r * ld + k].copy_from_slice(row);
        }
        let tight = packed.forward_blocks(tile, &x, m, k, block).unwrap();
        let strided = packed.forward_blocks(tile, &padded, m, ld, block).unwrap();
        let bits = |v: &[f32]| v.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&strided),
            bits(&tight),
            "({m}, {k}, {n}) {tile:?} at {ld}"
        );
        // A buffer that is not m such rows is an error, not a read past its end.
        let forward = |x: &[f32], m, ld| packed.forward_blocks(tile, x, m, ld, block);
        let err = forward(&padded[1..], m, ld).unwrap_err();
        assert!(err.to_string().contains("start"), "{err}");
        assert!(forward(&x, m, k - 1).is_err());
        // Nor is a last row padded to ld like the others.
        let mut longer = padded.clone();
        longer.resize(m * ld, 0.0);
        assert!(forward(&longer, m, ld).is_err());
        // No rows: no values, no outputs; a value without a row is an error.
        assert_eq!(forward(&[], 0, ld).unwrap(), Vec::<f32>::new());
        assert!(forward(&[1.0], 0, ld).is_err());
    }
}

#[test]
fn the_gelu_mlp_gives_the_bits_of_its_three_ops() {
    if !kernel_or_skip(
        "packed::the_gelu_mlp_gives_the_bits_of_its_three_ops",
        "the fused GELU MLP",
    ) {
        return;
    }
    let dev = candle_core::Device::Cpu;
    // Growing, then shrinking: the kept buffers are reused larger and smaller than before, holding the last
    // call's values.
    let shapes = [(1, 64, 256), (13, 48, 1024), (30, 32, 3072)];
    for (m, c, inner) in shapes.into_iter().chain(shapes.into_iter().rev()) {
        let fc =
            PackedLinear::from_in_out(&values(c * inner, 7), c, inner, Some(&values(inner, 8)));
        let proj = PackedLinear::from_in_out(&values(inner * c, 9), inner, c, Some(&values(c, 10)));
        let x = Tensor::from_vec(values(m * c, 11), (m, c), &dev).unwrap();
        let fused = x
            .apply_op1_no_bwd(&GeluMlp {
                fc: &fc,
                proj: &proj,
            })
            .unwrap();
        let h = crate::model::gelu::gelu(&fc.forward(&x).unwrap()).unwrap();
        let apart = proj.forward(&h).unwrap();
        assert_eq!(fused.dims(), &[m, c]);
        assert_eq!(bits(&fused), bits(&apart), "{m} rows, {c} → {inner} → {c}");
    }
}

#[test]
fn the_tiles_give_the_same_bits() {
    // Each output is its bias plus x·w added one k at a time in the same order, one fused multiply-add each, on
    // either tile: only the width of the registers differs, so the bits cannot.
    let tiles = tiles_or_skip("packed::the_tiles_give_the_same_bits", "the comparison");
    let Some((first, rest)) = tiles.split_first() else {
        return;
    };
    let block = block_len().unwrap();
    let bits = |v: Vec<f32>| v.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
    for (m, k, n) in [
        (1, 768, 2304),
        (7, 300, 97),
        (8, 768, 97),
        (64, 3072, 65),
        (193, 33, 45),
    ] {
        let (x, w, b) = (values(m * k, 12), values(k * n, 13), values(n, 14));
        let packed = PackedLinear::from_in_out(&w, k, n, Some(&b));
        let want = bits(packed.forward_blocks(*first, &x, m, k, block).unwrap());
        for &tile in rest {
            let got = bits(packed.forward_blocks(tile, &x, m, k, block).unwrap());
            assert_eq!(got, want, "({m}, {k}, {n}): {tile:?} against {first:?}");
        }
    }
}
