//! The models attngraph names — the default, the demo model, the Hub checkpoints it offers — and why finding a
//! model's files can fail.

/// The model attngraph opens when none is named.
pub const DEFAULT_MODEL: &str = "openai-community/gpt2";

/// A checkpoint on the Hub offered in the app's model list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownModel {
    /// The Hub id.
    pub id: &'static str,
    /// What it is, for the list.
    pub about: &'static str,
    /// The size of its weights on the Hub, for the list.
    pub download: &'static str,
}

/// Checkpoints on the Hub of each supported family, for pickers and help text.
pub const KNOWN_MODELS: [KnownModel; 8] = [
    KnownModel {
        id: "openai-community/gpt2",
        about: "GPT-2 small, 124M",
        download: "548 MB",
    },
    KnownModel {
        id: "openai-community/gpt2-medium",
        about: "GPT-2 medium, 355M",
        download: "1.5 GB",
    },
    KnownModel {
        id: "openai-community/gpt2-large",
        about: "GPT-2 large, 774M",
        download: "3.3 GB",
    },
    KnownModel {
        id: "openai-community/gpt2-xl",
        about: "GPT-2 XL, 1.5B",
        download: "6.4 GB",
    },
    KnownModel {
        id: "distilbert/distilgpt2",
        about: "DistilGPT2, 82M",
        download: "353 MB",
    },
    KnownModel {
        id: "HuggingFaceTB/SmolLM2-135M",
        about: "Llama family, 135M",
        download: "269 MB",
    },
    KnownModel {
        id: "Qwen/Qwen2.5-0.5B",
        about: "Qwen2, 494M, reads Chinese",
        download: "988 MB",
    },
    KnownModel {
        id: "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        about: "Llama family, 1.1B",
        download: "2.2 GB",
    },
];

/// Errors while finding a model's files.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The demo model was asked for its files; it has none, it is inside the binary.
    #[error("the demo model is inside the binary and has no files; load it with --model demo")]
    Embedded,
    /// No folder for the Hub cache can be named.
    #[error("there is no folder for the Hub cache: HOME is not set, nor HF_HUB_CACHE, HF_HOME or XDG_CACHE_HOME; set one of them (HF_HUB_CACHE=/path/to/cache), or load a local folder or --model demo")]
    NoCacheFolder,
    /// A Hub id with no repository or no revision (`""`, `gpt2@`).
    #[error("`{0}` names no model: give demo, a Hub id such as {DEFAULT_MODEL} (id@revision for a revision), or a folder")]
    EmptyId(String),
    /// A path was given that does not exist.
    #[error("model folder {0} does not exist; pass a folder with config.json and model.safetensors, or a Hub id such as {DEFAULT_MODEL}")]
    NoSuchFolder(String),
    /// The folder lacks a file.
    #[error("{folder} has no {file}; a model folder needs config.json, model.safetensors (or model.safetensors.index.json and its shards) and tokenizer.json (or vocab.json + merges.txt)")]
    MissingFile {
        /// The folder.
        folder: String,
        /// The missing file.
        file: String,
    },
    /// Only a pickle checkpoint is there.
    #[error("{0} has only pytorch_model.bin, a pickle file that can run code when loaded, so attngraph refuses it. Convert it once in Python: `GPT2LMHeadModel.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)`")]
    PickleOnly(String),
    /// Offline, and the cache lacks files.
    #[error("offline and {repo} is not fully in the Hugging Face cache at {cache}: missing {missing}. Run once with a network (without --offline / HF_HUB_OFFLINE), or `huggingface-cli download {repo}`, or pass a local folder with --model; --model demo runs the small model inside attngraph, with no download")]
    NotCached {
        /// The repository.
        repo: String,
        /// The cache folder searched.
        cache: String,
        /// Missing files.
        missing: String,
    },
    /// The Hub could not be reached or refused.
    #[error("cannot download {file} of {repo} from {endpoint}: {message}. Check the network and the model id, or use --offline with a filled cache, or a local folder; --model demo runs the small model inside attngraph, with no download")]
    Download {
        /// The repository.
        repo: String,
        /// The file.
        file: String,
        /// The endpoint used.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
}

impl LoadError {
    /// Whether the Hub answered that the file does not exist (HTTP 404), as opposed to any other failure.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Download { message, .. } if message.contains("status code 404"))
    }
}

/// The name of the model compiled into the binary (see [`super::demo`]).
pub const DEMO_MODEL: &str = "demo";
