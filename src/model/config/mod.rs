//! A checkpoint's hyper-parameters read from its `config.json`, checked before any weight is touched: GPT-2
//! (`model_type` "gpt2"), Qwen2 ("qwen2") and Llama ("llama", which SmolLM2 and TinyLlama are too).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

mod llama;

/// Largest sizes accepted from a `config.json`: room for any model people study on a desktop, while refusing a
/// file whose numbers would make the loader allocate absurd amounts of memory.
const MAX_EMBD: usize = 1 << 16;
const MAX_LAYERS: usize = 1024;
const MAX_POSITIONS: usize = 1 << 20;
const MAX_VOCAB: usize = 1 << 22;

/// The families attngraph runs, as `model_type` names them.
pub const SUPPORTED_FAMILIES: &str = "gpt2, qwen2, llama";

/// Errors in a `config.json`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON of the expected shape.
    #[error("{path} is not a model's config.json: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The numbers in it cannot describe a model attngraph runs.
    #[error("config.json describes no model attngraph can run: {0}")]
    Invalid(String),
}

/// A model family: how its blocks are built and its weights named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// GPT-2: learned positions, LayerNorm, fused `c_attn` stored (in, out), GELU MLP, tied embeddings.
    Gpt2,
    /// Qwen2: rotary positions, RMSNorm, grouped-query attention with biases on q/k/v, SwiGLU MLP.
    Qwen2,
    /// Llama (and SmolLM2, TinyLlama): as Qwen2, without q/k/v biases unless `attention_bias` says so.
    Llama,
}

impl Family {
    /// The `model_type` of `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpt2 => "gpt2",
            Self::Qwen2 => "qwen2",
            Self::Llama => "llama",
        }
    }
}

/// How a model knows where a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Positions {
    /// A learned vector per position added to the token embedding (GPT-2's `wpe`).
    Learned,
    /// Rotary embeddings applied to queries and keys.
    Rotary(Rope),
}

/// Rotary position embedding parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Rope {
    /// The base θ of the frequencies.
    pub theta: f64,
    /// Llama 3's frequency scaling, if the config asks for it.
    pub llama3: Option<Llama3Scaling>,
}

/// The `llama3` RoPE scaling of Llama 3.1 and 3.2: low frequencies divided by `factor`, high ones kept, and a
/// smooth blend between.
#[derive(Clone, Debug, PartialEq)]
pub struct Llama3Scaling {
    /// How much the low frequencies are slowed.
    pub factor: f64,
    /// Wavelengths above original / low_freq_factor are scaled.
    pub low_freq_factor: f64,
    /// Wavelengths below original / high_freq_factor are kept.
    pub high_freq_factor: f64,
    /// The context the model was first trained at.
    pub original_max_position_embeddings: f64,
}

impl Rope {
    /// The inverse frequencies of a head of width `head_dim`: θ^(−2i/d) for i < d/2, scaled as the config says
    /// (as transformers' `_compute_default_rope_parameters` and `_compute_llama3_parameters`).
    pub fn inverse_frequencies(&self, head_dim: usize) -> Vec<f64> {
        let base: Vec<f64> = (0..head_dim / 2)
            .map(|i| 1.0 / self.theta.powf((2 * i) as f64 / head_dim as f64))
            .collect();
        let Some(s) = &self.llama3 else {
            return base;
        };
        let low_freq_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
        let high_freq_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
        base.into_iter()
            .map(|f| {
                let wavelen = 2.0 * std::f64::consts::PI / f;
                if wavelen > low_freq_wavelen {
                    f / s.factor
                } else if wavelen < high_freq_wavelen {
                    f
                } else {
                    let smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor)
                        / (s.high_freq_factor - s.low_freq_factor);
                    (1.0 - smooth) * f / s.factor + smooth * f
                }
            })
            .collect()
    }
}

/// Which normalisation the blocks and the final norm use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// (x − mean) / √(var + ε) · γ + β.
    LayerNorm,
    /// x / √(mean(x²) + ε) · γ.
    RmsNorm,
}

/// A model's sizes and shape, named as in Hugging Face's `GPT2Config` (n_embd, n_head, …) whatever the family.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The family.
    pub family: Family,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Context length: the most tokens one forward pass may see.
    pub n_positions: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Query heads per block.
    pub n_head: usize,
    /// Key/value heads per block (fewer than `n_head` with grouped-query attention).
    pub n_kv_head: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Width of the MLP's hidden layer.
    pub n_inner: usize,
    /// The norms' epsilon.
    pub layer_norm_epsilon: f64,
    /// The MLP's activation.
    pub activation: Activation,
    /// Learned or rotary positions.
    pub positions: Positions,
    /// LayerNorm or RMSNorm.
    pub norm: NormKind,
    /// Whether the query, key and value projections have biases.
    pub qkv_bias: bool,
    /// Whether the attention's output projection has a bias.
    pub out_bias: bool,
    /// Whether the MLP's projections have biases.
    pub mlp_bias: bool,
    /// Whether the LM head is the token embedding.
    pub tied_embeddings: bool,
    /// `bos_token_id`, when the config names one.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id`: one id, or several (Llama 3 names three); empty when the config names none.
    pub eos_token_ids: Vec<u32>,
}

/// The MLP activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation every OpenAI GPT-2 uses.
    GeluTanh,
    /// `gelu`: the exact erf form.
    GeluErf,
    /// `relu`.
    Relu,
    /// `silu`, gating the up projection (SwiGLU): down(silu(gate x) ⊙ up x).
    SwiGlu,
}

#[derive(Deserialize)]
struct RawGpt2 {
    vocab_size: Option<usize>,
    n_positions: Option<usize>,
    n_ctx: Option<usize>,
    n_embd: Option<usize>,
    n_layer: Option<usize>,
    n_head: Option<usize>,
    n_inner: Option<usize>,
    layer_norm_epsilon: Option<f64>,
    activation_function: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<Value>,
}

/// The ids of `eos_token_id`: a number, a list of numbers, or null.
fn token_ids(value: Option<&Value>) -> Vec<u32> {
    let id = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    match value {
        Some(Value::Array(list)) => list.iter().filter_map(id).collect(),
        Some(v) => id(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

impl Config {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text).map_err(|err| match err {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses and validates the text of a `config.json`. A file without `model_type` is read as GPT-2 (the
    /// oldest checkpoints have none).
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let parse = |source| ConfigError::Parse {
            path: "config.json".into(),
            source,
        };
        let value: Value = serde_json::from_str(text).map_err(parse)?;
        let config = match value.get("model_type").and_then(Value::as_str) {
            None | Some("gpt2") => Self::gpt2(serde_json::from_value(value).map_err(parse)?)?,
            Some("qwen2") => Self::llama_like(&value, Family::Qwen2)?,
            Some("llama") => Self::llama_like(&value, Family::Llama)?,
            Some(other) => {
                return Err(invalid(format!(
                    "model_type is {other:?}; attngraph runs {SUPPORTED_FAMILIES}"
                )))
            }
        };
        config.validate()?;
        Ok(config)
    }

    fn gpt2(raw: RawGpt2) -> Result<Self, ConfigError> {
        let need = |value: Option<usize>, name: &str| {
            value.ok_or_else(|| invalid(format!("{name} is missing")))
        };
        let n_embd = need(raw.n_embd, "n_embd")?;
        let n_head = need(raw.n_head, "n_head")?;
        let activation = match raw.activation_function.as_deref().unwrap_or("gelu_new") {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::GeluErf,
            "relu" => Activation::Relu,
            other => {
                return Err(invalid(format!(
                    "activation_function {other:?} is not supported (gelu_new, gelu, relu are)"
                )))
            }
        };
        if n_head == 0 || !n_embd.is_multiple_of(n_head) {
            return Err(invalid(format!(
                "n_head = {n_head} does not divide n_embd = {n_embd}"
            )));
        }
        Ok(Self {
            family: Family::Gpt2,
            vocab_size: need(raw.vocab_size, "vocab_size")?,
            n_positions: need(raw.n_positions.or(raw.n_ctx), "n_positions")?,
            n_embd,
            n_layer: need(raw.n_layer, "n_layer")?,
            n_head,
            n_kv_head: n_head,
            head_dim: n_embd / n_head,
            n_inner: raw.n_inner.unwrap_or(4 * n_embd),
            layer_norm_epsilon: raw.layer_norm_epsilon.unwrap_or(1e-5),
            activation,
            positions: Positions::Learned,
            norm: NormKind::LayerNorm,
            qkv_bias: true,
            out_bias: true,
            mlp_bias: true,
            tied_embeddings: true,
            bos_token_id: raw.bos_token_id,
            eos_token_ids: token_ids(raw.eos_token_id.as_ref()),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let checks = [
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("n_positions", self.n_positions, MAX_POSITIONS),
            ("n_embd", self.n_embd, MAX_EMBD),
            ("n_layer", self.n_layer, MAX_LAYERS),
            ("n_head", self.n_head, MAX_EMBD),
            ("n_kv_head", self.n_kv_head, MAX_EMBD),
            ("head_dim", self.head_dim, MAX_EMBD),
            ("n_inner", self.n_inner, 8 * MAX_EMBD),
        ];
        for (name, value, max) in checks {
            if value == 0 || value > max {
                return Err(invalid(format!(
                    "{name} = {value}, expected between 1 and {max}"
                )));
            }
        }
        if self.n_head * self.head_dim > 4 * MAX_EMBD {
            return Err(invalid(format!(
                "{} heads of {} are too wide",
                self.n_head, self.head_dim
            )));
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon > 0.0) {
            return Err(invalid(format!(
                "the norm's epsilon = {} must be a small positive number",
                self.layer_norm_epsilon
            )));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// How many parameters a model of this shape has: embeddings (and positions, and an untied LM head),
    /// every block's projections, biases and norms, and the final norm.
    pub fn parameters(&self) -> usize {
        let (d, v, inner) = (self.n_embd, self.vocab_size, self.n_inner);
        let (q, kv) = (self.n_head * self.head_dim, self.n_kv_head * self.head_dim);
        let bias = |on: bool, n: usize| if on { n } else { 0 };
        let norm = match self.norm {
            NormKind::LayerNorm => 2 * d,
            NormKind::RmsNorm => d,
        };
        let attention =
            d * (q + 2 * kv) + bias(self.qkv_bias, q + 2 * kv) + q * d + bias(self.out_bias, d);
        let mlp = match self.activation {
            Activation::SwiGlu => 3 * d * inner + bias(self.mlp_bias, 2 * inner + d),
            _ => 2 * d * inner + bias(self.mlp_bias, inner + d),
        };
        let embeddings = v * d
            + if self.tied_embeddings { 0 } else { v * d }
            + if self.positions == Positions::Learned {
                self.n_positions * d
            } else {
                0
            };
        embeddings + self.n_layer * (attention + mlp + 2 * norm) + norm
    }

    /// Weights of one block's matrix products (projections and MLP, no biases or norms).
    fn block_product_weights(&self) -> usize {
        let (d, inner) = (self.n_embd, self.n_inner);
        let (q, kv) = (self.n_head * self.head_dim, self.n_kv_head * self.head_dim);
        let mlp = match self.activation {
            Activation::SwiGlu => 3 * d * inner,
            _ => 2 * d * inner,
        };
        d * (q + 2 * kv) + q * d + mlp
    }

    /// Floating-point operations of a whole analysis of `t` tokens: every block's products (2 per weight and
    /// token), the causal half of QKᵀ and of A·V (2·t²·heads·head width in all), and the LM head on every
    /// position (2·t·n_embd·vocab). Norms, softmax and statistics are left out: they are a few per element.
    pub fn analysis_flops(&self, t: usize) -> f64 {
        let t = t as f64;
        let blocks = 2.0 * t * self.block_product_weights() as f64
            + 2.0 * t * t * (self.n_head * self.head_dim) as f64;
        self.n_layer as f64 * blocks + 2.0 * t * (self.n_embd * self.vocab_size) as f64
    }

    /// Bytes of float32 weights an analysis reads at least once: every block's products and the LM head.
    pub fn product_weight_bytes(&self) -> f64 {
        4.0 * (self.n_layer * self.block_product_weights() + self.n_embd * self.vocab_size) as f64
    }

    /// Query heads that share one key/value head.
    pub fn group_size(&self) -> usize {
        self.n_head / self.n_kv_head
    }
}

#[cfg(test)]
mod tests;
