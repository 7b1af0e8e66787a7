//! Work splitting for kernels that run over a list of tensors at once (the
//! optimizer step, gradient-norm clipping).
//!
//! The tensors are laid end to end in one virtual flat index, cut into
//! chunks of `CHUNK` elements; chunk `c` covers elements
//! `[c·CHUNK, (c+1)·CHUNK)` of that index, i.e. the tail of one tensor, any
//! small tensors in between and the head of the next. The cut depends only on
//! the tensor sizes, never on the thread count, so a reduction that sums each
//! chunk and then the chunk sums in order is deterministic; and one chunk
//! holds many small tensors (biases, LayerNorm weights), so they do not each
//! cost a parallel task.

/// Elements per chunk: 128 KiB of each f32 operand, enough work (tens of µs
/// for AdamW) to amortise handing a chunk to a thread, small enough that a
/// GPT-sized parameter list gives dozens of chunks to balance.
pub const CHUNK: usize = 32 * 1024;

/// Something that can be cut like a slice: a slice, or a bundle of
/// same-length slices cut at the same place.
pub trait Piece: Sized {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `(self[..mid], self[mid..])`.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl Piece for &[f32] {
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[f32]>::split_at(self, mid)
    }
}

impl Piece for &mut [f32] {
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

/// Cuts `items` (in order) into chunks of `chunk` elements of the virtual
/// concatenation; each chunk lists its pieces as `(index of the item, piece)`
/// in order. Empty items contribute no piece.
pub fn chunks<T: Piece>(items: impl IntoIterator<Item = T>, chunk: usize) -> Vec<Vec<(usize, T)>> {
    assert!(chunk > 0, "multi_tensor::chunks: chunk must be > 0");
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut room = chunk;
    for (i, mut t) in items.into_iter().enumerate() {
        while !t.is_empty() {
            let take = room.min(t.len());
            let (head, tail) = t.split_at(take);
            cur.push((i, head));
            t = tail;
            room -= take;
            if room == 0 {
                out.push(std::mem::take(&mut cur));
                room = chunk;
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests;
