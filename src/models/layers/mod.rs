//! Layers written once over [`crate::compute::Backend`], forward and backward side by side,
//! each keeping its weights as slots of the model's [`super::device_params::DeviceParams`]
//! under PyTorch's names. Activations are row-major; images are channels-last
//! `[N·H·W, C]`, so a convolution is one product and batch normalisation runs over rows.

pub mod batch_norm;
pub mod conv2d;
pub mod ids_cache;
pub mod linear;
pub mod max_pool2d;

/// Uniform in ±1/√fan_in: PyTorch's default for `nn.Linear` and `nn.Conv2d` weights and biases
/// (`kaiming_uniform_(a=√5)`).
pub fn torch_default_bound(fan_in: usize) -> f32 {
    1.0 / (fan_in as f32).sqrt()
}
