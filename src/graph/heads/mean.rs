//! Each head's scores averaged over several texts, as TransformerLens's head detector averages them over a
//! batch of prompts: a kind of head shows on one text by chance, on many only if the head has it.

use super::{Chance, HeadScores};

/// Each head's scores averaged over texts. `per_text` holds every text's [`super::score_heads`], all of one
/// model: the same heads in the same order. The five scores and the chance scores are the mean over the
/// texts; a copying kind's own share (`duplicate_share`, `induction_share`) is the mean over the texts that
/// have one, and `None` where none has. `None` where there are no texts.
///
/// # Panics
///
/// If two texts' scores are of different heads (they come from one model).
pub fn mean_over_texts(per_text: &[Vec<HeadScores>]) -> Option<Vec<HeadScores>> {
    let first = per_text.first()?;
    for scores in per_text {
        assert!(
            scores.len() == first.len()
                && scores
                    .iter()
                    .zip(first)
                    .all(|(a, b)| (a.layer, a.head) == (b.layer, b.head)),
            "head scores of one model: the same heads for every text"
        );
    }
    let texts = per_text.len() as f64;
    let means = (0..first.len()).map(|i| {
        // i < first.len(), and every text has first.len() heads (checked above).
        let of = || per_text.iter().map(move |scores| &scores[i]);
        let mean = |score: fn(&HeadScores) -> f64| of().map(score).sum::<f64>() / texts;
        let share = |share: fn(&HeadScores) -> Option<f64>| {
            let (sum, count) = of()
                .filter_map(share)
                .fold((0.0, 0usize), |(sum, count), s| (sum + s, count + 1));
            (count > 0).then(|| sum / count as f64)
        };
        HeadScores {
            layer: first[i].layer,
            head: first[i].head,
            previous_token: mean(|s| s.previous_token),
            duplicate_token: mean(|s| s.duplicate_token),
            induction: mean(|s| s.induction),
            sink: mean(|s| s.sink),
            self_attention: mean(|s| s.self_attention),
            duplicate_share: share(|s| s.duplicate_share),
            induction_share: share(|s| s.induction_share),
            chance: Chance {
                previous_token: mean(|s| s.chance.previous_token),
                sink: mean(|s| s.chance.sink),
                self_attention: mean(|s| s.chance.self_attention),
            },
        }
    });
    Some(means.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(layer: usize, previous: f64, share: Option<f64>) -> HeadScores {
        HeadScores {
            layer,
            head: 0,
            previous_token: previous,
            duplicate_token: 0.0,
            induction: previous / 2.0,
            sink: 1.0 - previous,
            self_attention: 0.0,
            duplicate_share: None,
            induction_share: share,
            chance: Chance {
                previous_token: previous / 4.0,
                sink: 0.5,
                self_attention: 0.5,
            },
        }
    }

    #[test]
    fn the_mean_of_one_text_is_its_scores() {
        let one = vec![head(0, 0.25, Some(0.5)), head(1, 0.75, None)];
        assert_eq!(mean_over_texts(std::slice::from_ref(&one)), Some(one));
        assert_eq!(mean_over_texts(&[]), None);
    }

    #[test]
    fn scores_are_averaged_and_shares_over_the_texts_that_have_one() {
        let texts = [
            vec![head(0, 0.25, Some(0.5))],
            vec![head(0, 0.75, None)],
            vec![head(0, 0.5, Some(0.25))],
        ];
        let mean = mean_over_texts(&texts).unwrap();
        let m = &mean[0];
        assert_eq!(m.previous_token, 0.5);
        assert_eq!(m.induction, 0.25);
        assert_eq!(m.sink, 0.5);
        assert_eq!(m.chance.previous_token, 0.125);
        // The second text has no rows with an induction target of their own: left out, not counted as 0.
        assert_eq!(m.induction_share, Some(0.375));
        assert_eq!(m.duplicate_share, None);
    }

    #[test]
    #[should_panic(expected = "the same heads for every text")]
    fn texts_of_different_models_are_refused() {
        let _ = mean_over_texts(&[vec![head(0, 0.5, None)], vec![head(1, 0.5, None)]]);
    }
}
