//! A dense square matrix of f64, the unit every graph and Markov function works on.

use serde::Serialize;

/// A dense n × n matrix, row-major. For attention, row i is where token i looks. Serialised as its list of rows.
#[derive(Clone, Debug, PartialEq)]
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

    /// From rows; `None` if they are not all of length `rows.len()`, so a matrix is always square.
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

    /// Entry (i, j).
    ///
    /// # Panics
    /// If i or j is not below [`Matrix::n`], as slice indexing does: an index past the matrix is a bug, never a
    /// weight of 0.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self[(i, j)]
    }

    /// Sets entry (i, j).
    ///
    /// # Panics
    /// If i or j is not below [`Matrix::n`].
    pub fn set(&mut self, i: usize, j: usize, value: f64) {
        self[(i, j)] = value;
    }

    /// Row i.
    ///
    /// # Panics
    /// If i is not below [`Matrix::n`].
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    /// The rows in order.
    pub fn iter_rows(&self) -> impl ExactSizeIterator<Item = &[f64]> {
        // A 0 × 0 matrix has no rows; chunks_exact needs a non-zero size.
        self.data.chunks_exact(self.n.max(1))
    }

    /// All rows as vectors.
    pub fn rows(&self) -> Vec<Vec<f64>> {
        self.iter_rows().map(<[f64]>::to_vec).collect()
    }

    /// self · other. Row i of the product is Σ_k self[i][k]·other[k], skipping zero entries: attention matrices
    /// are lower-triangular, so about five sixths of the dense work never happens.
    ///
    /// # Panics
    /// If the two matrices differ in size.
    pub fn matmul(&self, other: &Self) -> Self {
        assert_eq!(self.n, other.n, "matmul of matrices of different sizes");
        let n = self.n;
        let mut out = Self::zeros(n);
        for (out_row, self_row) in out.data.chunks_exact_mut(n.max(1)).zip(self.iter_rows()) {
            for (&a, other_row) in self_row.iter().zip(other.iter_rows()) {
                if a == 0.0 {
                    continue;
                }
                for (o, &b) in out_row.iter_mut().zip(other_row) {
                    *o += a * b;
                }
            }
        }
        out
    }

    /// Combines two matrices entry by entry.
    ///
    /// # Panics
    /// If the two matrices differ in size.
    fn zip_with(&self, other: &Self, f: impl Fn(f64, f64) -> f64) -> Self {
        assert_eq!(
            self.n, other.n,
            "entry-wise operation on matrices of different sizes"
        );
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

impl Serialize for Matrix {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter_rows())
    }
}

impl std::ops::Index<(usize, usize)> for Matrix {
    type Output = f64;

    fn index(&self, (i, j): (usize, usize)) -> &f64 {
        assert!(j < self.n, "column {j} of a {0} × {0} matrix", self.n);
        &self.data[i * self.n + j]
    }
}

impl std::ops::IndexMut<(usize, usize)> for Matrix {
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut f64 {
        assert!(j < self.n, "column {j} of a {0} × {0} matrix", self.n);
        &mut self.data[i * self.n + j]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_unequal_length_are_refused() {
        assert!(Matrix::from_rows(&[vec![1.0, 0.0], vec![1.0]]).is_none());
        assert!(Matrix::from_rows(&[vec![1.0, 0.0, 0.0], vec![1.0, 0.0, 0.0]]).is_none());
    }

    #[test]
    #[should_panic(expected = "column 2")]
    fn an_index_past_the_matrix_is_a_bug_not_a_zero() {
        let _ = Matrix::identity(2).get(0, 2);
    }

    #[test]
    fn product_by_hand() {
        let a = Matrix::from_rows(&[vec![1.0, 0.0], vec![0.25, 0.75]]).unwrap();
        // a² = [[1, 0], [0.25 + 0.75·0.25, 0.75²]]
        assert_eq!(
            a.matmul(&a).rows(),
            vec![vec![1.0, 0.0], vec![0.4375, 0.5625]]
        );
    }
}
