//! A backend model's checkpoint: its weights through the host [`Params`] (by PyTorch name) and
//! the optimizer's state, written and read back the same way by every experiment that trains a
//! [`DeviceParams`] model (`classify`, `finetune`, `qa train`).

use crate::compute::Backend;
use crate::models::device_params::DeviceParams;
use crate::nn::params::Params;
use crate::nn::weights::Part;
use crate::train::checkpoint::{self, TensorFile};
use anyhow::Result;
use std::collections::HashMap;
use std::path::Path;

/// Writes a backend model's weights (through `host`, which takes them by name) and the
/// optimizer's state to `path` with `meta`.
pub fn save<B: Backend>(
    be: &B,
    path: &Path,
    params: &DeviceParams<B>,
    host: &mut Params,
    meta: &serde_json::Value,
) -> Result<()> {
    params.download_into(be, host)?;
    let state = params.optimizer_state(be)?;
    let named = state.tensors.iter().map(|(n, v)| (n.clone(), v.as_slice()));
    checkpoint::save_with_state(path, host, named, state.steps, meta)
}

/// Takes a checkpoint's weights into `host` by name and returns its optimizer state and step
/// count, for the model rebuilt from `host` to restore.
pub fn restore(mut file: TensorFile, host: &mut Params) -> Result<(HashMap<String, Vec<f32>>, u64)> {
    let state = checkpoint::optimizer_state(&file);
    file.weights().load_into(host, &Part::All)?;
    Ok(state)
}
