//! A dense square matrix of f64, the unit every graph and Markov function works on.

use serde::Serialize;

/// A dense n × n matrix, row-major. For attention, row i is where token i looks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Matrix {
    n: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// The n × n zero matrix.
    pub fn zeros(n: usize) -> Self {
        Self {
            n,
            data: vec![0.0; n * n],
        }
    }

    /// The n × n identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n);
        for i in 0..n {
            m.set(i, i, 1.0);
        }
        m
    }

    /// From rows; `None` if they are not all of length `rows.len()`.
    pub fn from_rows(rows: &[Vec<f64>]) -> Option<Self> {
        let n = rows.len();
        if rows.iter().any(|r| r.len() != n) {
            return None;
        }
        Some(Self {
            n,
            data: rows.iter().flatten().copied().collect(),
        })
    }

    /// Number of rows (and columns).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Entry (i, j); 0 outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        if i >= self.n || j >= self.n {
            return 0.0;
        }
        self.data.get(i * self.n + j).copied().unwrap_or(0.0)
    }

    /// Sets entry (i, j); ignored outside the matrix.
    pub fn set(&mut self, i: usize, j: usize, value: f64) {
        if i < self.n && j < self.n {
            if let Some(slot) = self.data.get_mut(i * self.n + j) {
                *slot = value;
            }
        }
    }

    /// Row i.
    pub fn row(&self, i: usize) -> &[f64] {
        self.data.get(i * self.n..(i + 1) * self.n).unwrap_or(&[])
    }

    /// All rows as vectors.
    pub fn rows(&self) -> Vec<Vec<f64>> {
        (0..self.n).map(|i| self.row(i).to_vec()).collect()
    }

    /// self · other. Row i of the product is Σ_k self[i][k]·other[k], skipping zero entries: attention matrices
    /// are lower-triangular, so about five sixths of the dense work never happens.
    pub fn matmul(&self, other: &Self) -> Self {
        let n = self.n.min(other.n);
        let mut out = Self::zeros(n);
        for (i, out_row) in out.data.chunks_exact_mut(n.max(1)).enumerate() {
            for (k, &a) in self.row(i).iter().enumerate().take(n) {
                if a == 0.0 {
                    continue;
                }
                for (o, &b) in out_row.iter_mut().zip(other.row(k)) {
                    *o += a * b;
                }
            }
        }
        out
    }

    /// Combines two matrices entry by entry.
    fn zip_with(&self, other: &Self, f: impl Fn(f64, f64) -> f64) -> Self {
        Self {
            n: self.n,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(&x, &y)| f(x, y))
                .collect(),
        }
    }

    /// a·self + b·other, entry-wise.
    pub fn blend(&self, a: f64, other: &Self, b: f64) -> Self {
        self.zip_with(other, |x, y| a * x + b * y)
    }

    /// Entry-wise maximum.
    pub fn max(&self, other: &Self) -> Self {
        self.zip_with(other, f64::max)
    }
}
