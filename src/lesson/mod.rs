//! The lesson: the Markov reading of attention and perplexity, taught step by step on the reader's own text.
//! [`explain`] computes the numbers; [`steps`] holds each step's text in English and Traditional Chinese, its
//! question, and the check of the reader's prediction against those numbers. No egui: `ui::lesson_view` draws it.

mod checks;
pub mod explain;
mod facts;
mod model_checks;
pub mod steps;
pub mod text;
