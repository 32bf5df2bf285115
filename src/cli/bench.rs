//! `attngraph bench`: median time and peak memory of whole analyses at several text lengths.

use std::io::Write;
use std::time::Instant;

use anyhow::bail;

use super::args::{ms_since, ModelArgs};
use crate::model::engine::PrefixCache;
use crate::model::generate::{continue_text, SamplingOptions};
use crate::model::{AnalyzeOptions, Engine};

/// Common English words: texts made of them tokenize to about one token per word.
const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "time",
    "people",
    "year",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "community",
    "name",
    "president",
    "team",
    "minute",
    "idea",
    "kid",
    "body",
    "information",
    "back",
    "parent",
    "face",
    "others",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "education",
    "tennis",
    "love",
    "music",
    "river",
    "green",
];

/// A text of exactly `tokens` tokens made of random words, different for each `seed`.
pub fn random_text(engine: &Engine, tokens: usize, seed: u64) -> anyhow::Result<String> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        // xorshift64*: reproducible texts without a random-number dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut text = String::new();
    loop {
        while text.len() < tokens * 8 + 16 {
            let word = WORDS
                .get((next() % WORDS.len() as u64) as usize)
                .copied()
                .unwrap_or("the");
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
        let (_, spans) = engine.tokenize(&text, false)?;
        if let Some(&(_, end)) = spans.get(tokens.saturating_sub(1)) {
            let cut = text.get(..end).unwrap_or(&text).to_string();
            if engine.tokenize(&cut, false)?.0.len() == tokens {
                return Ok(cut);
            }
        }
        text.push_str(" and");
    }
}

/// Peak resident memory of this process in MB since the last [`reset_peak_rss`] (Linux; `None` elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the kernel's peak-RSS counter, so each length reports its own peak (Linux ≥ 4.0; a no-op elsewhere).
pub fn reset_peak_rss() {
    // Writing "5" to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Tokens the bench's Continue ▸ adds to each text.
const CONTINUE_TOKENS: usize = 8;

/// What this machine cannot beat: its matrix-product rate and its memory bandwidth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peaks {
    /// GFLOP/s of a large float32 matrix product.
    pub gflops: f64,
    /// GB/s of reading memory.
    pub gbps: f64,
    /// Whether they were measured here (else given on the command line).
    pub measured: bool,
}

impl Peaks {
    /// The given peaks, or those measured on this machine for the ones not given: the best of ten 2,048² float32
    /// products (candle's gemm on every core, after three untimed ones) and the best of ten parallel reads of 512 MB.
    pub fn of(gflops: Option<f64>, gbps: Option<f64>) -> anyhow::Result<Self> {
        for (name, value) in [("--peak-gflops", gflops), ("--peak-gbps", gbps)] {
            if value.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                bail!("{name} must be a positive number");
            }
        }
        let measured = gflops.is_none() || gbps.is_none();
        let gflops = match gflops {
            Some(v) => v,
            None => {
                let n = 2048;
                let a = candle_core::Tensor::rand(0f32, 1.0, (n, n), &candle_core::Device::Cpu)?;
                let b = candle_core::Tensor::rand(0f32, 1.0, (n, n), &candle_core::Device::Cpu)?;
                // Three untimed products first (the threads start, the caches warm), then the best of ten: with
                // one and three, two runs on one machine differed by a quarter.
                for _ in 0..3 {
                    std::hint::black_box(a.matmul(&b)?);
                }
                let mut best = f64::INFINITY;
                for _ in 0..10 {
                    let start = Instant::now();
                    std::hint::black_box(a.matmul(&b)?);
                    best = best.min(start.elapsed().as_secs_f64());
                }
                2.0 * (n as f64).powi(3) / best / 1e9
            }
        };
        let gbps = match gbps {
            Some(v) => v,
            None => {
                use rayon::prelude::*;
                let data = vec![1.0f32; 128 << 20]; // 512 MB
                let mut best = f64::INFINITY;
                for _ in 0..10 {
                    let start = Instant::now();
                    // Sixteen independent sums per chunk, so the adds vectorise and memory is what limits.
                    let sum: f32 = data
                        .par_chunks(1 << 16)
                        .map(|c| {
                            c.chunks_exact(16)
                                .fold([0f32; 16], |mut acc, x| {
                                    for (a, v) in acc.iter_mut().zip(x) {
                                        *a += v;
                                    }
                                    acc
                                })
                                .iter()
                                .sum::<f32>()
                        })
                        .sum();
                    std::hint::black_box(sum);
                    best = best.min(start.elapsed().as_secs_f64());
                }
                (data.len() * 4) as f64 / best / 1e9
            }
        };
        Ok(Self {
            gflops,
            gbps,
            measured,
        })
    }

    /// The least time, in ms, of work of `flops` that reads `bytes`: max(FLOPs / rate, bytes / bandwidth).
    pub fn floor_ms(&self, flops: f64, bytes: f64) -> f64 {
        (flops / (self.gflops * 1e9)).max(bytes / (self.gbps * 1e9)) * 1e3
    }
}

/// Runs the benchmark and prints one line per length, each time beside the work it did and this machine's floor
/// for that work (`peaks`).
pub fn bench(
    model: &ModelArgs,
    lengths: &[usize],
    repeat: usize,
    json: bool,
    peaks: (Option<f64>, Option<f64>),
    norms: bool,
) -> anyhow::Result<()> {
    if repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let peaks = Peaks::of(peaks.0, peaks.1)?;
    let engine = model.load()?;
    let limit = engine.info().n_positions;
    if let Some(&bad) = lengths.iter().find(|&&t| t == 0 || t > limit) {
        bail!("--tokens {bad} is outside 1–{limit}, the model's context");
    }
    let options = AnalyzeOptions {
        bos: false,
        top_k: 5,
        keep_scores: false,
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(
            out,
            "CPU: {}, {} threads",
            cpu_name(),
            rayon::current_num_threads()
        )?;
        writeln!(
            out,
            "floor = max(FLOPs / {:.1} GFLOP/s, weight bytes / {:.1} GB/s){}",
            peaks.gflops,
            peaks.gbps,
            if peaks.measured {
                " (measured here: a 2,048² float32 product with candle's gemm, a 512 MB read)"
            } else {
                " (as given)"
            }
        )?;
    }
    let config = engine.model().config().clone();
    // One untimed analysis warms caches and thread pools, as the first keystroke in the app would.
    engine.analyze(&random_text(&engine, 8, 0)?, &options)?;
    for &tokens in lengths {
        let texts: Vec<String> = (0..repeat)
            .map(|rep| random_text(&engine, tokens, (tokens * 1000 + rep + 1) as u64))
            .collect::<anyhow::Result<_>>()?;
        reset_peak_rss();
        let mut times = Vec::with_capacity(repeat);
        for text in &texts {
            let start = Instant::now();
            let analysis = engine.analyze(text, &options)?;
            times.push(ms_since(start));
            drop(analysis);
        }
        times.sort_by(f64::total_cmp);
        // repeat ≥ 1 (checked above), so there is a middle time.
        let median = times[times.len() / 2];
        let peak = peak_rss_mb();
        // Typing: the same texts, each analysed after its first T − 1 tokens are in the prefix cache.
        let mut typing = Vec::with_capacity(repeat);
        for text in &texts {
            let (_, spans) = engine.tokenize(text, false)?;
            let cut = spans
                .len()
                .checked_sub(2)
                .and_then(|i| spans.get(i))
                .map_or(0, |s| s.1);
            let mut cache = PrefixCache::default();
            if cut > 0 {
                engine.analyze_cached(text.get(..cut).unwrap_or(""), &options, &mut cache)?;
            }
            let start = Instant::now();
            let analysis = engine.analyze_cached(text, &options, &mut cache)?;
            typing.push(ms_since(start));
            drop(analysis);
        }
        typing.sort_by(f64::total_cmp);
        let typing_median = typing[typing.len() / 2];
        // Continue ▸'s sampling loop: up to CONTINUE_TOKENS tokens, chosen greedily so each run is repeatable,
        // after each text (the text runs once, then each new token alone on the cached keys and values, as in
        // the app; the app then analyses the longer text, which this does not time). Only where they fit; an
        // end-of-text token stops a run early.
        let continue_median = if tokens + CONTINUE_TOKENS <= limit {
            let sampling = SamplingOptions {
                temperature: 0.0,
                max_new_tokens: CONTINUE_TOKENS,
                ..SamplingOptions::default()
            };
            let mut times = Vec::with_capacity(repeat);
            for text in &texts {
                let start = Instant::now();
                std::hint::black_box(continue_text(&engine, text, false, &sampling)?);
                times.push(ms_since(start));
            }
            times.sort_by(f64::total_cmp);
            Some(times[times.len() / 2])
        } else {
            None
        };
        // The same analyses with the norms of what flows (the edge weights of `export --weight norm` and the
        // window's menu), made in the analysis's own pass.
        let norms_median = if norms {
            let with_norms = AnalyzeOptions {
                norms: true,
                ..options.clone()
            };
            let mut times = Vec::with_capacity(repeat);
            for text in &texts {
                let start = Instant::now();
                std::hint::black_box(engine.analyze(text, &with_norms)?);
                times.push(ms_since(start));
            }
            times.sort_by(f64::total_cmp);
            Some(times[times.len() / 2])
        } else {
            None
        };
        let flops = config.analysis_flops(tokens);
        let bytes = config.product_weight_bytes();
        let floor = peaks.floor_ms(flops, bytes);
        let achieved = flops / (median / 1e3) / 1e9;
        if json {
            let line = serde_json::json!({"tokens": tokens, "median_ms": median, "peak_rss_mb": peak, "repeat": repeat, "model": engine.name(), "kernels": engine.model().kernels_in_use(), "append_one_token_median_ms": typing_median, "continue_tokens": CONTINUE_TOKENS, "continue_median_ms": continue_median, "cpu": cpu_name(), "gflop": flops / 1e9, "weight_mb": bytes / 1e6, "gflops_achieved": achieved, "floor_ms": floor, "over_floor": median / floor, "peak_gflops": peaks.gflops, "peak_gbps": peaks.gbps, "peaks_measured": peaks.measured, "norms_median_ms": norms_median});
            writeln!(out, "{line}")?;
        } else {
            if let Some(ms) = norms_median {
                writeln!(
                    out,
                    "{tokens:>6} tokens  with the norms of what flows {ms:.1} ms"
                )?;
            }
            writeln!(
                out,
                "{tokens:>6} tokens  median {median:>9.1} ms  {:>8.2} GFLOP at {achieved:>6.1} GFLOP/s  floor {floor:>8.1} ms ({:.2}×)  +1 token {typing_median:>7.1} ms  Continue {CONTINUE_TOKENS} tokens {:>9} ms  peak RSS {:>7} MB  ({} kernels)",
                flops / 1e9,
                median / floor,
                continue_median.map_or_else(|| "n/a".to_string(), |ms| format!("{ms:.1}")),
                peak.map_or_else(|| "n/a".to_string(), |mb| format!("{mb:.0}")),
                engine.model().kernels_in_use()
            )?;
        }
    }
    Ok(())
}

/// The CPU's model name as the system reports it (Linux: /proc/cpuinfo), with its family, model and widest vector
/// extension on x86 (the name alone says "AMD EPYC" for every generation), else the architecture.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| describe_cpu(&info))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// "name (family F model M, AVX-512)" from the first processor's block of a /proc/cpuinfo text; the name alone
/// where the block has no family or flags (ARM), `None` where it has no model name. tools/benchlib.py's
/// `cpu_name` writes the same.
fn describe_cpu(info: &str) -> Option<String> {
    let field = |key: &str| {
        info.lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim())
    };
    let name = field("model name")?;
    let (Some(family), Some(flags)) = (field("cpu family"), field("flags")) else {
        return Some(name.to_string());
    };
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let vector = if flags.contains(&"avx512f") {
        "AVX-512"
    } else if flags.contains(&"avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    let model = field("model").unwrap_or("?");
    Some(format!("{name} (family {family} model {model}, {vector})"))
}

#[cfg(test)]
mod cpu_tests {
    use super::describe_cpu;

    #[test]
    fn the_cpu_is_named_with_family_model_and_vector_width() {
        let amd = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\
                   model name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n\
                   processor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            describe_cpu(amd).as_deref(),
            Some("AMD EPYC (family 25 model 17, AVX-512)")
        );
        let intel_avx2 =
            "cpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel Xeon\nflags\t: fma avx2\n";
        assert_eq!(
            describe_cpu(intel_avx2).as_deref(),
            Some("Intel Xeon (family 6 model 85, AVX2)")
        );
        // ARM's cpuinfo has no family or flags line of this kind: the name alone.
        assert_eq!(
            describe_cpu("model name\t: ARMv8 Processor rev 0\nFeatures\t: fp asimd\n").as_deref(),
            Some("ARMv8 Processor rev 0")
        );
        assert_eq!(describe_cpu("Features\t: fp asimd\n"), None);
    }
}
