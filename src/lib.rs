//! attngraph: GPT-2's attention read as Markov chains and graphs, with every token's probability.
//!
//! Data flows one way: text → [`model`] (tokenize, GPT-2 forward on candle, [`model::Analysis`]) → the graph
//! and Markov layer ([`graph`], [`markov`], [`export`]) → the command line in [`cli`], or the app: [`session`]
//! (the model's threads, no egui), the panels in [`ui`], wired in [`app`].

// Non-test code never panics on bad input: no unwrap or expect. Indexing is allowed where the index is proven
// in range (a line says why); a bug must surface, never become a plausible zero or an empty slice.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod allocator;
pub mod app;
pub mod cli;
pub mod export;
pub mod format;
pub mod graph;
pub mod lesson;
pub mod markov;
pub mod model;
pub mod session;
#[cfg(test)]
mod skip_report;
pub mod text_file;
pub mod ui;
