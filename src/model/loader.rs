//! Where a model comes from: a local folder, or a Hugging Face Hub id resolved through the standard cache
//! (shared with Python's `huggingface_hub`; honours HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use super::download::{check_complete, download_watched, remove_from_cache, stall_timeout};
pub use super::known::{KnownModel, LoadError, DEFAULT_MODEL, DEMO_MODEL, KNOWN_MODELS};

/// Where to read a model from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// The small demo model inside the binary.
    Demo,
    /// A local folder.
    Folder(PathBuf),
    /// A Hub repository at a revision.
    Hub {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
    },
}

impl ModelSource {
    /// Reads a `--model` argument: `demo`, an existing folder, a path-like string, or a Hub id (`name@revision`
    /// allowed).
    /// GPT-2's old short ids (`gpt2`, `distilgpt2`, …) map to their current owners.
    pub fn parse(arg: &str) -> Result<Self, LoadError> {
        if arg == DEMO_MODEL {
            return Ok(Self::Demo);
        }
        let path = Path::new(arg);
        if path.is_dir() {
            return Ok(Self::Folder(path.to_path_buf()));
        }
        let path_like = arg.starts_with('.')
            || arg.starts_with('/')
            || arg.starts_with('~')
            || arg.contains('\\')
            || arg.split('/').count() > 2;
        if path_like || path.exists() {
            return Err(LoadError::NoSuchFolder(arg.to_string()));
        }
        let (repo, revision) = arg.split_once('@').unwrap_or((arg, "main"));
        if repo.trim().is_empty() || revision.trim().is_empty() {
            return Err(LoadError::EmptyId(arg.to_string()));
        }
        let repo = match repo {
            "gpt2" | "gpt2-medium" | "gpt2-large" | "gpt2-xl" => format!("openai-community/{repo}"),
            "distilgpt2" => "distilbert/distilgpt2".to_string(),
            other => other.to_string(),
        };
        Ok(Self::Hub {
            repo,
            revision: revision.to_string(),
        })
    }

    /// A short name for titles and JSON.
    pub fn name(&self) -> String {
        match self {
            Self::Demo => DEMO_MODEL.to_string(),
            Self::Folder(path) => path.display().to_string(),
            Self::Hub { repo, revision } if revision == "main" => repo.clone(),
            Self::Hub { repo, revision } => format!("{repo}@{revision}"),
        }
    }
}

/// The files a model is made of.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    /// `config.json`.
    pub config: PathBuf,
    /// `model.safetensors`, or `model.safetensors.index.json` with its shards beside it.
    pub weights: PathBuf,
    /// `tokenizer.json`, or the folder holding `vocab.json` + `merges.txt`.
    pub tokenizer: TokenizerFiles,
}

/// How the tokenizer is stored.
#[derive(Clone, Debug)]
pub enum TokenizerFiles {
    /// A `tokenizer.json`.
    Json(PathBuf),
    /// `vocab.json` and `merges.txt`.
    VocabMerges(PathBuf, PathBuf),
}

pub use super::download::ProgressFn;

/// Checks that a file in the Hub cache (its `snapshots/` entry) is the Hub's content: the SHA-256 or git SHA-1
/// its blob is named by, read in pieces. What every download passes before it counts as cached.
pub fn verify_cached_file(pointer: &Path) -> Result<(), String> {
    check_complete(pointer)
}

/// How to reach the Hub.
#[derive(Clone, Default)]
pub struct HubOptions {
    /// Use only the cache.
    pub offline: bool,
    /// Called as bytes arrive; `None`: nothing is told (the library prints nothing; the CLI passes a bar on stderr).
    pub progress: Option<ProgressFn>,
    /// Set to true to abandon a download in progress (the partial file stays in `blobs/` for a later resume).
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The Hub cache folder; `None` follows HF_HUB_CACHE / HF_HOME ([`hub_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// The Hub's address; `None` follows HF_ENDPOINT, else https://huggingface.co.
    pub endpoint: Option<String>,
}

impl HubOptions {
    /// Offline if asked or if HF_HUB_OFFLINE is set to a true value.
    pub fn from_env(offline_flag: bool) -> Self {
        let env_offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
            .unwrap_or(false);
        Self {
            offline: offline_flag || env_offline,
            progress: None,
            cancel: None,
            cache_dir: None,
            endpoint: None,
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
fn hf_home() -> Option<PathBuf> {
    env_path("HF_HOME").or_else(|| {
        env_path("XDG_CACHE_HOME")
            .or_else(|| env_path("HOME").map(|h| h.join(".cache")))
            .map(|cache| cache.join("huggingface"))
    })
}

/// The Hub cache folder: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (its older name), else HF_HOME/hub, else
/// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub — the order Python's huggingface_hub uses.
/// With none of them set (no HOME either) there is no cache folder: an error that says what to set, rather
/// than a `.cache` quietly made in the working folder.
pub fn hub_cache_dir() -> Result<PathBuf, LoadError> {
    env_path("HF_HUB_CACHE")
        .or_else(|| env_path("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| hf_home().map(|home| home.join("hub")))
        .ok_or(LoadError::NoCacheFolder)
}

/// The Hub token: HF_TOKEN, else the file HF_TOKEN_PATH names, else HF_HOME/token (where `huggingface-cli
/// login` saves it); `None` without one.
pub fn hub_token() -> Option<String> {
    if let Ok(token) = std::env::var("HF_TOKEN") {
        if !token.trim().is_empty() {
            return Some(token.trim().to_string());
        }
    }
    let path = env_path("HF_TOKEN_PATH").or_else(|| hf_home().map(|home| home.join("token")))?;
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Whether a revision is a full commit hash (40 hex digits) rather than a branch or tag.
fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit the Hub's `revision` of `repo` names now, asked on a thread of its own and given up after
/// `wait` (hf-hub's client has no timeout of its own); `None` without an answer.
fn hub_revision(
    api: &hf_hub::api::sync::Api,
    repo: &Repo,
    wait: std::time::Duration,
) -> Option<String> {
    let api_repo = api.repo(repo.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("hub revision".into())
        .spawn(move || {
            let _ = tx.send(api_repo.info().ok().map(|info| info.sha));
        })
        .ok()?;
    rx.recv_timeout(wait.min(std::time::Duration::from_secs(10)))
        .ok()
        .flatten()
        .filter(|sha| is_commit_hash(sha))
}

/// A file of `repo` at `revision` in the cache: through `refs/<revision>` as hf-hub looks, or, for a revision
/// that is a commit hash, straight under `snapshots/<hash>/` (Python's huggingface_hub writes no `refs/<hash>`).
fn cached_file(cache_dir: &Path, repo: &Repo, revision: &str, file: &str) -> Option<PathBuf> {
    if let Some(path) = Cache::new(cache_dir.to_path_buf())
        .repo(repo.clone())
        .get(file)
    {
        return Some(path);
    }
    let is_commit = is_commit_hash(revision);
    let path = cache_dir
        .join(repo.folder_name())
        .join("snapshots")
        .join(revision)
        .join(file);
    (is_commit && path.exists()).then_some(path)
}

fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .map(|e| e.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "https://huggingface.co".to_string())
}

/// Whether every file a model needs is in the Hub cache (`cache_dir`, else the one the environment names) for
/// the Hub id `repo` at its `main` revision. Looks only; never reaches the network.
pub fn is_cached(repo: &str, cache_dir: Option<&Path>) -> bool {
    let Ok(dir) = cache_dir.map_or_else(hub_cache_dir, |dir| Ok(dir.to_path_buf())) else {
        // No cache folder can be named (no HOME): nothing is cached; loading says what to set.
        return false;
    };
    let cached = Cache::new(dir).repo(Repo::model(repo.to_string()));
    let has = |file: &str| cached.get(file).is_some();
    has("config.json")
        && cached_weights(|file| cached.get(file)).is_some()
        && (has("tokenizer.json") || (has("vocab.json") && has("merges.txt")))
}

/// The index of sharded weights.
const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// The cached weights: `model.safetensors`, or the index when it and every shard it names are cached.
fn cached_weights(cached: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    if let Some(single) = cached("model.safetensors") {
        return Some(single);
    }
    let index = cached(WEIGHTS_INDEX)?;
    let names =
        super::weights::Weights::shard_names(&std::fs::read_to_string(&index).ok()?).ok()?;
    names
        .iter()
        .all(|name| cached(name).is_some())
        .then_some(index)
}

/// Finds (and if needed downloads) the files of `source`.
pub fn resolve(source: &ModelSource, hub: &HubOptions) -> Result<ModelFiles, LoadError> {
    match source {
        ModelSource::Demo => Err(LoadError::Embedded),
        ModelSource::Folder(folder) => resolve_folder(folder),
        ModelSource::Hub { repo, revision } => resolve_hub(repo, revision, hub),
    }
}

fn resolve_folder(folder: &Path) -> Result<ModelFiles, LoadError> {
    let shown = folder.display().to_string();
    if !folder.is_dir() {
        return Err(LoadError::NoSuchFolder(shown));
    }
    let missing = |file: &str| LoadError::MissingFile {
        folder: shown.clone(),
        file: file.to_string(),
    };
    let weights = [folder.join("model.safetensors"), folder.join(WEIGHTS_INDEX)]
        .into_iter()
        .find(|path| path.is_file());
    let Some(weights) = weights else {
        if folder.join("pytorch_model.bin").is_file()
            || folder.join("pytorch_model.bin.index.json").is_file()
        {
            return Err(LoadError::PickleOnly(shown));
        }
        return Err(missing("model.safetensors"));
    };
    let config = folder.join("config.json");
    if !config.is_file() {
        return Err(missing("config.json"));
    }
    let json = folder.join("tokenizer.json");
    let tokenizer = if json.is_file() {
        TokenizerFiles::Json(json)
    } else {
        let (vocab, merges) = (folder.join("vocab.json"), folder.join("merges.txt"));
        if !vocab.is_file() || !merges.is_file() {
            return Err(missing("tokenizer.json"));
        }
        TokenizerFiles::VocabMerges(vocab, merges)
    };
    Ok(ModelFiles {
        config,
        weights,
        tokenizer,
    })
}

fn resolve_hub(repo_id: &str, revision: &str, hub: &HubOptions) -> Result<ModelFiles, LoadError> {
    let cache_dir = match hub.cache_dir.clone() {
        Some(dir) => dir,
        None => hub_cache_dir()?,
    };
    let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string());
    let cached = |file: &str| cached_file(&cache_dir, &repo, revision, file);
    if hub.offline {
        let config = cached("config.json");
        let weights = cached_weights(cached);
        let tokenizer = match cached("tokenizer.json") {
            Some(json) => Some(TokenizerFiles::Json(json)),
            None => cached("vocab.json")
                .zip(cached("merges.txt"))
                .map(|(v, m)| TokenizerFiles::VocabMerges(v, m)),
        };
        return match (config, weights, tokenizer) {
            (Some(config), Some(weights), Some(tokenizer)) => Ok(ModelFiles {
                config,
                weights,
                tokenizer,
            }),
            (config, weights, tokenizer) => {
                let mut missing = Vec::new();
                if config.is_none() {
                    missing.push("config.json");
                }
                if weights.is_none() {
                    missing.push("model.safetensors");
                }
                if tokenizer.is_none() {
                    missing.push("tokenizer.json");
                }
                Err(LoadError::NotCached {
                    repo: repo_id.to_string(),
                    cache: cache_dir.display().to_string(),
                    missing: missing.join(", "),
                })
            }
        };
    }
    let endpoint = hub.endpoint.clone().unwrap_or_else(endpoint);
    let mut builder = ApiBuilder::from_cache(Cache::new(cache_dir.clone()))
        .with_endpoint(endpoint.clone())
        .with_progress(false)
        .with_retries(2);
    if let Some(token) = hub_token() {
        builder = builder.with_token(Some(token));
    }
    let download_err = |file: &str, message: String| LoadError::Download {
        repo: repo_id.to_string(),
        file: file.to_string(),
        endpoint: endpoint.clone(),
        message,
    };
    let api = builder
        .build()
        .map_err(|err| download_err("(setup)", err.to_string()))?;
    let stall = stall_timeout().map_err(|message| download_err("(setup)", message))?;
    // A branch in the cache may be behind the Hub: ask which commit it names now, and use the cached files only
    // if they are that commit's. Without an answer (the Hub unreachable, a mirror without the API), the cache
    // is used as it is.
    let cache_current = is_commit_hash(revision)
        || match hub_revision(&api, &repo, stall) {
            Some(sha) => {
                let cached_ref = std::fs::read_to_string(
                    cache_dir
                        .join(repo.folder_name())
                        .join("refs")
                        .join(revision),
                )
                .ok();
                cached_ref.as_deref().map(str::trim) == Some(sha.as_str())
            }
            None => true,
        };
    let fetch = |file: &str| -> Result<PathBuf, LoadError> {
        if let Some(path) = cached(file).filter(|_| cache_current) {
            return Ok(path);
        }
        let path = download_watched(
            &api,
            &repo,
            &cache_dir.join(repo.folder_name()).join("blobs"),
            file,
            hub.progress.clone(),
            hub.cancel.clone(),
            stall,
        )
        .map_err(|m| download_err(file, m))?;
        if let Err(problem) = check_complete(&path) {
            // hf-hub renames a finished download into the cache; a body cut short by the server can still land
            // there. Remove it so the cache never holds a broken file, and say so.
            remove_from_cache(&path);
            return Err(download_err(file, format!("the downloaded file is incomplete or corrupt ({problem}); it was removed from the cache, run again")));
        }
        Ok(path)
    };
    let config = fetch("config.json")?;
    // Older repositories have vocab.json + merges.txt instead of tokenizer.json: only a 404 sends us there. Any
    // other failure (a 500, a corrupt file) is tokenizer.json's own, and its error says so.
    let tokenizer = match fetch("tokenizer.json") {
        Ok(json) => TokenizerFiles::Json(json),
        Err(err) if err.is_not_found() => {
            TokenizerFiles::VocabMerges(fetch("vocab.json")?, fetch("merges.txt")?)
        }
        Err(err) => return Err(err),
    };
    // Large checkpoints come in shards: only a 404 for model.safetensors sends us to the index.
    let weights = match fetch("model.safetensors") {
        Ok(single) => single,
        Err(err) if err.is_not_found() => {
            // Neither a single file nor an index: the first answer says what is missing.
            let index = match fetch(WEIGHTS_INDEX) {
                Ok(index) => index,
                Err(other) if other.is_not_found() => return Err(err),
                Err(other) => return Err(other),
            };
            let text = std::fs::read_to_string(&index)
                .map_err(|e| download_err(WEIGHTS_INDEX, e.to_string()))?;
            let names = super::weights::Weights::shard_names(&text)
                .map_err(|message| download_err(WEIGHTS_INDEX, message))?;
            for name in &names {
                fetch(name)?;
            }
            index
        }
        Err(err) => return Err(err),
    };
    Ok(ModelFiles {
        config,
        weights,
        tokenizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_map_to_current_owners() {
        assert_eq!(
            ModelSource::parse("gpt2").unwrap(),
            ModelSource::Hub {
                repo: "openai-community/gpt2".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            ModelSource::parse("distilgpt2@v1").unwrap().name(),
            "distilbert/distilgpt2@v1"
        );
    }

    #[test]
    fn missing_paths_are_not_taken_for_hub_ids() {
        let err = ModelSource::parse("./no/such/folder").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn an_empty_id_or_revision_names_no_model() {
        for arg in ["", " ", "gpt2@", "@main"] {
            let err = ModelSource::parse(arg).unwrap_err();
            assert!(err.to_string().contains("names no model"), "{arg:?}: {err}");
        }
    }
}
