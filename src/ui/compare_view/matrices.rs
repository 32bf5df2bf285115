//! The Compare view's matrices, made once and kept while they are drawn.

use std::sync::{Arc, Weak};

use crate::graph::{self, Matrix, Selection};
use crate::model::Analysis;

/// The matrices the view has drawn lately, with the analysis each belongs to: `graph::select` makes a matrix
/// anew (a rollout of 1,024 tokens multiplies twelve 1,024 × 1,024 matrices), and the view draws up to four every
/// frame. An entry holds its analysis weakly; a `Weak` keeps the analysis's allocation, so while the entry exists
/// no other analysis can have that address, and a match by address is the same analysis.
#[derive(Clone, Default)]
struct Matrices {
    kept: Vec<(Weak<Analysis>, Selection, Made)>,
    /// The serial of the last matrix made.
    serial: u64,
}

/// A matrix made for the view.
#[derive(Clone, Debug)]
pub(super) struct Kept {
    /// Different for every matrix made (the texture of a heatmap is remade when it changes).
    pub serial: u64,
    pub matrix: Arc<Matrix>,
}

/// A matrix made, or why it could not be.
type Made = Result<Kept, String>;

/// Matrices kept: the four a frame can draw, and as many again for the last ones looked at.
const KEPT_MATRICES: usize = 8;

/// Where the view's matrices are kept, in the context's temporary data.
fn id() -> egui::Id {
    egui::Id::new("compare view matrices")
}

/// The matrix `selection` of `analysis`, or why there is none, made once and then kept. It is made outside the
/// context's lock, so other threads can ask for repaints meanwhile.
pub(super) fn matrix_of(
    ctx: &egui::Context,
    analysis: &Arc<Analysis>,
    selection: Selection,
) -> Made {
    let found = ctx.data_mut(|data| {
        let kept = &mut data.get_temp_mut_or_default::<Matrices>(id()).kept;
        // An analysis no longer shown anywhere is gone, and so is what was kept of it.
        kept.retain(|(of, _, _)| of.strong_count() > 0);
        let i = kept.iter().position(|(of, s, _)| {
            *s == selection && std::ptr::eq(of.as_ptr(), Arc::as_ptr(analysis))
        })?;
        // The most recently used last, so the oldest goes first.
        let entry = kept.remove(i);
        let made = entry.2.clone();
        kept.push(entry);
        Some(made)
    });
    if let Some(made) = found {
        return made;
    }
    let matrix = graph::select(&analysis.attentions, selection);
    ctx.data_mut(|data| {
        let matrices = data.get_temp_mut_or_default::<Matrices>(id());
        matrices.serial += 1;
        let made = matrix
            .map(|matrix| Kept {
                serial: matrices.serial,
                matrix: Arc::new(matrix),
            })
            .map_err(|err| err.to_string());
        matrices
            .kept
            .push((Arc::downgrade(analysis), selection, made.clone()));
        let over = matrices.kept.len().saturating_sub(KEPT_MATRICES);
        matrices.kept.drain(..over);
        made
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
        assert_eq!(*first.matrix, fresh(&a, head));
        // Asked again, the same matrix comes back without being made anew.
        let again = matrix_of(&ctx, &a, head).unwrap();
        assert!(Arc::ptr_eq(&first.matrix, &again.matrix) && first.serial == again.serial);
        let other = matrix_of(&ctx, &b, head).unwrap();
        assert_eq!(*other.matrix, fresh(&b, head));
        assert_ne!(
            other.serial, first.serial,
            "another matrix, another texture"
        );
        assert_eq!(
            *matrix_of(&ctx, &a, Selection::Rollout).unwrap().matrix,
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
                *matrix_of(&ctx, &c, head).unwrap().matrix,
                fresh(&c, head),
                "{text}"
            );
        }
        // No more than KEPT_MATRICES are kept, the most recently used among them.
        for layer in 0..engine.info().n_layer {
            let _ = matrix_of(&ctx, &b, Selection::LayerMean(layer));
        }
        let kept = ctx.data_mut(|data| data.get_temp_mut_or_default::<Matrices>(id()).kept.len());
        assert!(kept <= KEPT_MATRICES, "{kept} matrices kept");
        let last = Selection::LayerMean(engine.info().n_layer - 1);
        assert!(Arc::ptr_eq(
            &matrix_of(&ctx, &b, last).unwrap().matrix,
            &matrix_of(&ctx, &b, last).unwrap().matrix
        ));
    }
}
