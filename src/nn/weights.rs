//! The one weight source every model loads from: tensors by PyTorch `state_dict` name, read
//! from a tsumugi checkpoint (`train::checkpoint::TensorFile`) or a Hugging Face directory
//! (`luke::weights`). Loading reports every missing, unexpected and mis-shaped tensor by name
//! at once, and can take only part of a model (`encoder.*` from another run, the embedding and
//! LSTM of a language model) — what fine-tuning needs.

use super::params::Params;
use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;

/// Named f32 tensors `name → (shape, values)` and where they came from.
pub struct Weights {
    source: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// A prefix names may also carry (LUKE task heads save the encoder under `luke.`).
    alias: Option<String>,
}

/// Which parameters of a model a load fills.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Every parameter; every tensor of the source must be used.
    All,
    /// Only parameters whose names start with one of these prefixes (`embedding.`, `lstm.`);
    /// the others keep their values. Every source tensor under the prefixes must be used.
    Prefixes(Vec<String>),
}

impl Part {
    fn selects(&self, name: &str) -> bool {
        match self {
            Part::All => true,
            Part::Prefixes(prefixes) => prefixes.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

impl Weights {
    pub fn new(source: impl Into<String>, tensors: HashMap<String, (Vec<usize>, Vec<f32>)>) -> Self {
        Self {
            source: source.into(),
            tensors,
            alias: None,
        }
    }

    /// Names are also looked up under `prefix` (`luke.` + name).
    pub fn with_alias(mut self, prefix: &str) -> Self {
        self.alias = Some(prefix.to_string());
        self
    }

    /// The file or directory the tensors came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The key `name` is stored under, if any (itself, or under the alias prefix).
    fn key(&self, name: &str) -> Option<String> {
        if self.tensors.contains_key(name) {
            return Some(name.to_string());
        }
        let aliased = format!("{}{name}", self.alias.as_deref()?);
        self.tensors.contains_key(&aliased).then_some(aliased)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.key(name).is_some()
    }

    /// Takes the tensor `name`, which must have exactly `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (key, (found, values)) = self
            .key(name)
            .and_then(|key| self.tensors.remove_entry(&key))
            .ok_or_else(|| anyhow!("{}: missing tensor {name}", self.source))?;
        if found != shape {
            bail!("{}: tensor {key} has shape {found:?}, expected {shape:?}", self.source);
        }
        Ok(values)
    }

    /// Fills the parameters of `params` that `part` selects, checking every name and shape
    /// first: on any missing, mis-shaped or unexpected tensor nothing is changed and the error
    /// lists them all. Returns the names filled.
    pub fn load_into(&mut self, params: &mut Params, part: &Part) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut found = Vec::new();
        for (i, p) in params.iter().enumerate().filter(|(_, p)| part.selects(&p.name)) {
            match self.key(&p.name) {
                None => problems.push(format!("missing tensor {}", p.name)),
                Some(key) if self.tensors[&key].0 != p.shape => problems.push(format!(
                    "tensor {key} has shape {:?}, the model needs {:?}",
                    self.tensors[&key].0, p.shape
                )),
                Some(key) => found.push((i, key)),
            }
        }
        let used: std::collections::HashSet<&str> = found.iter().map(|(_, k)| k.as_str()).collect();
        let mut unexpected: Vec<&str> = self
            .tensors
            .keys()
            .map(String::as_str)
            .filter(|k| !used.contains(k) && part.selects(self.unaliased(k)))
            .filter(|k| params.get(self.unaliased(k)).is_none())
            .collect();
        unexpected.sort_unstable();
        problems.extend(
            unexpected
                .iter()
                .map(|k| format!("unexpected tensor {k} (the model has no such parameter)")),
        );
        if let Part::Prefixes(prefixes) = part {
            if found.is_empty() && problems.is_empty() {
                bail!("{}: no tensor under {}", self.source, prefixes.join(", "));
            }
        }
        if !problems.is_empty() {
            bail!(
                "{}: the weights do not fit the model: {}",
                self.source,
                problems.join("; ")
            );
        }
        let mut names = Vec::with_capacity(found.len());
        for (i, key) in found {
            let (_, values) = self.tensors.remove(&key).expect("checked above");
            params[i].value = values;
            names.push(params[i].name.clone());
        }
        Ok(names)
    }

    /// `key` without the alias prefix.
    fn unaliased<'a>(&self, key: &'a str) -> &'a str {
        self.alias.as_deref().and_then(|a| key.strip_prefix(a)).unwrap_or(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::Init;
    use rand::SeedableRng;

    fn model() -> Params {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut p = Params::default();
        p.add("embedding.weight", &[3, 2], Init::Constant(0.0), true, &mut rng);
        p.add("lstm.weight_ih_l0", &[8, 2], Init::Constant(0.0), true, &mut rng);
        p.add("fc.weight", &[1, 2], Init::Constant(0.0), true, &mut rng);
        p
    }

    fn tensors(entries: &[(&str, &[usize])]) -> Weights {
        let map = entries
            .iter()
            .map(|(n, s)| (n.to_string(), (s.to_vec(), vec![1.0; s.iter().product()])))
            .collect();
        Weights::new("run/last.safetensors", map)
    }

    #[test]
    fn a_full_load_names_every_missing_misshaped_and_unexpected_tensor_and_changes_nothing() {
        let mut p = model();
        let mut w = tensors(&[
            ("embedding.weight", &[3, 2]),
            ("lstm.weight_ih_l0", &[4, 2]),
            ("decoder.weight", &[3, 2]),
        ]);
        let e = w.load_into(&mut p, &Part::All).unwrap_err().to_string();
        for part in [
            "run/last.safetensors",
            "missing tensor fc.weight",
            "lstm.weight_ih_l0 has shape [4, 2], the model needs [8, 2]",
            "unexpected tensor decoder.weight",
        ] {
            assert!(e.contains(part), "{e}");
        }
        assert!(p.iter().all(|q| q.value.iter().all(|&v| v == 0.0)), "nothing loaded");
    }

    #[test]
    fn a_partial_load_fills_only_the_named_prefixes() {
        let mut p = model();
        let mut w = tensors(&[
            ("embedding.weight", &[3, 2]),
            ("lstm.weight_ih_l0", &[8, 2]),
            ("decoder.weight", &[3, 2]),
        ]);
        let part = Part::Prefixes(vec!["embedding.".into(), "lstm.".into()]);
        let names = w.load_into(&mut p, &part).unwrap();
        assert_eq!(names, ["embedding.weight", "lstm.weight_ih_l0"]);
        assert_eq!(p.get("fc.weight").unwrap().value, [0.0, 0.0], "outside the part: kept");
        assert_eq!(p.get("embedding.weight").unwrap().value, [1.0; 6]);
        let e = tensors(&[("decoder.weight", &[3, 2])])
            .load_into(&mut model(), &Part::Prefixes(vec!["encoder.".into()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no tensor under encoder."), "{e}");
    }

    #[test]
    fn names_are_found_under_the_alias() {
        let mut w = tensors(&[("luke.encoder.w", &[2])]).with_alias("luke.");
        assert!(w.contains("encoder.w"));
        assert_eq!(w.take("encoder.w", &[2]).unwrap(), [1.0, 1.0]);
        let e = w.take("encoder.w", &[2]).unwrap_err().to_string();
        assert!(e.contains("missing tensor encoder.w"), "{e}");
    }
}
