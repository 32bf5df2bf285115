//! A set of attention heads named by (layer, head), counting from 0: which heads an ablation knocks out, and
//! what their values become ([`Replacement`], [`KnockOut`]).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A head that does not exist in the model, or a name that is not `L.H`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadSetError {
    /// Not of the form `L.H`.
    #[error("`{0}` is not a head: write layer.head counting from 0, e.g. 0.3 or 0.3,2.1")]
    Syntax(String),
    /// The layer is past the model's last.
    #[error("layer {layer} does not exist: this model has layers 0–{last}")]
    Layer {
        /// The layer asked for.
        layer: usize,
        /// The last layer.
        last: usize,
    },
    /// The head is past the layer's last.
    #[error("head {head} does not exist: this model has heads 0–{last} in every layer")]
    Head {
        /// The head asked for.
        head: usize,
        /// The last head.
        last: usize,
    },
}

/// Heads as (layer, head), sorted and without repeats. [`HeadSet::check`] says whether they fit a model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct HeadSet(BTreeSet<(usize, usize)>);

impl HeadSet {
    /// One head.
    pub fn one(layer: usize, head: usize) -> Self {
        Self(BTreeSet::from([(layer, head)]))
    }

    /// Whether no head is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many heads.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether (layer, head) is in the set.
    pub fn contains(&self, layer: usize, head: usize) -> bool {
        self.0.contains(&(layer, head))
    }

    /// Adds the head if it is missing, removes it if present.
    pub fn toggle(&mut self, layer: usize, head: usize) {
        if !self.0.remove(&(layer, head)) {
            self.0.insert((layer, head));
        }
    }

    /// Adds a head.
    pub fn insert(&mut self, layer: usize, head: usize) {
        self.0.insert((layer, head));
    }

    /// The heads, by layer then head.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.0.iter().copied()
    }

    /// The heads of one layer.
    pub fn in_layer(&self, layer: usize) -> impl Iterator<Item = usize> + '_ {
        self.0.range((layer, 0)..(layer + 1, 0)).map(|&(_, h)| h)
    }

    /// Checks every head against a model of `n_layer` layers of `n_head` heads.
    pub fn check(&self, n_layer: usize, n_head: usize) -> Result<(), HeadSetError> {
        for (layer, head) in self.iter() {
            if layer >= n_layer {
                return Err(HeadSetError::Layer {
                    layer,
                    last: n_layer.saturating_sub(1),
                });
            }
            if head >= n_head {
                return Err(HeadSetError::Head {
                    head,
                    last: n_head.saturating_sub(1),
                });
            }
        }
        Ok(())
    }
}

impl FromIterator<(usize, usize)> for HeadSet {
    fn from_iter<I: IntoIterator<Item = (usize, usize)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// `0.3,2.1`: heads as layer.head, comma-separated.
impl FromStr for HeadSet {
    type Err = HeadSetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(|part| {
                let part = part.trim();
                let syntax = || HeadSetError::Syntax(part.to_string());
                let (layer, head) = part.split_once('.').ok_or_else(syntax)?;
                Ok((
                    layer.trim().parse().map_err(|_| syntax())?,
                    head.trim().parse().map_err(|_| syntax())?,
                ))
            })
            .collect()
    }
}

impl fmt::Display for HeadSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.iter().map(|(l, h)| format!("{l}.{h}")).collect();
        f.write_str(&names.join(","))
    }
}

/// What an ablated head's attention-weighted values are replaced with.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Replacement {
    /// Zeros: the head adds nothing but `c_proj`'s bias, which is not its own. Also removes what the head
    /// adds on average, which the layers above may rely on whatever the text.
    #[default]
    Zero,
    /// At every position, the head's mean over every position the intact model read (BOS included where read):
    /// what stays is what the head adds on average, what goes is what it adds at each position in particular.
    Mean,
}

impl Replacement {
    /// Whether it is zero ablation, the default.
    pub fn is_zero(&self) -> bool {
        *self == Self::Zero
    }

    /// `"zero"` or `"mean"`: as the JSON and `--replace-with` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zero => "zero",
            Self::Mean => "mean",
        }
    }
}

/// Heads knocked out and what their values become: what the window's knock-out, and the logit lens that follows
/// it, read the text with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnockOut {
    /// The heads.
    pub heads: HeadSet,
    /// What their values become.
    pub replacement: Replacement,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_is_named_as_json_and_the_command_line_name_it() {
        use clap::ValueEnum;
        for r in [Replacement::Zero, Replacement::Mean] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
            assert_eq!(r.to_possible_value().unwrap().get_name(), r.name());
        }
    }

    #[test]
    fn parses_checks_and_prints() {
        let set: HeadSet = "2.1, 0.3,0.3".parse().unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![(0, 3), (2, 1)]);
        assert_eq!(set.to_string(), "0.3,2.1");
        assert_eq!(set.in_layer(0).collect::<Vec<_>>(), vec![3]);
        assert!(set.check(3, 4).is_ok());
        assert_eq!(
            set.check(2, 4),
            Err(HeadSetError::Layer { layer: 2, last: 1 })
        );
        assert_eq!(
            set.check(3, 3),
            Err(HeadSetError::Head { head: 3, last: 2 })
        );
        for bad in ["", "3", "a.b", "1.", "1.2.3"] {
            assert!(bad.parse::<HeadSet>().is_err(), "{bad}");
        }
    }
}
