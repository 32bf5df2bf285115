//! Qwen2's and Llama's `config.json`, in both layouts people have on disk.

use serde_json::Value;

use super::token_ids;
use super::{
    invalid, Activation, Config, ConfigError, Family, Llama3Scaling, NormKind, Positions, Rope,
};

impl Config {
    /// Qwen2 and Llama, in both layouts people have on disk: the Hub's (`rope_theta`, `rope_scaling` at the top
    /// level) and recent transformers' (`rope_parameters`).
    pub(super) fn llama_like(v: &Value, family: Family) -> Result<Self, ConfigError> {
        let name = family.name();
        let size = |key: &str| -> Result<Option<usize>, ConfigError> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| invalid(format!("{key} is {x}, not a whole number"))),
            }
        };
        let need = |key: &str| size(key)?.ok_or_else(|| invalid(format!("{key} is missing")));
        let flag = |key: &str, default: bool| -> Result<bool, ConfigError> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(x) => Err(invalid(format!("{key} is {x}, not true or false"))),
            }
        };
        let number = |obj: &Value, key: &str| -> Result<Option<f64>, ConfigError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| invalid(format!("{key} is {x}, not a number"))),
            }
        };
        let n_embd = need("hidden_size")?;
        let n_head = need("num_attention_heads")?;
        let n_kv_head = size("num_key_value_heads")?.unwrap_or(n_head);
        if n_head == 0 || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
            return Err(invalid(format!(
                "num_key_value_heads = {n_kv_head} does not divide num_attention_heads = {n_head}"
            )));
        }
        let head_dim = match size("head_dim")? {
            Some(d) => d,
            None if n_embd.is_multiple_of(n_head) => n_embd / n_head,
            None => {
                return Err(invalid(format!(
                    "num_attention_heads = {n_head} does not divide hidden_size = {n_embd} and no head_dim is given"
                )))
            }
        };
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(invalid(format!(
                "head_dim = {head_dim}; rotary embeddings need an even head width"
            )));
        }
        match v
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("silu")
        {
            "silu" | "swish" => {}
            other => {
                return Err(invalid(format!(
                    "hidden_act {other:?} is not supported for {name} (silu is)"
                )))
            }
        }
        if flag("use_sliding_window", false)? {
            return Err(invalid(format!(
                "use_sliding_window is true: sliding-window attention is not supported for {name}"
            )));
        }
        if let Some(types) = v.get("layer_types").and_then(Value::as_array) {
            if let Some(other) = types.iter().find(|t| t.as_str() != Some("full_attention")) {
                return Err(invalid(format!(
                    "layer_types has {other}: only full_attention layers are supported"
                )));
            }
        }
        // The rope parameters: `rope_parameters` (transformers ≥ 5) or `rope_theta` + `rope_scaling` (the Hub's).
        let params = match v.get("rope_parameters") {
            Some(p @ Value::Object(_)) => p.clone(),
            _ => {
                let mut p = match v.get("rope_scaling") {
                    Some(s @ Value::Object(_)) => s.clone(),
                    _ => Value::Object(Default::default()),
                };
                if let (Value::Object(map), Some(theta)) = (&mut p, v.get("rope_theta")) {
                    map.insert("rope_theta".into(), theta.clone());
                }
                p
            }
        };
        let theta = number(&params, "rope_theta")?.unwrap_or(10_000.0);
        let rope_type = params
            .get("rope_type")
            .or_else(|| params.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let llama3 = match rope_type {
            "default" => None,
            "llama3" => {
                let need_f = |key: &str| {
                    number(&params, key)?
                        .ok_or_else(|| invalid(format!("rope scaling llama3 needs {key}")))
                };
                let s = Llama3Scaling {
                    factor: need_f("factor")?,
                    low_freq_factor: need_f("low_freq_factor")?,
                    high_freq_factor: need_f("high_freq_factor")?,
                    original_max_position_embeddings: need_f("original_max_position_embeddings")?,
                };
                if !(s.factor > 0.0
                    && s.high_freq_factor > s.low_freq_factor
                    && s.low_freq_factor > 0.0)
                {
                    return Err(invalid(format!(
                        "rope scaling llama3 has unusable factors: {s:?}"
                    )));
                }
                Some(s)
            }
            other => {
                return Err(invalid(format!(
                    "RoPE type {other:?} is not supported (default and llama3 are)"
                )))
            }
        };
        if let Some(f) = number(&params, "partial_rotary_factor")? {
            if f != 1.0 {
                return Err(invalid(format!(
                    "partial_rotary_factor = {f}: only full rotary embeddings are supported"
                )));
            }
        }
        if !(theta.is_finite() && theta > 1.0) {
            return Err(invalid(format!(
                "rope_theta = {theta} must be a number above 1"
            )));
        }
        let attention_bias = flag("attention_bias", false)?;
        let eps = number(v, "rms_norm_eps")?.unwrap_or(1e-6);
        let bos_token_id = match v.get("bos_token_id") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        Ok(Self {
            family,
            vocab_size: need("vocab_size")?,
            n_positions: need("max_position_embeddings")?,
            n_embd,
            n_layer: need("num_hidden_layers")?,
            n_head,
            n_kv_head,
            head_dim,
            n_inner: need("intermediate_size")?,
            layer_norm_epsilon: eps,
            activation: Activation::SwiGlu,
            positions: Positions::Rotary(Rope { theta, llama3 }),
            norm: NormKind::RmsNorm,
            qkv_bias: family == Family::Qwen2 || attention_bias,
            out_bias: attention_bias,
            mlp_bias: flag("mlp_bias", false)?,
            tied_embeddings: flag("tie_word_embeddings", false)?,
            bos_token_id,
            eos_token_ids: token_ids(v.get("eos_token_id")),
        })
    }
}
