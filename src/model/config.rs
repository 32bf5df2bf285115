//! The GPT-2 hyper-parameters read from a checkpoint's `config.json`, checked before any weight is touched.

use std::path::Path;

use serde::Deserialize;

/// Largest sizes accepted from a `config.json`. GPT-2 XL is 1600 wide, 48 layers, 25 heads, 1024 positions and a
/// 50257-token vocabulary; these caps leave room for any GPT-2-shaped model while refusing a file whose numbers
/// would make the loader allocate absurd amounts of memory.
const MAX_EMBD: usize = 1 << 16;
const MAX_LAYERS: usize = 1024;
const MAX_POSITIONS: usize = 1 << 20;
const MAX_VOCAB: usize = 1 << 22;

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
    #[error("{path} is not a GPT-2 config.json: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The numbers in it cannot describe a GPT-2 model.
    #[error("config.json describes no usable GPT-2 model: {0}")]
    Invalid(String),
}

/// The GPT-2 architecture's sizes, named as in Hugging Face's `GPT2Config`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Vocabulary size (50257 for every OpenAI GPT-2).
    pub vocab_size: usize,
    /// Context length: the most tokens one forward pass may see.
    pub n_positions: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Attention heads per block.
    pub n_head: usize,
    /// Width of the MLP's hidden layer (4 × n_embd unless the config says otherwise).
    pub n_inner: usize,
    /// LayerNorm epsilon.
    pub layer_norm_epsilon: f64,
    /// The MLP's activation.
    pub activation: Activation,
}

/// The MLP activation named by `activation_function`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation every OpenAI GPT-2 uses.
    GeluTanh,
    /// `gelu`: the exact erf form.
    GeluErf,
    /// `relu`.
    Relu,
}

#[derive(Deserialize)]
struct RawConfig {
    vocab_size: Option<usize>,
    n_positions: Option<usize>,
    n_ctx: Option<usize>,
    n_embd: Option<usize>,
    n_layer: Option<usize>,
    n_head: Option<usize>,
    n_inner: Option<usize>,
    layer_norm_epsilon: Option<f64>,
    activation_function: Option<String>,
    model_type: Option<String>,
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

    /// Parses and validates the text of a `config.json`.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|source| ConfigError::Parse {
            path: "config.json".into(),
            source,
        })?;
        if let Some(model_type) = &raw.model_type {
            if model_type != "gpt2" {
                return Err(ConfigError::Invalid(format!(
                    "model_type is {model_type:?}; attngraph runs the GPT-2 architecture (model_type \"gpt2\")"
                )));
            }
        }
        let need = |value: Option<usize>, name: &str| {
            value.ok_or_else(|| ConfigError::Invalid(format!("{name} is missing")))
        };
        let n_embd = need(raw.n_embd, "n_embd")?;
        let activation = match raw.activation_function.as_deref().unwrap_or("gelu_new") {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::GeluErf,
            "relu" => Activation::Relu,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "activation_function {other:?} is not supported (gelu_new, gelu, relu are)"
                )))
            }
        };
        let config = Self {
            vocab_size: need(raw.vocab_size, "vocab_size")?,
            n_positions: need(raw.n_positions.or(raw.n_ctx), "n_positions")?,
            n_embd,
            n_layer: need(raw.n_layer, "n_layer")?,
            n_head: need(raw.n_head, "n_head")?,
            n_inner: raw.n_inner.unwrap_or(4 * n_embd),
            layer_norm_epsilon: raw.layer_norm_epsilon.unwrap_or(1e-5),
            activation,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let checks = [
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("n_positions", self.n_positions, MAX_POSITIONS),
            ("n_embd", self.n_embd, MAX_EMBD),
            ("n_layer", self.n_layer, MAX_LAYERS),
            ("n_head", self.n_head, MAX_EMBD),
            ("n_inner", self.n_inner, 8 * MAX_EMBD),
        ];
        for (name, value, max) in checks {
            if value == 0 || value > max {
                return Err(ConfigError::Invalid(format!(
                    "{name} = {value}, expected between 1 and {max}"
                )));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(ConfigError::Invalid(format!(
                "n_head = {} does not divide n_embd = {}",
                self.n_head, self.n_embd
            )));
        }
        if !(self.layer_norm_epsilon.is_finite() && self.layer_norm_epsilon > 0.0) {
            return Err(ConfigError::Invalid(format!(
                "layer_norm_epsilon = {} must be a small positive number",
                self.layer_norm_epsilon
            )));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPT2: &str = r#"{"model_type":"gpt2","vocab_size":50257,"n_positions":1024,"n_embd":768,"n_layer":12,"n_head":12,"n_inner":null,"activation_function":"gelu_new","layer_norm_epsilon":1e-05}"#;

    #[test]
    fn reads_gpt2_small() {
        let config = Config::from_json(GPT2).unwrap();
        assert_eq!(config.n_inner, 3072);
        assert_eq!(config.head_dim(), 64);
        assert_eq!(config.activation, Activation::GeluTanh);
    }

    #[test]
    fn refuses_head_count_that_does_not_divide_width() {
        let text = GPT2.replace("\"n_head\":12", "\"n_head\":7");
        let err = Config::from_json(&text).unwrap_err().to_string();
        assert!(
            err.contains("n_head = 7 does not divide n_embd = 768"),
            "{err}"
        );
    }

    #[test]
    fn refuses_zero_and_absurd_sizes() {
        let zero = GPT2.replace("\"n_positions\":1024", "\"n_positions\":0");
        assert!(Config::from_json(&zero)
            .unwrap_err()
            .to_string()
            .contains("n_positions = 0"));
        let huge = GPT2.replace("\"n_embd\":768", "\"n_embd\":9999999999");
        assert!(Config::from_json(&huge)
            .unwrap_err()
            .to_string()
            .contains("n_embd"));
    }

    #[test]
    fn refuses_other_architectures() {
        let text = GPT2.replace("\"gpt2\"", "\"llama\"");
        assert!(Config::from_json(&text)
            .unwrap_err()
            .to_string()
            .contains("llama"));
    }
}
