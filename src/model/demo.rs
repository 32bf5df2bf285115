//! The demo model compiled into the binary: a small GPT-2 trained by `tools/train_demo_model.py` on English and
//! Traditional Chinese novels, verse and everyday sentences (its model card is `assets/demo-model/README.md`).
//! It lets the app and every command work offline at once, with heads that learned real patterns, under
//! `--model demo`.

/// The name the demo model goes by in messages and titles.
pub const NAME: &str = "demo";

/// Its `config.json`.
pub const CONFIG: &str = include_str!("../../assets/demo-model/config.json");

/// Its `tokenizer.json`: a byte-level BPE vocabulary of its own, not GPT-2's.
pub const TOKENIZER: &[u8] = include_bytes!("../../assets/demo-model/tokenizer.json");

/// Its `model.safetensors` (float16).
pub static WEIGHTS: &[u8] = include_bytes!("../../assets/demo-model/model.safetensors");
