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

    /// self · other.
    pub fn matmul(&self, other: &Self) -> Self {
        let n = self.n.min(other.n);
        let mut out = Self::zeros(n);
        for i in 0..n {
            for k in 0..n {
                let a = self.get(i, k);
                if a == 0.0 {
                    continue;
                }
                for j in 0..n {
                    let v = out.get(i, j) + a * other.get(k, j);
                    out.set(i, j, v);
                }
            }
        }
        out
    }

    /// a·self + b·other, entry-wise.
    pub fn blend(&self, a: f64, other: &Self, b: f64) -> Self {
        Self {
            n: self.n,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(x, y)| a * x + b * y)
                .collect(),
        }
    }

    /// Entry-wise maximum.
    pub fn max(&self, other: &Self) -> Self {
        Self {
            n: self.n,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(x, y)| x.max(*y))
                .collect(),
        }
    }

    /// Multiplies every entry by `s`.
    pub fn scale(&self, s: f64) -> Self {
        Self {
            n: self.n,
            data: self.data.iter().map(|x| x * s).collect(),
        }
    }
}
