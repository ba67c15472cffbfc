//! Large `f32` buffers handed back after use and handed out again, for outputs that are written
//! in full: a training step's (the language model's 28 MB of logits took 2.6 ms of a 0.36 s
//! `bench lstm` step to zero-fill, although the product that fills them writes every value)
//! and a LUKE forward's, whose every layer asks for blocks of the same sizes (a fresh zeroed
//! block of up to 13 MB at LUKE-base batch 8 was 2.5% of the forward in `perf`).
//!
//! The pool is per thread (the training loop's, the forward's); a buffer recycled on another
//! thread simply serves that one.

use std::cell::RefCell;

/// Most buffers kept: the LSTM language model recycles two per layer and the logits.
const KEPT: usize = 16;

/// Buffers smaller than this are allocated as usual (zeroing them costs little).
const SMALLEST: usize = 1 << 16;

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` values left from an earlier use (or zeros): for an output that is written
/// in full before it is read.
pub fn overwritable(len: usize) -> Vec<f32> {
    if len >= SMALLEST {
        let reused = FREE.with_borrow_mut(|free| {
            // the smallest that is large enough, so a large buffer is not spent on a small use
            let best = (0..free.len())
                .filter(|&i| free[i].capacity() >= len)
                .min_by_key(|&i| free[i].capacity())?;
            Some(free.swap_remove(best))
        });
        if let Some(mut buf) = reused {
            // within capacity: only values past the old length are written (zeros)
            buf.resize(len, 0.0);
            return buf;
        }
    }
    vec![0.0; len]
}

/// Hands `buf` back for a later [`overwritable`]; the smallest kept buffer makes room when the
/// pool is full.
pub fn recycle(buf: Vec<f32>) {
    if buf.capacity() < SMALLEST {
        return;
    }
    // `try_with`: a buffer dropped while the thread exits is freed as usual
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        free.push(buf);
        if free.len() > KEPT {
            let smallest = (0..free.len())
                .min_by_key(|&i| free[i].capacity())
                .expect("pool is not empty");
            free.swap_remove(smallest);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_serves_the_next_request_of_its_size_or_less() {
        let buf = vec![1.0f32; SMALLEST * 2];
        let ptr = buf.as_ptr();
        recycle(buf);
        let again = overwritable(SMALLEST + 5);
        assert_eq!(again.len(), SMALLEST + 5);
        assert_eq!(again.as_ptr(), ptr, "the recycled allocation is reused");
        assert!(again.iter().all(|&v| v == 1.0), "values are left, not cleared");
        let fresh = overwritable(SMALLEST * 4);
        assert!(fresh.iter().all(|&v| v == 0.0), "nothing large enough: a zeroed buffer");
        assert_ne!(fresh.as_ptr(), ptr);
    }

    #[test]
    fn the_pool_keeps_at_most_its_limit() {
        for i in 0..KEPT + 4 {
            recycle(vec![0.0; SMALLEST + i]);
        }
        FREE.with_borrow(|free| {
            assert_eq!(free.len(), KEPT);
            assert!(
                free.iter().all(|b| b.capacity() >= SMALLEST + 4),
                "the smallest went first"
            );
        });
    }
}
