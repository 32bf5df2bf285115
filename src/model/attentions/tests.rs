//! The packed store: rows read back as pushed, dense or packed, and prefixes shared, cut or refused.

use super::*;

#[test]
fn packed_rows_round_trip() {
    // One layer, one head, 3 tokens: a dense row-stochastic lower-triangular matrix.
    let dense = [1.0, 0.0, 0.0, 0.25, 0.75, 0.0, 0.5, 0.25, 0.25];
    let mut att = Attentions::with_shape(1, 1, 3);
    att.push_layer_dense(&dense).unwrap();
    assert_eq!(att.row(0, 0, 1), &[0.25, 0.75]);
    assert_eq!(att.get(0, 0, 0, 2), 0.0);
    assert_eq!(att.matrix(0, 0)[2], vec![0.5, 0.25, 0.25]);
    assert!(std::panic::catch_unwind(|| att.row(0, 1, 0).len()).is_err());
    assert!(
        att.push_layer_dense(&dense).is_err(),
        "a second layer of a 1-layer tensor"
    );
}

/// Dense (n_head, rows, t) values of `rows` query rows starting at `from`, for 2 layers × 2 heads: each value
/// names its place, so a row read from the wrong place shows.
fn dense_rows(layer: usize, from: usize, rows: usize, t: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for head in 0..2 {
        for q in from..from + rows {
            for k in 0..t {
                let v = (1000 * layer + 100 * head + 10 * q + k) as f32;
                out.push(if k <= q { v } else { 0.0 });
            }
        }
    }
    out
}

/// The rows of [`dense_rows`] packed as the CPU attention writes them: for each head, row q's q + 1 values.
fn packed_rows(layer: usize, from: usize, rows: usize, t: usize) -> Vec<f32> {
    dense_rows(layer, from, rows, t)
        .chunks_exact(t)
        .enumerate()
        .flat_map(|(i, row)| row[..=from + i % rows].to_vec())
        .collect()
}

#[test]
fn packed_layers_read_as_dense_ones() {
    let mut six = Attentions::with_shape(2, 2, 6);
    for layer in 0..2 {
        six.push_layer_packed(None, 6, packed_rows(layer, 0, 6, 6))
            .unwrap();
    }
    assert_eq!(six, fresh(6));
    let mut eight = Attentions::with_shape(2, 2, 8);
    for layer in 0..2 {
        eight
            .push_layer_packed(Some(&six), 3, packed_rows(layer, 5, 3, 8))
            .unwrap();
    }
    assert_eq!(eight, fresh(8));
    assert!(std::sync::Arc::ptr_eq(
        &eight.blocks[0].data,
        &six.blocks[0].data
    ));
    // A value short.
    let mut short = Attentions::with_shape(2, 2, 8);
    assert!(short
        .push_layer_packed(Some(&six), 3, packed_rows(0, 5, 3, 8)[1..].to_vec())
        .is_err());
    // New rows from 7 on after a prefix of 6 rows: row 6 would be one nobody computed.
    let mut gap = Attentions::with_shape(2, 2, 8);
    assert!(gap
        .push_layer_packed(Some(&six), 1, packed_rows(0, 7, 1, 8))
        .is_err());
    // A later layer with another number of new rows than the first.
    let mut uneven = Attentions::with_shape(2, 2, 8);
    uneven
        .push_layer_packed(Some(&six), 3, packed_rows(0, 5, 3, 8))
        .unwrap();
    assert!(uneven
        .push_layer_packed(Some(&six), 2, packed_rows(1, 6, 2, 8))
        .is_err());
    // A later layer with no new rows after a first with three.
    let mut empty = Attentions::with_shape(2, 2, 8);
    empty
        .push_layer_packed(Some(&six), 3, packed_rows(0, 5, 3, 8))
        .unwrap();
    assert!(empty.push_layer_packed(Some(&six), 0, Vec::new()).is_err());
    // A third layer of a 2-layer tensor.
    assert!(eight
        .push_layer_packed(Some(&six), 3, packed_rows(0, 5, 3, 8))
        .is_err());
    // A prefix of another shape, or one not filled.
    let mut other = Attentions::with_shape(1, 2, 8);
    assert!(other
        .push_layer_packed(Some(&six), 3, packed_rows(0, 5, 3, 8))
        .is_err());
    assert!(Attentions::with_shape(2, 2, 8)
        .push_layer_packed(Some(&empty), 3, packed_rows(0, 5, 3, 8))
        .is_err());
    // Keeping 1 of the second block's 3 rows (first > 0): that row is copied out of each layer and head.
    let mut edited = Attentions::with_shape(2, 2, 8);
    for layer in 0..2 {
        edited
            .push_layer_packed(Some(&eight), 2, packed_rows(layer, 6, 2, 8))
            .unwrap();
    }
    assert_eq!(edited, fresh(8));
    assert_eq!(edited.blocks.len(), 3);
    assert_eq!(
        (
            edited.blocks[1].first,
            edited.blocks[1].rows,
            edited.blocks[1].span
        ),
        (5, 1, 1)
    );
}

fn fresh(t: usize) -> Attentions {
    let mut att = Attentions::with_shape(2, 2, t);
    for layer in 0..2 {
        att.push_layer_dense(&dense_rows(layer, 0, t, t)).unwrap();
    }
    att
}

#[test]
fn a_reused_prefix_is_shared_and_reads_as_a_fresh_tensor() {
    // 6 tokens fresh; then 8 tokens reusing the first 5 rows, then 9 reusing 8, then 9 reusing only 2.
    let six = fresh(6);
    let mut eight = Attentions::with_shape(2, 2, 8);
    for layer in 0..2 {
        eight
            .push_layer_rows(Some(&six), &dense_rows(layer, 5, 3, 8))
            .unwrap();
    }
    assert_eq!(eight, fresh(8));
    assert_eq!(eight.blocks.len(), 2);
    assert!(std::sync::Arc::ptr_eq(
        &eight.blocks[0].data,
        &six.blocks[0].data
    ));
    assert_eq!(eight.row(1, 1, 7).len(), 8);
    assert_eq!(eight.get(1, 1, 7, 3), 1173.0);

    let mut nine = Attentions::with_shape(2, 2, 9);
    for layer in 0..2 {
        nine.push_layer_rows(Some(&eight), &dense_rows(layer, 8, 1, 9))
            .unwrap();
    }
    assert_eq!(nine, fresh(9));
    assert_eq!(nine.blocks.len(), 3);

    // Keeping 2 of the first block's 6 rows: those rows are copied, the old block is not held.
    let mut edited = Attentions::with_shape(2, 2, 9);
    for layer in 0..2 {
        edited
            .push_layer_rows(Some(&nine), &dense_rows(layer, 2, 7, 9))
            .unwrap();
    }
    assert_eq!(edited, fresh(9));
    assert_eq!(edited.blocks.len(), 2);
    assert!(!std::sync::Arc::ptr_eq(
        &edited.blocks[0].data,
        &six.blocks[0].data
    ));
    assert_ne!(edited, fresh(8));
}
