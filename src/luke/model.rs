//! `LukeModel`: embeddings, the encoder stack and the pooler, loaded from a checkpoint
//! directory and run on a padded [`Batch`] on any [`Backend`]. Everything runs on the backend
//! but the entity embeddings' few rows and the host's count of positions; only the hidden
//! states asked for come back.

use super::batch::Batch;
use super::config::LukeConfig;
use super::embeddings::{EntityEmbeddings, WordEmbeddings};
use super::weights::Weights;
use crate::compute::{Activation, AttentionShape, AttentionWeights, Backend, DenseWeights};
use anyhow::Result;

/// A LayerNorm's γ and β on the backend.
struct Norm<B: Backend> {
    gamma: B::Buf,
    beta: B::Buf,
    eps: f32,
}

impl<B: Backend> Norm<B> {
    fn load(be: &B, w: &mut Weights, prefix: &str, c: &LukeConfig) -> Result<Self> {
        let h = c.hidden_size;
        Ok(Self {
            gamma: be.upload(&w.take(&format!("{prefix}.weight"), &[h])?)?,
            beta: be.upload(&w.take(&format!("{prefix}.bias"), &[h])?)?,
            eps: c.layer_norm_eps,
        })
    }

    /// Rows `first .. first + rows` of `x` `[R, H]`, in place.
    fn forward(&self, be: &B, x: &mut B::Buf, first: usize, rows: usize) -> Result<()> {
        be.layer_norm(x, first, rows, &self.gamma, &self.beta, self.eps)
    }
}

fn dense<B: Backend>(be: &B, w: &mut Weights, prefix: &str, inputs: usize, outputs: usize) -> Result<B::Dense> {
    be.dense(DenseWeights::load(w, prefix, inputs, outputs, true)?)
}

/// What ends both halves of a layer (BERT's `SelfOutput` and `Output`): a projection back to
/// the hidden size, the residual, LayerNorm.
struct Residual<B: Backend> {
    dense: B::Dense,
    norm: Norm<B>,
}

impl<B: Backend> Residual<B> {
    /// `{prefix}.dense` (`inputs` → H) and `{prefix}.LayerNorm`.
    fn load(be: &B, w: &mut Weights, prefix: &str, inputs: usize, c: &LukeConfig) -> Result<Self> {
        Ok(Self {
            dense: dense(be, w, &format!("{prefix}.dense"), inputs, c.hidden_size)?,
            norm: Norm::load(be, w, &format!("{prefix}.LayerNorm"), c)?,
        })
    }

    /// `x` `[R, in]` → LayerNorm(`x`·Wᵀ + b + `residual`) `[R, H]`; `x` goes back to the pool.
    fn forward(&self, be: &B, x: B::Buf, residual: &B::Buf, rows: usize, h: usize) -> Result<B::Buf> {
        let mut out = be.scratch(rows * h)?; // [R, H]
        be.affine(&mut out, &x, 0, rows, &self.dense)?;
        be.release(x);
        be.add(&mut out, residual)?;
        self.norm.forward(be, &mut out, 0, rows)?;
        Ok(out)
    }
}

/// Attention followed by the feed-forward block, applied to word and entity rows alike.
struct Layer<B: Backend> {
    attention: B::Attention,
    attention_output: Residual<B>,
    intermediate: B::Dense,
    output: Residual<B>,
}

impl<B: Backend> Layer<B> {
    fn load(be: &B, w: &mut Weights, i: usize, c: &LukeConfig) -> Result<Self> {
        let p = format!("encoder.layer.{i}");
        let (h, inter) = (c.hidden_size, c.intermediate_size);
        let attention = AttentionWeights::load(
            w,
            &format!("{p}.attention"),
            h,
            c.num_attention_heads,
            c.use_entity_aware_attention,
        )?;
        Ok(Self {
            attention: be.attention(attention)?,
            attention_output: Residual::load(be, w, &format!("{p}.attention.output"), h, c)?,
            intermediate: dense(be, w, &format!("{p}.intermediate.dense"), h, inter)?,
            output: Residual::load(be, w, &format!("{p}.output"), inter, c)?,
        })
    }

    /// `x` `[R, H]` (R = B·W + B·N) → the layer's output, same shape; `x` and every
    /// intermediate block go back to the backend's pool.
    fn forward(&self, be: &B, x: B::Buf, masks: &B::Ids, shape: AttentionShape, c: &LukeConfig) -> Result<B::Buf> {
        let (rows, h) = (shape.rows(), c.hidden_size);
        let mut context = be.scratch(rows * h)?; // [R, H]
        be.attend(&mut context, &x, &self.attention, masks, shape)?;
        let attended = self.attention_output.forward(be, context, &x, rows, h)?; // [R, H]
        be.release(x);
        let mut mid = be.scratch(rows * c.intermediate_size)?; // [R, I]
        be.affine(&mut mid, &attended, 0, rows, &self.intermediate)?;
        be.activate(&mut mid, c.activation)?;
        let out = self.output.forward(be, mid, &attended, rows, h)?; // [R, H]
        be.release(attended);
        Ok(out)
    }
}

/// What one forward pass yields, on the host.
pub struct LukeOutput {
    /// `[B, W, H]` after the last layer.
    pub word_hidden: Vec<f32>,
    /// `[B, N, H]` after the last layer.
    pub entity_hidden: Vec<f32>,
    /// `[B, H]`: tanh(dense(first word)), present when the checkpoint has a pooler.
    pub pooled: Option<Vec<f32>>,
    /// Embedding output then every layer's output (`num_hidden_layers + 1` entries) when asked.
    pub all_word_hidden: Vec<Vec<f32>>,
    pub all_entity_hidden: Vec<Vec<f32>>,
}

pub struct LukeModel<B: Backend> {
    pub config: LukeConfig,
    words: WordEmbeddings<B>,
    entities: EntityEmbeddings,
    word_norm: Norm<B>,
    entity_norm: Norm<B>,
    layers: Vec<Layer<B>>,
    pooler: Option<B::Dense>,
}

impl<B: Backend> LukeModel<B> {
    /// Takes the encoder's tensors out of `w` (the head's stay for the head to take) and
    /// prepares them on `be`.
    pub fn load(be: &B, w: &mut Weights, config: &LukeConfig) -> Result<Self> {
        let words = WordEmbeddings::load(be, w, config)?;
        let entities = EntityEmbeddings::load(w, config)?;
        let word_norm = Norm::load(be, w, "embeddings.LayerNorm", config)?;
        let entity_norm = Norm::load(be, w, "entity_embeddings.LayerNorm", config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(be, w, i, config))
            .collect::<Result<Vec<_>>>()?;
        let h = config.hidden_size;
        let pooler = if w.contains("pooler.dense.weight") {
            Some(dense(be, w, "pooler.dense", h, h)?)
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            words,
            entities,
            word_norm,
            entity_norm,
            layers,
            pooler,
        })
    }

    pub fn has_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    /// Embeddings, then the first `layers` layers; `keep` sees every state on the way
    /// (embeddings first). Returns `[B·W + B·N, H]` on the backend: word rows, then entity
    /// rows.
    fn encode(
        &self,
        be: &B,
        batch: &Batch,
        layers: usize,
        mut keep: impl FnMut(&B::Buf) -> Result<()>,
    ) -> Result<B::Buf> {
        let shape = AttentionShape {
            batch: batch.size,
            words: batch.words,
            entities: batch.entities,
        };
        let (wrows, erows) = (batch.size * batch.words, batch.size * batch.entities);
        let h = self.config.hidden_size;
        let words = self.words.forward(be, batch)?; // [B·W, H]
        let mut hidden = if erows > 0 {
            let entities = be.upload_vec(self.entities.forward(batch)?)?; // [B·N, H]
            let mut stacked = be.scratch((wrows + erows) * h)?; // [B·W + B·N, H]
            be.copy(&mut stacked, 0, &words, 0, wrows * h)?;
            be.copy(&mut stacked, wrows * h, &entities, 0, erows * h)?;
            be.release(words);
            be.release(entities);
            stacked
        } else {
            words
        };
        self.word_norm.forward(be, &mut hidden, 0, wrows)?;
        self.entity_norm.forward(be, &mut hidden, wrows, erows)?;
        let masks = be.upload_ids(&masks(batch))?;
        for layer in &self.layers[..layers] {
            keep(&hidden)?;
            hidden = layer.forward(be, hidden, &masks, shape, &self.config)?;
        }
        Ok(hidden)
    }

    /// The word rows `[B, W, H]` of `hidden_states[layer]` as transformers numbers them (0 =
    /// embeddings, `i` = after layer `i`), running only the layers it needs.
    pub fn word_hidden_at(&self, be: &B, batch: &Batch, layer: usize) -> Result<Vec<f32>> {
        anyhow::ensure!(
            layer <= self.layers.len(),
            "hidden state {layer} asked of a model with {} layers",
            self.layers.len()
        );
        let hidden = self.encode(be, batch, layer, |_| Ok(()))?;
        let mut words = be.download(&hidden)?;
        be.release(hidden);
        words.truncate(batch.size * batch.words * self.config.hidden_size);
        Ok(words)
    }

    pub fn forward(&self, be: &B, batch: &Batch, keep_all: bool) -> Result<LukeOutput> {
        let h = self.config.hidden_size;
        let wrows = batch.size * batch.words;
        let mut all_word_hidden = Vec::new();
        let mut all_entity_hidden = Vec::new();
        let mut keep = |hidden: &B::Buf| -> Result<()> {
            if keep_all {
                let mut words = be.download(hidden)?;
                all_entity_hidden.push(words.split_off(wrows * h));
                all_word_hidden.push(words);
            }
            Ok(())
        };
        let hidden = self.encode(be, batch, self.layers.len(), &mut keep)?;
        keep(&hidden)?;
        let pooled = match &self.pooler {
            Some(dense) => Some(self.pool(be, dense, &hidden, batch)?),
            None => None,
        };
        let mut words = be.download(&hidden)?;
        be.release(hidden);
        let entities = words.split_off(wrows * h);
        Ok(LukeOutput {
            word_hidden: words,
            entity_hidden: entities,
            pooled,
            all_word_hidden,
            all_entity_hidden,
        })
    }

    /// `[B, H]`: tanh(dense(each sequence's first word row of `hidden`)).
    fn pool(&self, be: &B, dense: &B::Dense, hidden: &B::Buf, batch: &Batch) -> Result<Vec<f32>> {
        let h = self.config.hidden_size;
        let first: Vec<u32> = (0..batch.size).map(|b| (b * batch.words) as u32).collect();
        let mut rows = be.scratch(batch.size * h)?; // [B, H]
        be.gather_rows(&mut rows, hidden, &be.upload_ids(&first)?, h)?;
        let mut pooled = be.scratch(batch.size * h)?; // [B, H]
        be.affine(&mut pooled, &rows, 0, batch.size, dense)?;
        be.release(rows);
        be.activate(&mut pooled, Activation::Tanh)?;
        let values = be.download(&pooled)?;
        be.release(pooled);
        Ok(values)
    }
}

/// `[B, W + N]`: 1 for each sequence's real words, then its real entities.
fn masks(batch: &Batch) -> Vec<u32> {
    (0..batch.size)
        .flat_map(|b| {
            let words = &batch.word_mask[b * batch.words..][..batch.words];
            let entities = &batch.entity_mask[b * batch.entities..][..batch.entities];
            words.iter().chain(entities).map(|&m| m as u32)
        })
        .collect()
}
