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
fn counts_the_work_of_an_analysis() {
    // GPT-2 small: 12·(2T·768·9216 + 1536·T²) in the blocks and 2T·768·50257 in the LM head; 498 MB of
    // weights in its products and head.
    let config = Config::from_json(GPT2).unwrap();
    for t in [8.0, 64.0, 1024.0f64] {
        let want = 12.0 * (2.0 * t * 768.0 * 9216.0 + 1536.0 * t * t) + 2.0 * t * 768.0 * 50257.0;
        assert_eq!(config.analysis_flops(t as usize), want);
    }
    assert_eq!(
        config.product_weight_bytes(),
        4.0 * (12.0 * 768.0 * 9216.0 + 768.0 * 50257.0)
    );
}

#[test]
fn counts_parameters_as_published() {
    // GPT-2 small has 124,439,808 parameters (transformers' num_parameters()); Qwen2.5-0.5B 494,032,768.
    assert_eq!(Config::from_json(GPT2).unwrap().parameters(), 124_439_808);
    assert_eq!(Config::from_json(QWEN2).unwrap().parameters(), 494_032_768);
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
    let text = GPT2.replace("\"gpt2\"", "\"gpt_neox\"");
    let err = Config::from_json(&text).unwrap_err().to_string();
    assert!(
        err.contains("gpt_neox") && err.contains(SUPPORTED_FAMILIES),
        "{err}"
    );
}

const QWEN2: &str = r#"{"model_type":"qwen2","vocab_size":151936,"max_position_embeddings":32768,"hidden_size":896,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"intermediate_size":4864,"rms_norm_eps":1e-06,"rope_theta":1000000.0,"rope_scaling":null,"sliding_window":32768,"use_sliding_window":false,"max_window_layers":21,"tie_word_embeddings":true,"bos_token_id":151643,"hidden_act":"silu"}"#;

#[test]
fn reads_qwen2_as_the_hub_writes_it() {
    let config = Config::from_json(QWEN2).unwrap();
    assert_eq!(config.family, Family::Qwen2);
    assert_eq!(
        (config.n_head, config.n_kv_head, config.head_dim),
        (14, 2, 64)
    );
    assert!(config.qkv_bias && !config.out_bias && config.tied_embeddings);
    assert_eq!(config.norm, NormKind::RmsNorm);
    assert_eq!(
        config.positions,
        Positions::Rotary(Rope {
            theta: 1e6,
            llama3: None
        })
    );
}

#[test]
fn refuses_what_it_does_not_run() {
    let sliding = QWEN2.replace(
        "\"use_sliding_window\":false",
        "\"use_sliding_window\":true",
    );
    let err = Config::from_json(&sliding).unwrap_err().to_string();
    assert!(err.contains("sliding-window"), "{err}");
    let yarn = QWEN2.replace(
        "\"rope_scaling\":null",
        "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0}",
    );
    let err = Config::from_json(&yarn).unwrap_err().to_string();
    assert!(err.contains("\"yarn\" is not supported"), "{err}");
    let gelu = QWEN2.replace("\"silu\"", "\"gelu\"");
    let err = Config::from_json(&gelu).unwrap_err().to_string();
    assert!(err.contains("hidden_act"), "{err}");
    let odd = QWEN2.replace("\"num_key_value_heads\":2", "\"num_key_value_heads\":3");
    let err = Config::from_json(&odd).unwrap_err().to_string();
    assert!(err.contains("num_key_value_heads = 3"), "{err}");
}

#[test]
fn both_rope_layouts_read_alike() {
    let hub = r#"{"model_type":"llama","vocab_size":100,"max_position_embeddings":64,"hidden_size":48,"num_hidden_layers":2,"num_attention_heads":6,"num_key_value_heads":2,"head_dim":12,"intermediate_size":64,"rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":4.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":16}}"#;
    let new = r#"{"model_type":"llama","vocab_size":100,"max_position_embeddings":64,"hidden_size":48,"num_hidden_layers":2,"num_attention_heads":6,"num_key_value_heads":2,"head_dim":12,"intermediate_size":64,"rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":4.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":16}}"#;
    let (a, b) = (
        Config::from_json(hub).unwrap(),
        Config::from_json(new).unwrap(),
    );
    assert_eq!(a, b);
    assert!(matches!(
        &a.positions,
        Positions::Rotary(Rope {
            llama3: Some(_),
            ..
        })
    ));
    assert!(!a.qkv_bias && !a.tied_embeddings);
}
