//! `attngraph bench`: median time and peak memory of whole analyses at several text lengths.

use std::io::Write;
use std::time::Instant;

use anyhow::bail;

use super::args::{ms_since, ModelArgs};
use super::machine::{cpu_name, peak_rss_mb, reset_peak_rss, Peaks};
use crate::graph::heads;
use crate::model::engine::PrefixCache;
use crate::model::generate::{continue_text, SamplingOptions};
use crate::model::{AnalyzeOptions, Engine, KeepScores};

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

/// Tokens the bench's Continue ▸ adds to each text.
const CONTINUE_TOKENS: usize = 8;

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
        keep_scores: KeepScores::None,
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
    // The bandwidth floor is memory's: weights that fit in the last-level cache come faster, and the floor
    // binds less (a short text on a small model may run under it). Said, so that a ratio under 1 is not
    // taken for a wrong floor.
    let l3 = crate::model::cpu_caches::cache_bytes(3);
    if let Some(l3) = l3.filter(|&l3| config.product_weight_bytes() <= l3 as f64) {
        let line = format!(
            "note: the weights ({:.0} MB) fit in this CPU's L3 cache ({:.0} MB): they can come from it faster than the floor's memory bandwidth",
            config.product_weight_bytes() / 1e6,
            l3 as f64 / 1e6
        );
        if json {
            eprintln!("{line}");
        } else {
            writeln!(out, "{line}")?;
        }
    }
    // One untimed analysis warms caches and thread pools, as the first keystroke in the app would.
    engine.analyze(&random_text(&engine, 8, 0)?, &options)?;
    for &tokens in lengths {
        let texts: Vec<String> = (0..repeat)
            .map(|rep| random_text(&engine, tokens, (tokens * 1000 + rep + 1) as u64))
            .collect::<anyhow::Result<_>>()?;
        reset_peak_rss();
        let (mut times, mut scoring) = (Vec::with_capacity(repeat), Vec::with_capacity(repeat));
        for text in &texts {
            let start = Instant::now();
            let analysis = engine.analyze(text, &options)?;
            times.push(ms_since(start));
            // What the app does next with every analysis, on its worker: every head's type, for the badges.
            let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
            let start = Instant::now();
            std::hint::black_box(heads::score_heads(
                &analysis.attentions,
                &ids,
                heads::Exclusions::default(),
            ));
            scoring.push(ms_since(start));
            drop(analysis);
        }
        times.sort_by(f64::total_cmp);
        scoring.sort_by(f64::total_cmp);
        // repeat ≥ 1 (checked above), so there is a middle time.
        let (median, head_types_median) = (times[times.len() / 2], scoring[scoring.len() / 2]);
        let peak = peak_rss_mb();
        // Typing: the same texts, each analysed after its first T − 1 tokens are in the prefix cache.
        let mut typing = Vec::with_capacity(repeat);
        for text in &texts {
            let (_, spans) = engine.tokenize(text, false)?;
            // The text but its last token: none for a text of one token, which is then read from nothing.
            let prefix = spans
                .len()
                .checked_sub(2)
                .and_then(|i| spans.get(i))
                .and_then(|s| text.get(..s.1))
                .filter(|p| !p.is_empty());
            let mut cache = PrefixCache::default();
            if let Some(prefix) = prefix {
                engine.analyze_cached(prefix, &options, &mut cache)?;
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
        let kernels = engine.model().kernels_in_use().ok_or_else(|| {
            anyhow::anyhow!(
                "internal error: the weights are packed but this CPU has no packed kernel. This is a bug in \
                 attngraph; please report it with the CPU's name"
            )
        })?;
        if json {
            let line = serde_json::json!({"tokens": tokens, "median_ms": median, "peak_rss_mb": peak, "repeat": repeat, "model": engine.name(), "kernels": kernels, "append_one_token_median_ms": typing_median, "continue_tokens": CONTINUE_TOKENS, "continue_median_ms": continue_median, "cpu": cpu_name(), "gflop": flops / 1e9, "weight_mb": bytes / 1e6, "gflops_achieved": achieved, "floor_ms": floor, "over_floor": median / floor, "peak_gflops": peaks.gflops, "peak_gbps": peaks.gbps, "peaks_measured": peaks.measured, "norms_median_ms": norms_median, "head_types_median_ms": head_types_median});
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
                "{tokens:>6} tokens  head types (the app's badges, after each analysis) {head_types_median:.1} ms"
            )?;
            writeln!(
                out,
                "{tokens:>6} tokens  median {median:>9.1} ms  {:>8.2} GFLOP at {achieved:>6.1} GFLOP/s  floor {floor:>8.1} ms ({:.2}×)  +1 token {typing_median:>7.1} ms  Continue {CONTINUE_TOKENS} tokens {:>9} ms  peak RSS {:>7} MB  ({} kernels)",
                flops / 1e9,
                median / floor,
                continue_median.map_or_else(|| "n/a".to_string(), |ms| format!("{ms:.1}")),
                peak.map_or_else(|| "n/a".to_string(), |mb| format!("{mb:.0}")),
                kernels
            )?;
        }
    }
    Ok(())
}
