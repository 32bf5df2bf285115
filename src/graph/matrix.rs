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

    /// self · other. Row i of the product is Σ_k self[i][k]·other[k], skipping zero entries of self and the zeros
    /// that end each row of other: attention matrices are lower-triangular, so row k of other ends at k and
    /// about five sixths of the dense work never happens. For finite entries the skipped terms add exact zeros,
    /// so the numbers are those of the dense sum in the same order. Rows of the product run on every core.
    ///
    /// # Panics
    /// If the two matrices differ in size.
    pub fn matmul(&self, other: &Self) -> Self {
        use rayon::prelude::*;
        assert_eq!(self.n, other.n, "matmul of matrices of different sizes");
        let n = self.n;
        // Where each row of other ends: one past its last entry that is not zero (NaN included).
        let ends: Vec<usize> = other
            .iter_rows()
            .map(|row| row.iter().rposition(|&b| b != 0.0).map_or(0, |j| j + 1))
            .collect();
        let mut out = Self::zeros(n);
        // A 0 × 0 matrix has no rows; chunks need a non-zero size.
        let width = n.max(1);
        out.data
            .par_chunks_exact_mut(width)
            .zip(self.data.par_chunks_exact(width))
            .for_each(|(out_row, self_row)| {
                for ((&a, other_row), &end) in self_row.iter().zip(other.iter_rows()).zip(&ends) {
                    if a == 0.0 {
                        continue;
                    }
                    // end ≤ n, the length of both rows.
                    for (o, &b) in out_row[..end].iter_mut().zip(&other_row[..end]) {
                        *o += a * b;
                    }
                }
            });
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

    /// The dense triple loop, every term in order.
    fn dense_product(a: &Matrix, b: &Matrix) -> Vec<f64> {
        let n = a.n;
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for k in 0..n {
                for j in 0..n {
                    out[i * n + j] += a.get(i, k) * b.get(k, j);
                }
            }
        }
        out
    }

    #[test]
    fn the_product_has_the_dense_sums_bits() {
        // Lower-triangular rows (attention), a full matrix (its rows end at n), rows ending early with zeros
        // inside them, and an empty matrix.
        let values = |n: usize, seed: u64| -> Vec<f64> {
            crate::model::test_values::test_values(n * n, seed)
                .into_iter()
                .map(|x| f64::from(x.abs()))
                .collect()
        };
        for n in [0, 1, 7, 40] {
            let full = Matrix {
                n,
                data: values(n, 1),
            };
            let mut lower = Matrix {
                n,
                data: values(n, 2),
            };
            let mut ragged = Matrix {
                n,
                data: values(n, 3),
            };
            for i in 0..n {
                for j in 0..n {
                    if j > i {
                        lower.data[i * n + j] = 0.0;
                    }
                    if j > (i * 7) % n.max(1) || (i + j) % 5 == 0 {
                        ragged.data[i * n + j] = 0.0;
                    }
                }
            }
            for (a, b) in [
                (&lower, &lower),
                (&full, &lower),
                (&lower, &full),
                (&ragged, &ragged),
                (&full, &ragged),
            ] {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&a.matmul(b).data),
                    bits(&dense_product(a, b)),
                    "n = {n}"
                );
            }
        }
    }
}
