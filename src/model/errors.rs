//! Why loading a model or reading a text failed: one error type for the engine and everything built on it.

use super::config::ConfigError;
use super::head_set::HeadSetError;
use super::loader::LoadError;
use super::tokenizer::TokenizerError;
use super::weights::WeightsError;

/// Errors from loading a model or analysing a text.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Finding the files.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// config.json.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// model.safetensors.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The tokenizer and the model disagree.
    #[error("the tokenizer has {tokenizer} ids but the model's vocabulary has {model}: they belong to different models")]
    VocabMismatch {
        /// Tokenizer size.
        tokenizer: usize,
        /// Model vocabulary.
        model: usize,
    },
    /// Nothing to analyse.
    #[error("the text is empty: type a sentence, e.g. \"I love tennis.\"")]
    EmptyText,
    /// Stopped on request.
    #[error("cancelled")]
    Cancelled,
    /// One token and no BOS: nothing is predicted.
    #[error("the text is one token and nothing comes before it, so no token is predicted: add text, or prepend BOS (--bos)")]
    NothingScored,
    /// A position past the text.
    #[error("position {position} is past the text: its positions are 0–{last} (BOS included when prepended)")]
    Position {
        /// The position asked for.
        position: usize,
        /// The last position.
        last: usize,
    },
    /// A token id past the vocabulary.
    #[error("token id {id} is outside the vocabulary: ids run 0–{last}")]
    TokenId {
        /// The id asked for.
        id: u32,
        /// The last id.
        last: usize,
    },
    /// Longer than the context.
    #[error("the text is {tokens} tokens{with_bos} but the model reads at most {limit}: shorten it, or score it in sliding windows (the app's Perplexity tab, \"Score the text above\"; or `attngraph perplexity` on it saved as a file)")]
    TooLong {
        /// Tokens including BOS.
        tokens: usize,
        /// " (with BOS)" or "".
        with_bos: &'static str,
        /// n_positions.
        limit: usize,
        /// Bytes of the part of the text that can be read (see [`Engine::fitting_prefix`](super::Engine)),
        /// within this limit and the memory's; `None` for ids that are not a text, or where no part can be.
        fits: Option<usize>,
    },
    /// Longer than the attention of every head can be kept for.
    #[error("the text is {tokens} tokens; keeping every head's attention of this model ({heads} heads) for more than {limit} tokens would take over {gb} GB: shorten it, or score it with sliding windows (`attngraph perplexity`, or the app's Perplexity tab)")]
    TooManyToKeep {
        /// Tokens including BOS.
        tokens: usize,
        /// The most that fit the budget.
        limit: usize,
        /// Heads of the model, all layers.
        heads: usize,
        /// The budget in GB.
        gb: usize,
        /// Bytes of the part of the text that can be read, as for [`EngineError::TooLong`].
        fits: Option<usize>,
    },
    /// BOS asked for but the model has no BOS token.
    #[error("this model has no BOS token (its config.json names no bos_token_id and its tokenizer adds none), so none can be put first; use --no-bos (in the app, untick BOS)")]
    NoBosToken,
    /// Two texts compared position by position that have different lengths.
    #[error("the two texts must have the same number of tokens to be patched position by position, but the clean text is {n_clean} tokens ({clean}) and the corrupt text {n_corrupt} ({corrupt}): change a word for one that tokenises to as many pieces")]
    Lengths {
        /// Tokens of the first text.
        n_clean: usize,
        /// The first text's tokens, written out.
        clean: String,
        /// Tokens of the second text.
        n_corrupt: usize,
        /// The second text's tokens, written out.
        corrupt: String,
    },
    /// Patching's metric logit[answer] − logit[wrong] with one token on both sides: 0 on every run.
    #[error("the answer and the wrong answer are the same token ({0}): logit[answer] − logit[wrong] would be 0 on every run; give two different tokens, e.g. --answer \" Mary\" --wrong \" John\"")]
    SameAnswers(String),
    /// The device could not be opened.
    #[error("cannot use device {name}: {message}")]
    Device {
        /// The device asked for.
        name: String,
        /// Why not.
        message: String,
    },
    /// A head to ablate that the model does not have.
    #[error(transparent)]
    Heads(#[from] HeadSetError),
    /// candle failed during the forward pass.
    #[error("the forward pass failed: {0}")]
    Forward(#[from] candle_core::Error),
    /// A setting in the environment (`ATTNGRAPH_KERNELS`, `ATTNGRAPH_ISA`) that is not one of its values: the
    /// message names it and the values it takes.
    #[error("{0}")]
    Setting(String),
    /// A state the code rules out was reached: a bug, reported rather than turned into a plausible value.
    #[error(
        "internal error: {0}. This is a bug in attngraph; please report it with the text and model"
    )]
    Internal(&'static str),
}
