//! Arguments shared by several commands: the model, BOS, and output formats. A leaf: it imports no other
//! command module, so every command file can use it without a cycle.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;

use crate::model::loader::ProgressFn;
use crate::model::{DeviceKind, Engine, HubOptions, ModelSource, DEFAULT_MODEL};

/// Options shared by every command that loads a model.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// `demo` (the small model inside the binary), a Hub id of a GPT-2, Qwen2 or Llama model
    /// (openai-community/gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilbert/distilgpt2, Qwen/Qwen2.5-0.5B,
    /// HuggingFaceTB/SmolLM2-135M, …; `id@revision` allowed) or a folder with config.json, the safetensors
    /// weights and tokenizer.json (GPT-2 also vocab.json + merges.txt).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Use only the local Hugging Face cache (also HF_HUB_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
}

impl ModelArgs {
    /// Loads the engine these arguments name.
    pub fn load(&self) -> anyhow::Result<Engine> {
        let source = ModelSource::parse(&self.model)?;
        let device = self.device.open()?;
        let engine = Engine::load(
            &source,
            &HubOptions {
                progress: Some(stderr_progress()),
                ..HubOptions::from_env(self.offline)
            },
            &device,
        )
        .with_context(|| format!("cannot load model {}", source.name()))?;
        Ok(engine)
    }
}

/// `--text T` or `--text-file PATH`, one of the two, on every command that reads one text.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct TextArgs {
    /// The text to read.
    #[arg(long)]
    pub text: Option<String>,
    /// Read the text from a UTF-8 file instead (a page, say; `-`: stdin), exactly as it is: its last newline is a
    /// token too.
    #[arg(long, value_name = "PATH")]
    pub text_file: Option<std::path::PathBuf>,
}

impl TextArgs {
    /// The text, from the flag or the file (`-`: stdin), as `perplexity` reads its files; an empty text is refused
    /// with what to do.
    pub fn read(&self) -> anyhow::Result<String> {
        let text = match (&self.text, &self.text_file) {
            (Some(text), _) => text.clone(),
            (None, Some(path)) => read_text(path)?,
            // clap's group requires one of the two; said plainly all the same.
            (None, None) => {
                anyhow::bail!("give the text: --text \"I love tennis.\" or --text-file PATH")
            }
        };
        if text.is_empty() {
            anyhow::bail!(
                "the text is empty: give a sentence, e.g. --text \"I love tennis.\", or a file that holds one"
            );
        }
        Ok(text)
    }
}

/// The texts of a file of texts, one a line (`-`: stdin), with their line numbers from 1 as editors show them:
/// blank lines are skipped, `lines` drops each line's LF or CR LF, and a byte-order mark (as some editors begin
/// a file) is not part of the first text. A file of no text is refused with what to do.
pub(super) fn read_prompts(path: &std::path::Path) -> anyhow::Result<Vec<(usize, String)>> {
    let all = read_text(path)?;
    let texts: Vec<(usize, String)> = all
        .strip_prefix('\u{feff}')
        .unwrap_or(&all)
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| (i + 1, line.to_owned()))
        .collect();
    if texts.is_empty() {
        anyhow::bail!(
            "{} holds no text: write one text a line (blank lines are skipped)",
            path.display()
        );
    }
    Ok(texts)
}

/// The error of line `line` of `file`, a file of texts: a line too long for `model` said so, with what to do;
/// any other error named by its line.
pub(super) fn line_error(
    err: crate::model::EngineError,
    file: &dyn std::fmt::Display,
    line: usize,
    model: &str,
) -> anyhow::Error {
    use crate::model::EngineError;
    match err {
        EngineError::TooLong {
            tokens,
            with_bos,
            limit,
            ..
        } => anyhow::anyhow!(
            "{file} line {line} is {tokens} tokens{with_bos}, and {model} reads at most {limit}: shorten the line, or split it over several"
        ),
        EngineError::TooManyToKeep { tokens, limit, .. } => anyhow::anyhow!(
            "{file} line {line} is {tokens} tokens, and every head's attention of {model} is kept for at most {limit}: shorten the line, or split it over several"
        ),
        err => anyhow::Error::new(err).context(format!("{file} line {line}")),
    }
}

/// Reads a file (or stdin for `-`) as UTF-8, naming the byte offset of the first invalid byte; at most
/// [`crate::text_file::MAX_BYTES`].
pub(super) fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = if path.as_os_str() == "-" {
        crate::text_file::read(std::io::stdin()).context("cannot read stdin")?
    } else {
        let file = std::fs::File::open(path).with_context(|| {
            format!(
                "cannot read {}: check the path, or give - to read stdin",
                path.display()
            )
        })?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            anyhow::bail!("{} is a folder: give a text file", path.display());
        }
        let bytes = crate::text_file::read(file)
            .with_context(|| format!("cannot read {}", path.display()))?;
        // No file this command writes may replace it (`export::write_atomic` refuses).
        crate::export::note_input(path);
        bytes
    };
    String::from_utf8(bytes).map_err(|err| {
        let shown = if path.as_os_str() == "-" {
            "stdin".to_string()
        } else {
            path.display().to_string()
        };
        anyhow::anyhow!(
            "{shown} is not valid UTF-8: invalid byte at offset {}; convert it first (e.g. iconv -f latin1 -t utf-8)",
            err.utf8_error().valid_up_to()
        )
    })
}

/// `--bos` / `--no-bos`, the same pair on every command that reads text. Without either, the ids are what the
/// model's own tokenizer gives, as transformers' `tokenizer(text)`: Llama's puts `<s>` first, GPT-2's and
/// Qwen's add nothing, so the first token is context only and not scored (`heads --text` is the exception: its
/// scores look for the sink at token 0, so BOS is on there unless `--no-bos` is given).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct BosArgs {
    /// Make the model's BOS token (GPT-2's <|endoftext|>, Llama's <s>) token 0, so the first token of the text
    /// is scored too.
    #[arg(long, overrides_with = "no_bos")]
    pub bos: bool,
    /// No BOS token, even where the model's tokenizer adds one: the first token is context only.
    #[arg(long, overrides_with = "bos")]
    pub no_bos: bool,
}

impl BosArgs {
    /// Whether BOS goes first for `engine`'s model: as the flags say, else the command's default or what the
    /// model's tokenizer does by itself.
    pub fn enabled(self, engine: &Engine, default: bool) -> bool {
        match (self.bos, self.no_bos) {
            (true, _) => true,
            (_, true) => false,
            _ => default || engine.tokenizer_adds_bos(),
        }
    }
}

/// What `analyze` outputs, and where.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalyzeOutput {
    /// Alternatives to list per token.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Also output the pre-softmax scores QK^T/sqrt(d) (JSON or --npz).
    #[arg(long)]
    pub scores: bool,
    /// Also output what each edge carries: `norms` [layer][head][query][key] = α_ij ‖f_h(x_j)‖,
    /// `layer_norms` [layer][query][key] and `value_norms` [layer][head][token] (JSON or --npz).
    #[arg(long)]
    pub norms: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    pub format: AnalyzeFormat,
    /// Also write the arrays to FILE as NumPy's .npz (np.load): input_ids, tokens, logprob,
    /// surprisal_bits, rank, entropy_bits, running_perplexity (NaN, and rank 0, where not scored),
    /// perplexity, attentions (layer, head, query, key) in float32, and --scores' and --norms' arrays.
    #[arg(long, value_name = "FILE")]
    pub npz: Option<std::path::PathBuf>,
}

/// Output formats of `analyze`, `markov` and `heads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    /// A table for people.
    Table,
    /// One JSON object for programs.
    Json,
}

/// Output formats of `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// A table for people.
    Table,
    /// One JSON object per line and length.
    Json,
}

/// Milliseconds since `start`.
pub(crate) fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Output formats of `ablate`, `attribute`, `lens` and `patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EffectFormat {
    /// A table for people (ablate and attribute: biggest effects first).
    Table,
    /// One JSON object for programs.
    Json,
    /// CSV: one row per position (ablate), per head and position (ablate --all-heads), per part (attribute),
    /// per layer, position and guess (lens), or per patched head and per patched position (patch).
    Csv,
}

/// A progress bar on stderr: drawn only when stderr is a terminal and `quiet` is off, so logs and pipes get
/// no control characters.
pub(crate) fn progress_bar(total: usize, unit: &str, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    let template = format!("{{bar:30}} {{pos}}/{{len}} {unit}  {{per_sec}}  ETA {{eta}}");
    // The template is fixed above; a broken one would only fall back to indicatif's default style.
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Download progress on stderr: a bar (bytes, rate, time left) when stderr is a terminal; otherwise one plain
/// line as each file starts, so logs get no control characters.
pub(crate) fn stderr_progress() -> ProgressFn {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let current: std::sync::Mutex<Option<(String, indicatif::ProgressBar)>> =
        std::sync::Mutex::new(None);
    Arc::new(move |file: &str, done, total| {
        // A poisoned lock only means an earlier callback panicked; the bar is still usable.
        let mut current = current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_none_or(|(name, _)| name != file) {
            if let Some((_, old)) = current.take() {
                old.finish();
            }
            let bar = if terminal {
                let bar = indicatif::ProgressBar::new(total);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "downloading {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                ) {
                    bar.set_style(style);
                }
                bar.set_message(file.to_string());
                bar
            } else {
                eprintln!("downloading {file} ({:.1} MB)", total as f64 / 1e6);
                indicatif::ProgressBar::hidden()
            };
            *current = Some((file.to_string(), bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_position(done);
            if done >= total {
                bar.finish();
            }
        }
    })
}
