//! The size checks every backend makes before an operation, so a wrong shape is an error
//! naming the operation (never a panic in sgemm or an out-of-bounds kernel), worded the same on
//! every device.

use super::{AttentionShape, LstmShape, Tiling};
use anyhow::{ensure, Result};

/// Operand sizes of a product, checked so a wrong shape is an error, not a panic in sgemm.
pub(super) fn check_gemm(c: usize, a: usize, b: usize, m: usize, k: usize, n: usize) -> Result<()> {
    ensure!(
        c == m * n && a == m * k && b == k * n,
        "gemm {m}×{k}·{k}×{n}: operands of {a}, {b} and {c} values"
    );
    Ok(())
}

/// Sizes of the softmax's operands (`targets`: how many; their values are the caller's to check).
pub(super) fn check_xent(loss: usize, logits: usize, targets: usize, v: usize) -> Result<()> {
    ensure!(loss == 1, "the loss goes into one value");
    ensure!(
        logits == targets * v && v > 0,
        "softmax: {targets} targets for {logits} logits of {v} classes"
    );
    Ok(())
}

/// `rows` values for `ids` rows of `width` (gather and scatter-add).
pub(super) fn check_rows(what: &str, ids: usize, rows: usize, width: usize) -> Result<()> {
    ensure!(
        rows == ids * width,
        "{what}: {ids} ids for {rows} values of width {width}"
    );
    Ok(())
}

/// The backward's operands: the forward's, and d gates as large as the gates.
#[allow(clippy::too_many_arguments)]
pub(super) fn check_lstm_backward(
    shape: LstmShape,
    w_hh: usize,
    gates: usize,
    cells: usize,
    c0: usize,
    d_out: usize,
    d_gates: usize,
) -> Result<()> {
    check_lstm(shape, w_hh, gates, d_out, cells, c0, c0)?;
    ensure!(d_gates == gates, "lstm backward: d gates of {d_gates} values");
    Ok(())
}

pub(super) fn check_lstm(
    shape: LstmShape,
    w_hh: usize,
    gates: usize,
    out: usize,
    cells: usize,
    h0: usize,
    c0: usize,
) -> Result<()> {
    let LstmShape { steps, batch, hidden } = shape;
    let rows = steps * batch;
    ensure!(steps > 0 && batch > 0 && hidden > 0, "lstm: empty shape {shape:?}");
    ensure!(
        w_hh == 4 * hidden * hidden
            && gates == rows * 4 * hidden
            && out == rows * hidden
            && cells == rows * hidden
            && h0 == batch * hidden
            && c0 == batch * hidden,
        "lstm {shape:?}: buffers of the wrong sizes"
    );
    Ok(())
}

/// Two operands of an elementwise operation (`add`, `mul`, `sgd`) hold as many values.
pub(super) fn check_same(what: &str, a: usize, b: usize) -> Result<()> {
    ensure!(a == b, "{what}: {a} values and {b}");
    Ok(())
}

/// A row `[n]` added to every row of an `[m, n]` product.
pub(super) fn check_row(row: usize, n: usize) -> Result<()> {
    ensure!(row == n, "gemm: a row of {row} values for {n} columns");
    Ok(())
}

/// `sums[cols]` of a `[rows, cols]` matrix of `x` values.
pub(super) fn check_column_sums(sums: usize, x: usize, cols: usize) -> Result<()> {
    ensure!(
        sums == cols && cols > 0 && x.is_multiple_of(cols),
        "column sums of {x} values into {cols} columns"
    );
    Ok(())
}

/// A sum of squares accumulates into one value.
pub(super) fn check_scalar(acc: usize) -> Result<()> {
    ensure!(acc == 1, "a sum of squares goes into one value");
    Ok(())
}

/// The bias gradient `[V]` the softmax's column sums are added to.
pub(super) fn check_bias_grad(bias_grad: usize, v: usize) -> Result<()> {
    ensure!(bias_grad == v, "a bias gradient of {bias_grad} for {v} classes");
    Ok(())
}

/// A dropout probability in [0, 1) and a tiling that fits a mask of `mask` values
/// (`ids_len`: how many ids a [`Tiling::ByWord`] holds).
pub(super) fn check_dropout<I>(
    p: f32,
    tiling: &Tiling<'_, I>,
    mask: usize,
    ids_len: impl Fn(&I) -> usize,
) -> Result<()> {
    ensure!((0.0..1.0).contains(&p), "dropout probability {p} outside [0, 1)");
    match tiling {
        Tiling::Each => Ok(()),
        Tiling::Repeat(period) => {
            ensure!(*period > 0, "a repeating dropout mask needs a positive period");
            Ok(())
        }
        Tiling::ByWord { ids, width } => check_rows("word dropout", ids_len(ids), mask, *width),
    }
}

/// `len` values from `src_at` of a `src`-long buffer to `dst_at` of a `dst`-long one.
pub(super) fn check_copy(dst: usize, dst_at: usize, src: usize, src_at: usize, len: usize) -> Result<()> {
    ensure!(
        dst_at + len <= dst && src_at + len <= src,
        "copy of {len} values out of range"
    );
    Ok(())
}

/// AdamW's weight, gradient and two moments hold as many values.
pub(super) fn check_adam(w: usize, g: usize, m: usize, v: usize) -> Result<()> {
    ensure!(
        g == w && m == w && v == w,
        "adamw: weight, gradient and moments of {w}, {g}, {m} and {v} values"
    );
    Ok(())
}

/// Max pooling's operands: `out` and `argmax` `[B, H]`, `x` a whole number of steps `[T·B, H]`.
pub(super) fn check_max_over_steps(out: usize, argmax: usize, x: usize, batch: usize, hidden: usize) -> Result<()> {
    ensure!(
        batch > 0 && hidden > 0 && out == batch * hidden && argmax == out && x.is_multiple_of(out) && x > 0,
        "max over steps: {x} values into {out} (argmax {argmax}) for {batch} sequences of width {hidden}"
    );
    Ok(())
}

/// 2×2 max pooling's operands: `x` `[n·h·w, C]`, `out` and `argmax` `[n·(h/2)·(w/2), C]`.
pub(super) fn check_max_pool(
    out: usize,
    argmax: usize,
    x: usize,
    (n, h, w): (usize, usize, usize),
    c: usize,
) -> Result<()> {
    let pooled = n * (h / 2) * (w / 2) * c;
    ensure!(
        pooled > 0 && x == n * h * w * c && out == pooled && argmax == pooled,
        "2×2 max pooling: {x} values into {out} (argmax {argmax}) for {n} images of {h}×{w}×{c}"
    );
    ensure!(
        x <= u32::MAX as usize,
        "2×2 max pooling: {x} values are more than u32 indices reach"
    );
    Ok(())
}

/// Batch normalisation's operands: `x`, `out` (or dx, dy) `[R, C]` with `R ≥ 1`, the per-column
/// vectors `[C]`, `saved` `[2C]`.
pub(super) fn check_batch_norm(x: usize, out: usize, columns: &[usize], saved: usize) -> Result<()> {
    let c = columns[0];
    ensure!(
        c > 0 && columns.iter().all(|&n| n == c) && saved == 2 * c,
        "batch norm: per-column operands of {columns:?} values and saved statistics of {saved}"
    );
    ensure!(
        x == out && x.is_multiple_of(c) && x > 0,
        "batch norm: {x} inputs and {out} outputs for {c} columns"
    );
    Ok(())
}

/// The backward's operands: those of [`check_batch_norm`] (with `dx` as the output), `dy` and,
/// when given, the ReLU output folded in, each the input's size.
pub(super) fn check_batch_norm_backward(
    x: usize,
    dx: usize,
    dy: usize,
    columns: &[usize],
    saved: usize,
    relu_out: Option<usize>,
) -> Result<()> {
    check_batch_norm(x, dx, columns, saved)?;
    check_same("batch norm backward", dy, x)?;
    if let Some(y) = relu_out {
        check_same("batch norm backward through its ReLU", y, x)?;
    }
    Ok(())
}

/// `y` `[rows, out]` from rows `first .. first + rows` of `x` `[R, in]`.
pub(super) fn check_affine(y: usize, x: usize, first: usize, rows: usize, inputs: usize, outputs: usize) -> Result<()> {
    ensure!(
        inputs > 0 && x.is_multiple_of(inputs) && first + rows <= x / inputs,
        "affine: rows {first}..{} of {x} values of width {inputs}",
        first + rows
    );
    ensure!(
        y == rows * outputs,
        "affine: {y} values for {rows} rows of {outputs} outputs"
    );
    Ok(())
}

/// Rows `first .. first + rows` of `x` of width `gamma` (= `beta`).
pub(super) fn check_layer_norm(x: usize, first: usize, rows: usize, gamma: usize, beta: usize) -> Result<()> {
    ensure!(
        gamma == beta && gamma > 0,
        "layer norm: γ of {gamma} values and β of {beta}"
    );
    ensure!(
        x.is_multiple_of(gamma) && first + rows <= x / gamma,
        "layer norm: rows {first}..{} of {x} values of width {gamma}",
        first + rows
    );
    Ok(())
}

/// The attention core's blocks: `hidden` and `context` `[B·(W + N), H]`, `masks` `[B, W + N]`.
pub(super) fn check_attend(context: usize, hidden: usize, masks: usize, h: usize, shape: AttentionShape) -> Result<()> {
    let rows = shape.rows();
    ensure!(
        hidden == rows * h && context == hidden,
        "attention: {hidden} hidden and {context} context values for {rows} rows of {h}"
    );
    ensure!(
        masks == rows,
        "attention: {masks} mask values for {} sequences of {} keys",
        shape.batch,
        shape.words + shape.entities
    );
    Ok(())
}
