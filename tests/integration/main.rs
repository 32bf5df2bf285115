//! Integration tests: one binary, one module per area, shared helpers in `util`.

mod app;
mod architecture;
mod attribution;
mod cli;
mod demo;
mod docs;
mod download;
mod engine;
mod errors;
mod export;
mod families;
mod fuzz;
mod hub;
mod lens;
mod lesson;
mod markov;
mod norms;
mod patching;
mod perplexity;
mod pooled;
mod scores;
#[path = "../../src/skip_report.rs"]
mod skip_report;
mod tokenizer;
mod util;
mod window;
