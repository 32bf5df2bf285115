//! Every head's attention probabilities as packed lower triangles, shared between analyses of a growing text.

use serde::Serialize;

/// Every head's attention probabilities, stored as packed lower triangles: row q of a head holds q + 1 values,
/// since the causal mask makes the rest zero. Half the memory of dense matrices (1024 tokens × 144 heads: 300 MB).
///
/// Rows are kept in blocks of consecutive queries that analyses share: causal attention never changes a prefix's
/// rows when text is appended, so an analysis made with the prefix cache holds the earlier analysis' blocks
/// (reference-counted) and only its new rows, instead of copying 300 MB per keystroke at 1024 tokens. Inside a
/// block each layer is one buffer, head by head, row by row: the order the CPU attention writes its packed
/// probabilities in, so that buffer is kept as it is ([`Attentions::push_layer_packed`]), not copied.
#[derive(Clone, Debug, Default)]
pub struct Attentions {
    n_layer: usize,
    n_head: usize,
    n_tokens: usize,
    /// Consecutive, in query order, covering 0..n_tokens once every layer is pushed.
    blocks: Vec<RowBlock>,
    /// Layers pushed so far.
    layers: usize,
    /// The new rows the first layer pushed: every later layer brings as many.
    new_rows: usize,
}

/// Query rows `first..first + rows`, laid out for `first..first + span` (span ≥ rows: a block shared with an
/// analysis whose text went on further): for each layer a buffer holding, for each head, for each query q of the
/// span, the q + 1 values of that row.
#[derive(Clone, Debug)]
struct RowBlock {
    first: usize,
    rows: usize,
    span: usize,
    data: std::sync::Arc<Vec<Vec<f32>>>,
}

impl RowBlock {
    /// Values one head's rows take in a layer's buffer.
    fn per_head(&self) -> usize {
        triangle(self.first + self.span) - triangle(self.first)
    }
}

impl Attentions {
    /// An empty tensor for `n_layer` × `n_head` heads over `n_tokens` tokens, to be filled layer by layer.
    pub fn with_shape(n_layer: usize, n_head: usize, n_tokens: usize) -> Self {
        Self {
            n_layer,
            n_head,
            n_tokens,
            blocks: Vec::new(),
            layers: 0,
            new_rows: 0,
        }
    }

    /// Appends one layer given as dense (n_head, t, t) row-major values.
    pub fn push_layer_dense(&mut self, dense: &[f32]) -> Result<(), AttentionsError> {
        self.push_layer_rows(None, dense)
    }

    /// Appends one layer (the next after those already pushed) made of the first p rows of each head of the same
    /// layer in `prefix`, followed by the new rows given dense as (n_head, t − p, t), where p = t minus the
    /// number of new rows. Rows of a prefix never change when text is appended, so they are shared with
    /// `prefix`, not recomputed or copied.
    pub fn push_layer_rows(
        &mut self,
        prefix: Option<&Attentions>,
        new_rows: &[f32],
    ) -> Result<(), AttentionsError> {
        let t = self.n_tokens;
        let per_query = self.n_head * t;
        if per_query == 0 || !new_rows.len().is_multiple_of(per_query) {
            return Err(self.misfit(new_rows.len()));
        }
        let t_new = new_rows.len() / per_query;
        let n_head = self.n_head;
        let Some(layers) = self.next_layer(prefix, t_new, new_rows.len())? else {
            return Ok(());
        };
        // Head by head, row by row: row q of the new rows q = t − t_new.. keeps keys 0..=q of its t values.
        let mut layer = Vec::with_capacity(n_head * (triangle(t) - triangle(t - t_new)));
        for (i, row) in new_rows.chunks_exact(t).enumerate() {
            let q = t - t_new + i % t_new;
            layer.extend_from_slice(&row[..=q]);
        }
        layers.push(layer);
        Ok(())
    }

    /// Appends one layer as [`Attentions::push_layer_rows`] does, its `new_rows` rows given packed as the CPU
    /// attention writes them: for each head, for each new query q = t − new_rows.., the q + 1 values of its row.
    /// The buffer is kept as it is.
    pub fn push_layer_packed(
        &mut self,
        prefix: Option<&Attentions>,
        new_rows: usize,
        packed: Vec<f32>,
    ) -> Result<(), AttentionsError> {
        let t = self.n_tokens;
        let want = (new_rows <= t).then(|| self.n_head * (triangle(t) - triangle(t - new_rows)));
        if want != Some(packed.len()) {
            return Err(self.misfit(packed.len()));
        }
        if let Some(layers) = self.next_layer(prefix, new_rows, packed.len())? {
            layers.push(packed);
        }
        Ok(())
    }

    /// Counts the next layer in and gives the list of layer buffers of the block of its `t_new` new rows, to push
    /// its buffer to (none when there are none). The first layer takes the rows before them from `prefix` (shared) and starts a block for the new
    /// rows; every later layer must bring as many, in the order they were started.
    fn next_layer(
        &mut self,
        prefix: Option<&Attentions>,
        t_new: usize,
        values: usize,
    ) -> Result<Option<&mut Vec<Vec<f32>>>, AttentionsError> {
        let t = self.n_tokens;
        if self.layers >= self.n_layer || t_new > t {
            return Err(self.misfit(values));
        }
        let p = t - t_new;
        if self.layers == 0 {
            // A prefix of another shape, or one not filled, has no rows of this tensor to give.
            if prefix.is_some_and(|old| {
                (old.n_layer, old.n_head, old.layers) != (self.n_layer, self.n_head, self.n_layer)
            }) {
                return Err(self.misfit(values));
            }
            self.new_rows = t_new;
            self.blocks = prefix.map_or_else(Vec::new, |old| old.shared_prefix(p));
            let have = self.blocks.last().map_or(0, |b| b.first + b.rows);
            // The prefix must hold every row before the new ones: a gap would be rows nobody computed.
            if have != p {
                self.blocks.clear();
                return Err(self.misfit(values));
            }
            if t_new > 0 {
                self.blocks.push(RowBlock {
                    first: p,
                    rows: t_new,
                    span: t_new,
                    data: std::sync::Arc::new(Vec::with_capacity(self.n_layer)),
                });
            }
        }
        let layer = self.layers;
        let misfit = self.misfit(values);
        if t_new != self.new_rows {
            return Err(misfit);
        }
        if t_new == 0 {
            // No new rows in any layer: the prefix's blocks hold every row (checked on the first layer).
            self.layers += 1;
            return Ok(None);
        }
        // The first layer started a block of exactly these rows, which only this tensor holds while it fills. A
        // layer is counted only once its buffer has a place: a refused one leaves the tensor unfilled.
        let Some(block) = self.blocks.last_mut() else {
            return Err(misfit);
        };
        if block.first != p || block.rows != t_new {
            return Err(misfit);
        }
        match std::sync::Arc::get_mut(&mut block.data) {
            Some(layers) if layers.len() == layer => {
                self.layers += 1;
                Ok(Some(layers))
            }
            _ => Err(misfit),
        }
    }

    fn misfit(&self, values: usize) -> AttentionsError {
        AttentionsError {
            values,
            layer: self.layers,
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_tokens: self.n_tokens,
        }
    }

    /// This tensor's blocks cut to the first `p` query rows. A block cut to less than half of what it holds is
    /// copied instead, so an edit far back in a long text does not keep the whole old block alive.
    fn shared_prefix(&self, p: usize) -> Vec<RowBlock> {
        self.blocks
            .iter()
            .filter(|b| b.first < p)
            .map(|b| {
                let rows = b.rows.min(p - b.first);
                let kept = triangle(b.first + rows) - triangle(b.first);
                let per_head = b.per_head();
                if kept * 2 < per_head {
                    // Each head's rows start every `per_head` values of a layer's buffer; the first `kept` of them
                    // are the rows kept.
                    let data: Vec<Vec<f32>> = b
                        .data
                        .iter()
                        .map(|layer| {
                            layer
                                .chunks_exact(per_head)
                                .flat_map(|head| &head[..kept])
                                .copied()
                                .collect()
                        })
                        .collect();
                    RowBlock {
                        first: b.first,
                        rows,
                        span: rows,
                        data: std::sync::Arc::new(data),
                    }
                } else {
                    RowBlock {
                        first: b.first,
                        rows,
                        span: b.span,
                        data: b.data.clone(),
                    }
                }
            })
            .collect()
    }

    /// Number of layers.
    pub fn n_layer(&self) -> usize {
        self.n_layer
    }

    /// Heads per layer.
    pub fn n_head(&self) -> usize {
        self.n_head
    }

    /// Tokens (rows and columns of each matrix).
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    /// Row `query` of head (`layer`, `head`): the weights on keys 0..=query.
    ///
    /// # Panics
    /// If the layer, head or query is past the tensor's shape, as slice indexing does: that is a bug, never an
    /// empty row.
    pub fn row(&self, layer: usize, head: usize, query: usize) -> &[f32] {
        assert!(
            layer < self.n_layer && head < self.n_head && query < self.n_tokens,
            "row ({layer}, {head}, {query}) of attentions shaped ({}, {}, {})",
            self.n_layer,
            self.n_head,
            self.n_tokens
        );
        assert!(
            self.layers == self.n_layer,
            "row of attentions with {} of {} layers filled",
            self.layers,
            self.n_layer
        );
        // The blocks cover rows 0..n_tokens in order, so the first block not ending before `query` holds it.
        let block = &self.blocks[self.blocks.partition_point(|b| b.first + b.rows <= query)];
        let start = head * block.per_head() + triangle(query) - triangle(block.first);
        &block.data[layer][start..start + query + 1]
    }

    /// A[query][key]: 0 above the diagonal (the mask hides later keys).
    ///
    /// # Panics
    /// If an index is past the tensor's shape.
    pub fn get(&self, layer: usize, head: usize, query: usize, key: usize) -> f32 {
        assert!(key < self.n_tokens, "key {key} of {} tokens", self.n_tokens);
        let row = self.row(layer, head, query);
        if key > query {
            // A key past the query (but inside the text) is masked: its weight is exactly 0.
            0.0
        } else {
            // key ≤ query, and row `query` holds keys 0..=query.
            row[key]
        }
    }

    /// The dense t × t matrix of one head.
    pub fn matrix(&self, layer: usize, head: usize) -> Vec<Vec<f32>> {
        (0..self.n_tokens)
            .map(|q| {
                let mut row = vec![0.0; self.n_tokens];
                for (slot, &value) in row.iter_mut().zip(self.row(layer, head, q)) {
                    *slot = value;
                }
                row
            })
            .collect()
    }
}

impl PartialEq for Attentions {
    /// Equal shapes and values, however the rows are split into blocks.
    fn eq(&self, other: &Self) -> bool {
        let (l, h, t) = (self.n_layer, self.n_head, self.n_tokens);
        (l, h, t) == (other.n_layer, other.n_head, other.n_tokens)
            && (0..l).all(|layer| {
                (0..h).all(|head| {
                    (0..t).all(|q| self.row(layer, head, q) == other.row(layer, head, q))
                })
            })
    }
}

impl Serialize for Attentions {
    /// As nested lists [layer][head][query][key], zeros above the diagonal included.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut layers = serializer.serialize_seq(Some(self.n_layer))?;
        for layer in 0..self.n_layer {
            let heads: Vec<Vec<Vec<f32>>> = (0..self.n_head)
                .map(|head| self.matrix(layer, head))
                .collect();
            layers.serialize_element(&Exact(&heads))?;
        }
        layers.end()
    }
}

/// f32 values, or nested lists of them, serialised as f64: each value written as its exact decimal, as a JSON
/// tree (`serde_json::Value`, whose numbers are f64) writes it, so that a reader parsing f64 gets the very
/// value the model computed.
pub(crate) struct Exact<'a, T: ?Sized>(pub(crate) &'a T);

impl Serialize for Exact<'_, f32> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(f64::from(*self.0))
    }
}

impl<T> Serialize for Exact<'_, Vec<T>>
where
    for<'b> Exact<'b, T>: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Exact))
    }
}

/// A layer of attention rows that does not fit the tensor it is pushed into.
#[derive(Debug, thiserror::Error)]
#[error("{values} attention values do not make layer {layer} of a tensor of {n_layer} layers × {n_head} heads × {n_tokens} tokens")]
pub struct AttentionsError {
    values: usize,
    layer: usize,
    n_layer: usize,
    n_head: usize,
    n_tokens: usize,
}

/// Number of entries in the lower triangle (diagonal included) of an n × n matrix.
pub(crate) fn triangle(n: usize) -> usize {
    n * (n + 1) / 2
}

#[cfg(test)]
mod tests;
