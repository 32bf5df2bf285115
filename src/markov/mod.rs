//! The Markov reading of attention: a head's matrix A is row-stochastic, so it is the transition matrix of a
//! chain whose states are tokens. The causal mask makes it lower-triangular: a DAG plus self-loops, with token 0
//! absorbing (row 0 = e₀), which is why repeated steps drain all mass into token 0.
//! Plain data and petgraph; never candle or egui.

use petgraph::graph::DiGraph;
use serde::Serialize;

use crate::graph::Matrix;

/// A row counts as summing to 1 within this.
pub const ROW_SUM_TOLERANCE: f64 = 1e-5;

/// A state is absorbing when A[i][i] ≥ 1 − this.
pub const ABSORBING_TOLERANCE: f64 = 1e-9;

/// The teleport probability α of the ranking when none is chosen: PageRank's customary 0.15.
pub const DEFAULT_TELEPORT: f64 = 0.15;

/// Every statistic of one matrix, as `attngraph markov --format json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MarkovReport {
    /// Σ_j A[i][j] per row.
    pub row_sums: Vec<f64>,
    /// Whether every row sums to 1 within [`ROW_SUM_TOLERANCE`].
    pub is_row_stochastic: bool,
    /// Whether the graph of positive off-diagonal entries has no cycle.
    pub is_dag_without_self_loops: bool,
    /// Whether row 0 is e₀ (token 0 only looks at itself).
    pub row0_is_e0: bool,
    /// States with A[i][i] = 1.
    pub absorbing_states: Vec<usize>,
    /// Row per token, column per absorbing state: the probability of ending there (absorbing rows are e_k).
    pub absorption_probabilities: Vec<Vec<f64>>,
    /// Expected steps before absorption, per token (0 for absorbing states).
    pub expected_steps: Vec<f64>,
    /// Entropy of each row in bits.
    pub row_entropy_bits: Vec<f64>,
    /// 2^H per row: how many tokens a row effectively attends to.
    pub effective_attended: Vec<f64>,
    /// Mean weight on token 0 over all rows.
    pub sink_mass: f64,
    /// Stationary distribution with teleport α (PageRank): a ranking that does not collapse onto token 0.
    pub teleport_ranking: Vec<f64>,
    /// The teleport probability used.
    pub teleport: f64,
    /// A^K (serialised as its rows).
    pub k_step: Matrix,
    /// The K used.
    pub steps: usize,
}

/// Computes the whole report.
pub fn report(a: &Matrix, teleport: f64, steps: usize) -> MarkovReport {
    let sums = row_sums(a);
    let absorbing = absorbing_states(a);
    let (absorption, expected) = absorption(a, &absorbing);
    let entropy = row_entropy_bits(a);
    MarkovReport {
        is_row_stochastic: sums.iter().all(|s| (s - 1.0).abs() <= ROW_SUM_TOLERANCE),
        row_sums: sums,
        is_dag_without_self_loops: is_dag_without_self_loops(a),
        row0_is_e0: a.n() > 0
            && (a.get(0, 0) - 1.0).abs() <= ROW_SUM_TOLERANCE
            && a.row(0).iter().skip(1).all(|&w| w == 0.0),
        absorbing_states: absorbing,
        absorption_probabilities: absorption,
        expected_steps: expected,
        effective_attended: entropy.iter().map(|h| h.exp2()).collect(),
        row_entropy_bits: entropy,
        sink_mass: sink_mass(a),
        teleport_ranking: teleport_ranking(a, teleport),
        teleport,
        k_step: power(a, steps),
        steps,
    }
}

/// Σ_j A[i][j] per row.
pub fn row_sums(a: &Matrix) -> Vec<f64> {
    (0..a.n()).map(|i| a.row(i).iter().sum()).collect()
}

/// Whether the graph of positive off-diagonal entries is acyclic (petgraph's cycle check).
pub fn is_dag_without_self_loops(a: &Matrix) -> bool {
    let mut g: DiGraph<(), ()> = DiGraph::new();
    let nodes: Vec<_> = (0..a.n()).map(|_| g.add_node(())).collect();
    for (i, &from) in nodes.iter().enumerate() {
        for (j, &to) in nodes.iter().enumerate() {
            if i != j && a.get(i, j) > 0.0 {
                g.add_edge(from, to, ());
            }
        }
    }
    !petgraph::algo::is_cyclic_directed(&g)
}

/// A^k (A⁰ = I), by repeated squaring: about 2·log₂ k products, so any k a person types answers at once (one
/// product per step took 44 s for k = 10⁷ on 8 tokens). The same sums as k products one after another up to
/// rounding; numpy's `matrix_power` squares too.
pub fn power(a: &Matrix, k: usize) -> Matrix {
    let mut result: Option<Matrix> = None;
    let mut square = a.clone();
    let mut k = k;
    while k > 0 {
        if k & 1 == 1 {
            result = Some(match result {
                Some(r) => r.matmul(&square),
                None => square.clone(),
            });
        }
        k >>= 1;
        if k > 0 {
            square = square.matmul(&square);
        }
    }
    result.unwrap_or_else(|| Matrix::identity(a.n()))
}

/// States i with A[i][i] = 1: once there, the chain stays.
pub fn absorbing_states(a: &Matrix) -> Vec<usize> {
    (0..a.n())
        .filter(|&i| a.get(i, i) >= 1.0 - ABSORBING_TOLERANCE)
        .collect()
}

/// Absorption probabilities B = (I − Q)⁻¹R and expected steps t = (I − Q)⁻¹1, where Q holds transitions among
/// transient states and R those into absorbing ones. Q is lower-triangular (causal mask), so both are solved by
/// forward substitution in token order; no matrix is inverted. Returns rows for every token: absorbing tokens
/// get e_k and 0 steps. Assumes lower-triangular A; entries above the diagonal are ignored.
pub fn absorption(a: &Matrix, absorbing: &[usize]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = a.n();
    let mut b = vec![vec![0.0; absorbing.len()]; n];
    let mut t = vec![0.0; n];
    for i in 0..n {
        if let Some(k) = absorbing.iter().position(|&s| s == i) {
            // b has n rows of absorbing.len() entries; i < n and k indexes `absorbing`.
            b[i][k] = 1.0;
            continue;
        }
        // (1 − A[i][i])·x_i = r_i + Σ_{j<i, transient} A[i][j]·x_j; absorbing j contribute A[i][j]·e_k.
        let stay = 1.0 - a.get(i, i);
        if stay <= 0.0 {
            continue;
        }
        let mut row = vec![0.0; absorbing.len()];
        let mut steps = 1.0;
        for j in 0..i {
            let w = a.get(i, j);
            if w == 0.0 {
                continue;
            }
            // j < i < n: rows of b and t already solved.
            for (slot, bj) in row.iter_mut().zip(&b[j]) {
                *slot += w * bj;
            }
            steps += w * t[j];
        }
        b[i] = row.iter().map(|x| x / stay).collect();
        t[i] = steps / stay;
    }
    (b, t)
}

/// Entropy of each row in bits (0·log 0 = 0).
pub fn row_entropy_bits(a: &Matrix) -> Vec<f64> {
    (0..a.n())
        .map(|i| {
            a.row(i)
                .iter()
                .filter(|&&p| p > 0.0)
                .fold(0.0, |h, &p| h - p * p.log2())
        })
        .collect()
}

/// Mean weight on token 0 over all rows.
pub fn sink_mass(a: &Matrix) -> f64 {
    if a.n() == 0 {
        return 0.0;
    }
    (0..a.n()).map(|i| a.get(i, 0)).sum::<f64>() / a.n() as f64
}

/// The stationary distribution π of the chain that with probability α jumps to a uniformly random token and
/// otherwise follows A: π = α/n·1 + (1 − α)·πA, by power iteration to 1e-13. Without the jump all mass ends on
/// token 0; with it, π ranks tokens by how much attention flows into them.
pub fn teleport_ranking(a: &Matrix, alpha: f64) -> Vec<f64> {
    let n = a.n();
    if n == 0 {
        return Vec::new();
    }
    let alpha = alpha.clamp(1e-9, 1.0);
    let uniform = 1.0 / n as f64;
    let mut pi = vec![uniform; n];
    for _ in 0..10_000 {
        let mut next = vec![alpha * uniform; n];
        for (i, &p) in pi.iter().enumerate() {
            let row = a.row(i);
            let total: f64 = row.iter().sum();
            // A row that sums to less than 1 (a pruned or max matrix) gives its missing mass to the jump.
            for (slot, &w) in next.iter_mut().zip(row) {
                *slot += (1.0 - alpha) * p * w;
            }
            let leak = (1.0 - alpha) * p * (1.0 - total).max(0.0) * uniform;
            next.iter_mut().for_each(|slot| *slot += leak);
        }
        let norm: f64 = next.iter().sum();
        next.iter_mut().for_each(|x| *x /= norm);
        let delta: f64 = next.iter().zip(&pi).map(|(x, y)| (x - y).abs()).sum();
        pi = next;
        if delta < 1e-13 {
            break;
        }
    }
    pi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Matrix {
        Matrix::from_rows(&[
            vec![1.0, 0.0, 0.0],
            vec![0.5, 0.5, 0.0],
            vec![0.25, 0.25, 0.5],
        ])
        .unwrap()
    }

    #[test]
    fn absorption_by_hand() {
        let a = example();
        let absorbing = absorbing_states(&a);
        assert_eq!(absorbing, vec![0]);
        let (b, t) = absorption(&a, &absorbing);
        // Every token ends in token 0. Token 1 stays with prob ½ each step: t₁ = 1 / ½ = 2.
        // Token 2: t₂ = (1 + ¼·t₁) / ½ = (1 + ½) · 2 = 3.
        assert_eq!(b, vec![vec![1.0], vec![1.0], vec![1.0]]);
        assert_eq!(t, vec![0.0, 2.0, 3.0]);
    }

    #[test]
    fn two_absorbing_states_split_the_mass() {
        // Token 1 only looks at itself: absorbing. Token 2 splits ¼ to 0, ¼ to 1 and stays ½:
        // B₂ = (¼, ¼) / ½ = (½, ½); t₂ = 1 / ½ = 2.
        let a = Matrix::from_rows(&[
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.25, 0.25, 0.5],
        ])
        .unwrap();
        let (b, t) = absorption(&a, &absorbing_states(&a));
        assert_eq!(b[2], vec![0.5, 0.5]);
        assert_eq!(t[2], 2.0);
    }

    #[test]
    fn powers_by_squaring_equal_products_one_at_a_time() {
        let a = Matrix::from_rows(&[
            vec![1.0, 0.0, 0.0, 0.0],
            vec![0.3, 0.7, 0.0, 0.0],
            vec![0.2, 0.5, 0.3, 0.0],
            vec![0.1, 0.2, 0.3, 0.4],
        ])
        .unwrap();
        let mut stepwise = Matrix::identity(4);
        for k in 0..=40 {
            let squared = power(&a, k);
            for i in 0..4 {
                for j in 0..4 {
                    let (got, want) = (squared.get(i, j), stepwise.get(i, j));
                    assert!(
                        (got - want).abs() < 1e-14,
                        "A^{k}[{i}][{j}]: {got} against {want}"
                    );
                }
            }
            stepwise = stepwise.matmul(&a);
        }
        // A billion steps: every walker has reached the absorbing token 0 (0.7^10⁹ underflows to 0).
        let far = power(&a, 1_000_000_000);
        for i in 0..4 {
            assert!(
                (far.get(i, 0) - 1.0).abs() < 1e-12,
                "row {i}: {}",
                far.get(i, 0)
            );
        }
    }

    #[test]
    fn structure_and_entropy() {
        let a = example();
        assert!(is_dag_without_self_loops(&a));
        let cyclic = Matrix::from_rows(&[vec![0.5, 0.5], vec![0.5, 0.5]]).unwrap();
        assert!(!is_dag_without_self_loops(&cyclic));
        // Row 2: ¼, ¼, ½ → 1.5 bits; 2^1.5 ≈ 2.83 tokens.
        assert_eq!(row_entropy_bits(&a), vec![0.0, 1.0, 1.5]);
        assert_eq!(sink_mass(&a), (1.0 + 0.5 + 0.25) / 3.0);
        let r = report(&a, DEFAULT_TELEPORT, 2);
        assert!(r.is_row_stochastic && r.row0_is_e0);
        // A²[2][0] = ¼·1 + ¼·½ + ½·¼ = ½.
        assert_eq!(r.k_step.get(2, 0), 0.5);
    }

    #[test]
    fn teleport_ranking_by_hand() {
        // Two tokens, A = [[1, 0], [1, 0]], α = ½: π₁ = α/2 = ¼ (nobody moves to 1), π₀ = ¾.
        let a = Matrix::from_rows(&[vec![1.0, 0.0], vec![1.0, 0.0]]).unwrap();
        let pi = teleport_ranking(&a, 0.5);
        assert!((pi[0] - 0.75).abs() < 1e-12 && (pi[1] - 0.25).abs() < 1e-12);
    }
}
