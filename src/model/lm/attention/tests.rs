//! The projections written in heads by the packed kernel against the rows projected and split, for both kinds
//! of projection: GPT-2's fused `c_attn` and a Llama's separate q, k, v with grouped-query heads and rotary
//! positions.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use super::Attention;
use crate::model::config::Config;
use crate::model::layers::{Kernels, Source};
use crate::model::test_values::{bits, test_values as values};
use crate::model::weights::Weights;

/// Weights of the given names and shapes, random, as a checkpoint held in memory.
fn checkpoint(shapes: &[(&str, Vec<usize>)]) -> Weights {
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let len = shape.iter().product();
            let bytes = values(len, 100 + i as u64)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            (name.to_string(), shape.clone(), bytes)
        })
        .collect();
    let views: HashMap<String, safetensors::tensor::TensorView<'_>> = data
        .iter()
        .map(|(name, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(&views, None).unwrap();
    // A test's checkpoint lives as long as the test process.
    Weights::from_static("test checkpoint", Box::leak(bytes.into_boxed_slice())).unwrap()
}

/// `qkv_heads` equals `heads(project(x))` bit for bit, for a text at position `offset`.
fn placed_equals_split(attention: &Attention, c: usize, offset: usize) {
    assert!(
        attention.places_heads(),
        "the kernel should write these heads"
    );
    let x = Tensor::from_vec(values(5 * c, 7), (5, c), &Device::Cpu).unwrap();
    let (q, k, v) = attention.qkv_heads(&x, offset).unwrap();
    let (wq, wk, wv) = attention
        .heads(&attention.project(&x).unwrap(), offset)
        .unwrap();
    for (name, got, want) in [("q", q, wq), ("k", k, wk), ("v", v, wv)] {
        assert_eq!(got.dims(), want.dims(), "{name}");
        assert_eq!(bits(&got), bits(&want), "{name}");
    }
}

#[test]
fn heads_written_in_place_equal_the_rows_split() {
    if !crate::model::packed::supported() {
        crate::skip_report::report(
            "lm::attention::heads_written_in_place_equal_the_rows_split",
            "projections written in heads by the packed kernel",
            "this CPU has neither AVX-512F nor AVX2 with FMA",
        );
        return;
    }
    let device = Device::Cpu;
    // GPT-2: 2 heads of 32, fused.
    let gpt2 = Config::from_json(
        r#"{"model_type": "gpt2", "n_embd": 64, "n_head": 2, "n_layer": 1, "n_positions": 16,
            "vocab_size": 10}"#,
    )
    .unwrap();
    let weights = checkpoint(&[
        ("h.0.attn.c_attn.weight", vec![64, 192]),
        ("h.0.attn.c_attn.bias", vec![192]),
        ("h.0.attn.c_proj.weight", vec![64, 64]),
        ("h.0.attn.c_proj.bias", vec![64]),
    ]);
    let src = Source {
        weights: &weights,
        device: &device,
        kernels: Kernels::Auto,
    };
    placed_equals_split(&Attention::gpt2(&src, "h.0.attn", &gpt2).unwrap(), 64, 0);
    // Llama: 4 query heads of 32 over 2 key/value heads, rotated from position 3.
    let llama = Config::from_json(
        r#"{"model_type": "llama", "hidden_size": 48, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "max_position_embeddings": 16, "vocab_size": 10, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}"#,
    )
    .unwrap();
    let weights = checkpoint(&[
        ("l.q_proj.weight", vec![128, 48]),
        ("l.k_proj.weight", vec![64, 48]),
        ("l.v_proj.weight", vec![64, 48]),
        ("l.o_proj.weight", vec![48, 128]),
    ]);
    let src = Source {
        weights: &weights,
        device: &device,
        kernels: Kernels::Auto,
    };
    placed_equals_split(&Attention::llama(&src, "l", &llama).unwrap(), 48, 3);
}
