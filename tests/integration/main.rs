//! Integration tests: one binary, one module per area, shared helpers in `util`.

mod app;
mod attribution;
mod cli;
mod demo;
mod download;
mod engine;
mod errors;
mod export;
mod fuzz;
mod hub;
mod lesson;
mod markov;
mod perplexity;
mod tokenizer;
mod util;
mod window;
