//! Output buffers handed from one layer to the next within a forward pass. Every layer asks for
//! blocks of the same sizes, and a fresh zeroed block costs a `memset` of up to 13 MB at
//! LUKE-base batch 8 (2.5% of the forward in `perf`); a recycled one is handed out as it is, to
//! code that overwrites every value of it.

/// Blocks given back, reused by exact length.
#[derive(Default)]
pub struct Buffers {
    free: Vec<Vec<f32>>,
}

impl Buffers {
    /// A block of `len` values whose contents are unspecified (zeros or an earlier block's
    /// values): the caller must write every one before reading it.
    pub fn take(&mut self, len: usize) -> Vec<f32> {
        match self.free.iter().position(|b| b.len() == len) {
            Some(at) => self.free.swap_remove(at),
            None => vec![0f32; len],
        }
    }

    /// Returns a block for a later [`Buffers::take`].
    pub fn give(&mut self, block: Vec<f32>) {
        self.free.push(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_a_block_of_the_same_length_only() {
        let mut buffers = Buffers::default();
        let first = buffers.take(4);
        assert_eq!(first, vec![0.0; 4]);
        let address = first.as_ptr();
        buffers.give(vec![1.0; 3]);
        buffers.give(first);
        let again = buffers.take(4);
        assert_eq!(again.as_ptr(), address);
        assert_eq!(buffers.take(5), vec![0.0; 5]);
        assert_eq!(buffers.take(3), vec![1.0; 3]);
    }
}
