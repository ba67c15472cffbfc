//! Checkpoints as one safetensors file: model tensors under their PyTorch names, optimizer state
//! under `optimizer.{param}.{buffer}`, and everything else (epoch, schedule, early-stopping
//! history, seed) as JSON in the safetensors metadata. Written atomically.

use crate::nn::params::Params;
use crate::nn::weights::Weights;
use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

const META_KEY: &str = "tsumugi";
const OPTIM_PREFIX: &str = "optimizer.";

/// Little-endian bytes of f32 values.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes named f32 tensors (and optional i64 tensors) plus JSON metadata atomically.
pub fn write_tensors(
    path: &Path,
    f32_tensors: &[(String, Vec<usize>, &[f32])],
    i64_tensors: &[(String, Vec<usize>, Vec<i64>)],
    meta: Option<&serde_json::Value>,
) -> Result<()> {
    let f32_data: Vec<Vec<u8>> = f32_tensors.iter().map(|(_, _, v)| f32_bytes(v)).collect();
    let i64_data: Vec<Vec<u8>> = i64_tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::new();
    for ((name, shape, _), bytes) in f32_tensors.iter().zip(&f32_data) {
        views.push((name.clone(), TensorView::new(Dtype::F32, shape.clone(), bytes)?));
    }
    for ((name, shape, _), bytes) in i64_tensors.iter().zip(&i64_data) {
        views.push((name.clone(), TensorView::new(Dtype::I64, shape.clone(), bytes)?));
    }
    let info = meta.map(|m| HashMap::from([(META_KEY.to_string(), m.to_string())]));
    let bytes = safetensors::serialize(views, &info)?;
    crate::atomic::write_atomic(path, &bytes)
}

/// A loaded safetensors file: tensors by name, converted to f32 / i64, plus our JSON metadata.
pub struct TensorFile {
    pub source: String,
    pub f32: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub i64: HashMap<String, (Vec<usize>, Vec<i64>)>,
    pub meta: Option<serde_json::Value>,
}

impl TensorFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let source = path.display().to_string();
        let tensors =
            SafeTensors::deserialize(&bytes).map_err(|e| anyhow!("{source}: not a safetensors file ({e})"))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| anyhow!("{source}: {e}"))?;
        let meta = match header.metadata().as_ref().and_then(|m| m.get(META_KEY)) {
            Some(text) => Some(serde_json::from_str(text).with_context(|| format!("{source}: bad metadata"))?),
            None => None,
        };
        let (mut f32s, mut i64s) = (HashMap::new(), HashMap::new());
        for (name, view) in tensors.tensors() {
            let shape = view.shape().to_vec();
            match view.dtype() {
                Dtype::F32 => {
                    let v = view
                        .data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    f32s.insert(name, (shape, v));
                }
                Dtype::I64 => {
                    let v = view
                        .data()
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                        .collect();
                    i64s.insert(name, (shape, v));
                }
                other => bail!("{source}: tensor `{name}` has dtype {other:?}; tsumugi reads F32 and I64"),
            }
        }
        Ok(Self {
            source,
            f32: f32s,
            i64: i64s,
            meta,
        })
    }

    /// The model's tensors, moved out as a weight source; optimizer state stays for
    /// [`optimizer_state`].
    pub fn weights(&mut self) -> Weights {
        let (optimizer, model) = std::mem::take(&mut self.f32)
            .into_iter()
            .partition(|(name, _)| name.starts_with(OPTIM_PREFIX));
        self.f32 = optimizer;
        Weights::new(self.source.clone(), model)
    }
}

/// Saves model parameters, optimizer buffers named `{param}.{buffer}` (stored under
/// `optimizer.`), the optimizer's step count and `meta` to `path`.
pub fn save_with_state<'a>(
    path: &Path,
    params: &Params,
    state: impl IntoIterator<Item = (String, &'a [f32])>,
    steps: u64,
    meta: &serde_json::Value,
) -> Result<()> {
    let mut tensors: Vec<(String, Vec<usize>, &[f32])> = params
        .iter()
        .map(|p| (p.name.clone(), p.shape.clone(), p.value.as_slice()))
        .collect();
    for (name, values) in state {
        tensors.push((format!("{OPTIM_PREFIX}{name}"), vec![values.len()], values));
    }
    let mut meta = meta.clone();
    meta["optimizer_steps"] = steps.into();
    write_tensors(path, &tensors, &[], Some(&meta))
}

/// The optimizer buffers saved by [`save_with_state`] by `{param}.{buffer}`, and its step
/// count.
pub fn optimizer_state(file: &TensorFile) -> (HashMap<String, Vec<f32>>, u64) {
    let state: HashMap<String, Vec<f32>> = file
        .f32
        .iter()
        .filter_map(|(k, (_, v))| k.strip_prefix(OPTIM_PREFIX).map(|n| (n.to_string(), v.clone())))
        .collect();
    let steps = file
        .meta
        .as_ref()
        .and_then(|m| m["optimizer_steps"].as_u64())
        .unwrap_or(0);
    (state, steps)
}
