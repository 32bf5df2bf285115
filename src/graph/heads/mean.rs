//! Each head's scores averaged over several texts, as TransformerLens's head detector averages them over a
//! batch of prompts: a kind of head shows on one text by chance, on many only if the head has it.

use super::{Chance, HeadScores};

/// Each head's scores averaged over texts. `per_text` holds every text's [`super::score_heads`], all of one
/// model: the same heads in the same order. The five scores and the chance scores are the mean over the
/// texts. A copying kind's own share (`duplicate_share`, `induction_share`) is weighed over the rows of every
/// text at once, by the rule one text's is: so one text with many targets counts for its rows, and a text too
/// short to have a share of its own adds its rows to the others'. `None` where there are no texts.
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
        let tally = of()
            .map(|s| s.tally)
            .fold(super::Tally::default(), super::Tally::plus);
        let (duplicate_share, induction_share) = tally.shares();
        HeadScores {
            layer: first[i].layer,
            head: first[i].head,
            previous_token: mean(|s| s.previous_token),
            duplicate_token: mean(|s| s.duplicate_token),
            induction: mean(|s| s.induction),
            sink: mean(|s| s.sink),
            self_attention: mean(|s| s.self_attention),
            duplicate_share,
            induction_share,
            chance: Chance {
                previous_token: mean(|s| s.chance.previous_token),
                sink: mean(|s| s.chance.sink),
                self_attention: mean(|s| s.chance.self_attention),
            },
            tally,
        }
    });
    Some(means.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::heads::tests::{copying_head, said_twice, scores_of};
    use crate::graph::matrix::Matrix;

    #[test]
    fn the_mean_of_one_text_is_its_scores() {
        let one = vec![scores_of(&copying_head(5, 4, 0.6), &said_twice(5))];
        assert_eq!(mean_over_texts(std::slice::from_ref(&one)), Some(one));
        assert_eq!(mean_over_texts(&[]), None);
    }

    #[test]
    fn scores_are_averaged_and_shares_weighed_over_every_texts_rows() {
        // On one text the head copies: each of the second copy's 4 tokens looks at the token after its earlier
        // copy (induction 4/9, its own share 1 over 4 rows). On three shorter ones it rests on token 0, and
        // each has 3 rows with an induction target: too few for a share of its own.
        let copies = scores_of(&copying_head(4, 3, 1.0), &said_twice(4));
        assert_eq!(copies.induction_share, Some(1.0));
        let resting = |len: u32| {
            let ids = said_twice(len);
            let mut a = Matrix::zeros(ids.len());
            (0..ids.len()).for_each(|i| a.set(i, 0, 1.0));
            scores_of(&a, &ids)
        };
        let rest = resting(3);
        assert_eq!(rest.induction_share, None);
        let texts = [
            vec![copies.clone()],
            vec![rest.clone()],
            vec![rest.clone()],
            vec![rest],
        ];
        let mean = &mean_over_texts(&texts).unwrap()[0];
        assert!(
            (mean.induction - 1.0 / 9.0).abs() < 1e-12,
            "{}",
            mean.induction
        );
        // Sink: 5/9 on the first text (BOS and the first copy), 1 on the others.
        assert!((mean.sink - (5.0 / 9.0 + 3.0) / 4.0).abs() < 1e-12);
        // The share over all 13 rows with a target, 4 of them on it: one text does not make the head an
        // induction head for all four, which averaging the shares that exist (1.0) would have.
        assert!((mean.induction_share.unwrap() - 4.0 / 13.0).abs() < 1e-12);
        assert_eq!(copies.badge(0.4), Some("induction"));
        assert_eq!(mean.badge(0.4), Some("sink"));
    }

    #[test]
    #[should_panic(expected = "the same heads for every text")]
    fn texts_of_different_models_are_refused() {
        let a = scores_of(&copying_head(4, 3, 1.0), &said_twice(4));
        let b = HeadScores {
            layer: 1,
            ..a.clone()
        };
        let _ = mean_over_texts(&[vec![a], vec![b]]);
    }
}
