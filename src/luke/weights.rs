//! The tensors of a checkpoint directory, whatever file layout it ships: `model.safetensors`,
//! `pytorch_model.bin` (a torch zip), or either sharded with an `*.index.json`.

use super::torch_pickle::{read_torch_zip, NamedTensor};
use crate::data::json::read_json;
use anyhow::{anyhow, bail, Context, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub use crate::nn::weights::Weights;

/// Loads the weights in `dir`, preferring safetensors as transformers does. Names are also
/// found under the `luke.` prefix task heads save the encoder with.
pub fn load_dir(dir: &Path) -> Result<Weights> {
    let candidates = [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
    ];
    let found = candidates
        .iter()
        .map(|c| dir.join(c))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("{}: no weights (looked for {})", dir.display(), candidates.join(", ")))?;
    let files = if found.extension().is_some_and(|e| e == "json") {
        shard_files(&found)?
    } else {
        vec![found.clone()]
    };
    let mut tensors = HashMap::new();
    for file in &files {
        let loaded = if file.extension().is_some_and(|e| e == "safetensors") {
            read_safetensors(file)?
        } else {
            read_torch_zip(file)?
        };
        for (name, shape, values) in loaded {
            tensors.insert(name, (shape, values));
        }
    }
    Ok(Weights::new(found.display().to_string(), tensors).with_alias("luke."))
}

/// The distinct shard files named by an index's `weight_map`.
fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let json: serde_json::Value = read_json(index)?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| anyhow!("{}: no weight_map object", index.display()))?;
    let names: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
    let dir = index.parent().unwrap_or(Path::new("."));
    let files: Vec<PathBuf> = names.into_iter().map(|n| dir.join(n)).collect();
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        bail!("{}: shard {} is missing", index.display(), missing.display());
    }
    Ok(files)
}

fn read_safetensors(path: &Path) -> Result<Vec<NamedTensor>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: the map is read-only and dropped before this function returns.
    let map = unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
    let st = SafeTensors::deserialize(&map).with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::I64 | Dtype::I32 | Dtype::U8 | Dtype::BOOL => continue, // buffers such as position_ids
            other => bail!("{}: tensor {name} has unsupported dtype {other:?}", path.display()),
        };
        out.push((name, view.shape().to_vec(), values));
    }
    Ok(out)
}
