//! Dropout masks from a counter-based generator: value `i` of the mask keyed `key` depends on
//! `(key, i)` alone, so the CPU and the GPU (`cuda/kernels.cu` computes the same integer
//! arithmetic) draw the same mask, threads need no shared state, and a resumed run makes any
//! step's mask again from its key. The mix is SplitMix64's finaliser over `key + (i + 1)·φ`.

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser: every input bit affects every output bit.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) on a 2⁻²⁴ grid (exact in `f32`) for value `index` of mask `key`.
pub fn uniform(key: u64, index: u64) -> f32 {
    let z = mix(key.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN)));
    (z >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// Whether value `index` of mask `key` is kept under dropout probability `p`.
pub fn keep(key: u64, index: u64, p: f32) -> bool {
    uniform(key, index) >= p
}

/// The key of one dropout site (`site`: which dropout of the model) at one training step:
/// distinct seeds, steps and sites give unrelated masks.
pub fn key(seed: u64, step: u64, site: u64) -> u64 {
    mix(mix(mix(seed ^ GOLDEN).wrapping_add(step)).wrapping_add(site))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_one_minus_p_and_masks_differ_by_key() {
        let n = 100_000u64;
        let kept = (0..n).filter(|&i| keep(7, i, 0.3)).count() as f64 / n as f64;
        assert!((kept - 0.7).abs() < 0.01, "kept {kept}");
        let same = (0..1000).filter(|&i| keep(1, i, 0.5) == keep(2, i, 0.5)).count();
        assert!(
            (400..600).contains(&same),
            "masks of keys 1 and 2 agree on {same} of 1000"
        );
        assert_ne!(key(0, 0, 0), key(0, 1, 0));
        assert_ne!(key(0, 0, 0), key(0, 0, 1));
        assert_ne!(key(0, 0, 0), key(1, 0, 0));
    }

    /// SplitMix64's published first output for seed 0 (`mix(φ)`), so the CUDA kernel's copy of
    /// the arithmetic can be checked against a known value too.
    #[test]
    fn mix_is_splitmix64() {
        assert_eq!(mix(GOLDEN), 0xE220_A839_7B1D_CDAF);
    }
}
