//! Integration tests: one binary, one module per area, shared helpers in `util`.

mod cli;
mod engine;
mod errors;
mod hub;
mod tokenizer;
mod util;
