//! Dense projections `y = x·Wᵀ + b` with PyTorch's `[out, in]` weights, packed once for
//! inference (a transformer's every projection).

use super::weights::Weights;
use crate::kernels::matmul::{FixedB, Layout};
use crate::kernels::recycle::overwritable;
use anyhow::Result;

/// A dense layer's tensors as the checkpoint stores them (`W` `[out, in]`), before packing.
pub struct DenseWeights {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl DenseWeights {
    /// From values: `weight` `[outputs, inputs]`, `bias` `[outputs]`.
    pub fn new(weight: Vec<f32>, bias: Option<Vec<f32>>, inputs: usize, outputs: usize) -> Result<Self> {
        anyhow::ensure!(
            weight.len() == inputs * outputs && bias.as_ref().is_none_or(|b| b.len() == outputs),
            "dense {inputs} → {outputs}: a weight of {} values and a bias of {:?}",
            weight.len(),
            bias.as_ref().map(Vec::len)
        );
        Ok(Self {
            weight,
            bias,
            inputs,
            outputs,
        })
    }

    pub fn load(w: &mut Weights, prefix: &str, inputs: usize, outputs: usize, bias: bool) -> Result<Self> {
        let weight = w.take(&format!("{prefix}.weight"), &[outputs, inputs])?;
        let bias = if bias {
            Some(w.take(&format!("{prefix}.bias"), &[outputs])?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            inputs,
            outputs,
        })
    }

    /// Stacks projections of the same input into one (their outputs side by side), so one GEMM
    /// computes them all.
    pub fn concat(parts: &[&DenseWeights]) -> Self {
        let inputs = parts[0].inputs;
        assert!(parts.iter().all(|p| p.inputs == inputs));
        Self {
            weight: parts.iter().flat_map(|p| p.weight.iter().copied()).collect(),
            bias: Some(
                parts
                    .iter()
                    .flat_map(|p| p.bias.clone().unwrap_or_else(|| vec![0.0; p.outputs]))
                    .collect(),
            ),
            inputs,
            outputs: parts.iter().map(|p| p.outputs).sum(),
        }
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `(weight [out, in], bias, inputs, outputs)`, for code that uses the weight other than as a
    /// projection.
    pub fn into_parts(self) -> (Vec<f32>, Option<Vec<f32>>, usize, usize) {
        (self.weight, self.bias, self.inputs, self.outputs)
    }

    /// The layer ready to run, its weight packed once for every product it will take part in.
    pub fn pack(self) -> Dense {
        Dense {
            weight: FixedB::new(&self.weight, Layout::Transposed, self.inputs, self.outputs),
            bias: self.bias,
            inputs: self.inputs,
            outputs: self.outputs,
        }
    }
}

/// `y = x·Wᵀ + b`.
pub struct Dense {
    weight: FixedB,
    bias: Option<Vec<f32>>,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    pub fn load(w: &mut Weights, prefix: &str, inputs: usize, outputs: usize, bias: bool) -> Result<Self> {
        Ok(DenseWeights::load(w, prefix, inputs, outputs, bias)?.pack())
    }

    /// x `[rows, in]` → `[rows, out]`, into a block from the buffer pool (`kernels::recycle`;
    /// every value of it is written).
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = overwritable(rows * self.outputs);
        self.forward_into(&mut y, x, rows);
        y
    }

    /// x `[rows, in]` → y `[rows, out]`, every value of `y` written.
    pub fn forward_into(&self, y: &mut [f32], x: &[f32], rows: usize) {
        self.weight.affine(y, x, rows, self.bias.as_deref());
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }
}
