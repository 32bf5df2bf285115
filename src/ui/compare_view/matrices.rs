//! The Compare view's matrices, made once and kept while they are drawn.

use std::sync::{Arc, Weak};

use crate::graph::{self, Matrix, Selection};
use crate::model::Analysis;

/// The matrices the view has drawn lately, with the analysis each belongs to: `graph::select` makes a matrix
/// anew (a rollout of 1,024 tokens multiplies twelve 1,024 × 1,024 matrices), and the view draws up to four every
/// frame. An entry holds its analysis weakly; a `Weak` keeps the analysis's allocation, so while the entry exists
/// no other analysis can have that address, and a match by address is the same analysis.
#[derive(Clone, Default)]
struct Matrices(Vec<(Weak<Analysis>, Selection, Made)>);

/// A matrix made, or why it could not be.
type Made = Result<Arc<Matrix>, String>;

/// Matrices kept: the four a frame can draw, and as many again for the last ones looked at.
const KEPT_MATRICES: usize = 8;

/// The matrix `selection` of `analysis`, or why there is none, made once and then kept.
pub(super) fn matrix_of(
    ctx: &egui::Context,
    analysis: &Arc<Analysis>,
    selection: Selection,
) -> Made {
    ctx.data_mut(|data| {
        let kept = &mut data
            .get_temp_mut_or_default::<Matrices>(egui::Id::new("compare view matrices"))
            .0;
        // An analysis no longer shown anywhere is gone, and so is what was kept of it.
        kept.retain(|(of, _, _)| of.strong_count() > 0);
        if let Some(i) = kept.iter().position(|(of, s, _)| {
            *s == selection && std::ptr::eq(of.as_ptr(), Arc::as_ptr(analysis))
        }) {
            // The most recently used last, so the oldest goes first.
            let entry = kept.remove(i);
            let matrix = entry.2.clone();
            kept.push(entry);
            return matrix;
        }
        let matrix = graph::select(&analysis.attentions, selection)
            .map(Arc::new)
            .map_err(|err| err.to_string());
        kept.push((Arc::downgrade(analysis), selection, matrix.clone()));
        let over = kept.len().saturating_sub(KEPT_MATRICES);
        kept.drain(..over);
        matrix
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AnalyzeOptions, Engine, HubOptions, ModelSource};

    fn analysis(engine: &Engine, text: &str) -> Arc<Analysis> {
        Arc::new(engine.analyze(text, &AnalyzeOptions::default()).unwrap())
    }

    #[test]
    fn a_matrix_is_made_once_and_is_always_its_analysiss() {
        let engine = Engine::load(
            &ModelSource::Demo,
            &HubOptions::default(),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let ctx = egui::Context::default();
        let head = Selection::Head { layer: 1, head: 2 };
        let fresh = |a: &Arc<Analysis>, s: Selection| graph::select(&a.attentions, s).unwrap();
        let a = analysis(&engine, "I love tennis.");
        let b = analysis(&engine, "I love tennis and the sea.");
        let first = matrix_of(&ctx, &a, head).unwrap();
        assert_eq!(*first, fresh(&a, head));
        // Asked again, the same matrix comes back without being made anew.
        assert!(Arc::ptr_eq(&first, &matrix_of(&ctx, &a, head).unwrap()));
        assert_eq!(*matrix_of(&ctx, &b, head).unwrap(), fresh(&b, head));
        assert_eq!(
            *matrix_of(&ctx, &a, Selection::Rollout).unwrap(),
            fresh(&a, Selection::Rollout)
        );
        // A selection past the model is its error, kept like a matrix.
        let past = Selection::Head { layer: 99, head: 0 };
        assert_eq!(
            matrix_of(&ctx, &a, past).unwrap_err(),
            graph::select(&a.attentions, past).unwrap_err().to_string()
        );
        // Analyses replaced one after another, each possibly where the last one was: every one gets its own
        // matrix, never one kept for another.
        drop(a);
        for text in [
            "We",
            "We love",
            "We love the",
            "We love the sea",
            "We love the sea.",
        ] {
            let c = analysis(&engine, text);
            assert_eq!(
                *matrix_of(&ctx, &c, head).unwrap(),
                fresh(&c, head),
                "{text}"
            );
        }
        // No more than KEPT_MATRICES are kept, the most recently used among them.
        for layer in 0..engine.info().n_layer {
            let _ = matrix_of(&ctx, &b, Selection::LayerMean(layer));
        }
        let kept = ctx.data_mut(|data| {
            data.get_temp_mut_or_default::<Matrices>(egui::Id::new("compare view matrices"))
                .0
                .len()
        });
        assert!(kept <= KEPT_MATRICES, "{kept} matrices kept");
        assert!(Arc::ptr_eq(
            &matrix_of(&ctx, &b, Selection::LayerMean(engine.info().n_layer - 1)).unwrap(),
            &matrix_of(&ctx, &b, Selection::LayerMean(engine.info().n_layer - 1)).unwrap()
        ));
    }
}
