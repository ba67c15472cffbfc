//! Index buffers that depend on a batch's shape alone (a convolution's patch sources, the CNN's
//! flatten permutation), built and uploaded once per shape and shared by every step after.
//!
//! Why: at the QA article's batch of 100 the three of them are 2.0 M ids (8 MB) a step; built on
//! the host and copied to a GPU each step, they held the card idle for milliseconds of every
//! step. A training run sees two or three shapes (the full batch, the last one, evaluation's),
//! so a few entries suffice; the oldest goes when a fifth shape comes.

use crate::compute::Backend;
use anyhow::Result;
use std::sync::{Arc, Mutex};

/// Shapes kept at once.
const ENTRIES: usize = 4;

pub struct IdsCache<B: Backend, K> {
    entries: Mutex<Vec<(K, Arc<B::Ids>)>>,
}

impl<B: Backend, K: PartialEq + Copy> IdsCache<B, K> {
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The ids for `key`, made by `build` and uploaded the first time the key is asked for.
    pub fn get(&self, be: &B, key: K, build: impl FnOnce() -> Vec<u32>) -> Result<Arc<B::Ids>> {
        // a poisoned lock only means another step panicked; the entries are still whole
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, ids)) = entries.iter().find(|(k, _)| *k == key) {
            return Ok(ids.clone());
        }
        let ids = Arc::new(be.upload_ids(&build())?);
        if entries.len() == ENTRIES {
            entries.remove(0);
        }
        entries.push((key, ids.clone()));
        Ok(ids)
    }
}

impl<B: Backend, K: PartialEq + Copy> Default for IdsCache<B, K> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;

    #[test]
    fn builds_once_per_key_and_keeps_the_newest_four() {
        let cache = IdsCache::<Cpu, usize>::new();
        let mut built = Vec::new();
        let mut get = |key: usize| {
            let ids = cache
                .get(&Cpu, key, || {
                    built.push(key);
                    vec![key as u32; 3]
                })
                .unwrap();
            assert_eq!(*ids, vec![key as u32; 3]);
        };
        for key in [1, 1, 2, 1, 3, 4, 5, 2, 1] {
            get(key);
        }
        // 1 was the oldest entry when 5 came, and is built again
        assert_eq!(built, vec![1, 2, 3, 4, 5, 1]);
    }
}
