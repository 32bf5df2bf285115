//! attngraph: GPT-2's attention read as Markov chains and graphs, with every token's probability.
//!
//! Data flows one way: text → [`model`] (tokenize, GPT-2 forward on candle, [`model::Analysis`]) → the
//! command line in [`cli`], the graph and Markov layer ([`graph`], [`markov`], [`export`]) and the app ([`app`], [`ui`]).

// Non-test code never panics on bad input: no unwrap, expect or unchecked indexing.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod allocator;
pub mod app;
pub mod cli;
mod cli_bench;
pub mod cli_graph;
mod cli_perplexity;
pub mod export;
pub mod graph;
pub mod markov;
pub mod model;
pub mod ui;
