//! Global-norm gradient clipping (`torch.nn.utils.clip_grad_norm_`).

use crate::nn::params::Params;

/// Scales all gradients so their joint L2 norm is at most `max_norm`; returns the norm before.
pub fn clip_grad_norm(params: &mut Params, max_norm: f32) -> f32 {
    let total = params
        .list
        .iter()
        .flat_map(|p| p.grad.iter())
        .map(|g| (*g as f64) * (*g as f64))
        .sum::<f64>()
        .sqrt() as f32;
    let scale = max_norm / (total + 1e-6);
    if scale < 1.0 {
        for p in &mut params.list {
            p.grad.iter_mut().for_each(|g| *g *= scale);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::Init;
    use rand::SeedableRng;

    #[test]
    fn clips_to_max_norm() {
        let mut p = Params::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        p.add("a", &[2], Init::Constant(0.0), true, &mut rng);
        p.list[0].grad = vec![3.0, 4.0];
        assert_eq!(clip_grad_norm(&mut p, 10.0), 5.0);
        assert_eq!(p.list[0].grad, [3.0, 4.0]);
        clip_grad_norm(&mut p, 1.0);
        assert!((p.list[0].grad[0] - 0.6).abs() < 1e-5);
    }
}
