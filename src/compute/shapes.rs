//! The size checks every backend makes before an operation, so a wrong shape is an error
//! naming the operation (never a panic in sgemm or an out-of-bounds kernel), worded the same on
//! every device.

use super::LstmShape;
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
