//! The operation suite: every [`Backend`] operation on seeded random inputs against a plain
//! reference loop in `f64`. The CPU backend runs it in the tests; a GPU backend runs it in
//! `tsumugi device --check`, where it is the first thing to trust before any `--device cuda`
//! path. Tolerances are relative to the largest reference value: products and sums may group
//! their additions differently on each device.

mod transformer;

use super::{
    mask, max_pool_batch_norm_backward_apart, AdamStep, Backend, ConvImages, Layout, LstmShape, PatchShape, SgdStep,
    Tiling,
};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// One operation's result against its reference.
#[derive(Debug, Clone, Serialize)]
pub struct OpCheck {
    pub op: String,
    /// Largest |backend − reference| over the outputs.
    pub max_abs_difference: f64,
    /// Largest |reference| (what the difference is measured against).
    pub scale: f64,
    pub tolerance: f64,
    pub ok: bool,
}

/// Relative tolerance of every check: fp32 with sums of up to a few thousand terms.
const TOLERANCE: f64 = 2e-5;

impl OpCheck {
    /// `got` against `want`, within `relative` of the largest |want| (taken as at least
    /// `floor`); a length mismatch or a NaN fails.
    pub fn within(op: &str, got: &[f32], want: &[f64], relative: f64, floor: f64) -> Self {
        let scale = want.iter().fold(1e-30f64, |m, w| m.max(w.abs()));
        let max_abs_difference = if got.len() == want.len() {
            got.iter()
                .zip(want)
                .map(|(g, w)| (*g as f64 - w).abs())
                .fold(0.0, |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) })
        } else {
            f64::INFINITY
        };
        let tolerance = relative * scale.max(floor);
        OpCheck {
            op: op.to_string(),
            max_abs_difference,
            scale,
            tolerance,
            ok: max_abs_difference <= tolerance,
        }
    }
}

fn compare(op: &str, got: &[f32], want: &[f64]) -> OpCheck {
    OpCheck::within(op, got, want, TOLERANCE, 1.0)
}

fn random(rng: &mut ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
}

/// `a` as an `[m, k]` matrix whatever its layout, in f64.
fn at(a: &[f32], l: Layout, rows: usize, cols: usize, r: usize, c: usize) -> f64 {
    (match l {
        Layout::Plain => a[r * cols + c],
        Layout::Transposed => a[c * rows + r],
    }) as f64
}

fn reference_gemm(a: &[f32], la: Layout, b: &[f32], lb: Layout, m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| at(a, la, m, k, i, p) * at(b, lb, k, n, p, j)).sum();
        }
    }
    c
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Runs every operation on `be`, returning one check per operation (and layout pair).
pub fn run<B: Backend>(be: &B) -> Result<Vec<OpCheck>> {
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let mut checks = Vec::new();

    // products: every layout pair, odd sizes, accumulating onto a start and onto a bias row
    let (m, k, n) = (37, 53, 29);
    for la in [Layout::Plain, Layout::Transposed] {
        for lb in [Layout::Plain, Layout::Transposed] {
            let (a, b, c0) = (
                random(&mut rng, m * k, 1.0),
                random(&mut rng, k * n, 1.0),
                random(&mut rng, m * n, 1.0),
            );
            let mut want = reference_gemm(&a, la, &b, lb, m, k, n);
            want.iter_mut().zip(&c0).for_each(|(w, c)| *w += *c as f64);
            let mut c = be.upload(&c0)?;
            be.gemm(&mut c, &be.upload(&a)?, la, &be.upload(&b)?, lb, m, k, n, true)?;
            checks.push(compare(
                &format!("gemm {la:?}·{lb:?} accumulate"),
                &be.download(&c)?,
                &want,
            ));
        }
    }
    {
        let (a, b, row) = (
            random(&mut rng, m * k, 1.0),
            random(&mut rng, n * k, 1.0),
            random(&mut rng, n, 1.0),
        );
        let mut want = reference_gemm(&a, Layout::Plain, &b, Layout::Transposed, m, k, n);
        want.iter_mut().enumerate().for_each(|(i, w)| *w += row[i % n] as f64);
        let mut c = be.zeros(m * n)?;
        let (ab, bb, rb) = (be.upload(&a)?, be.upload(&b)?, be.upload(&row)?);
        be.gemm_onto_row(&mut c, &rb, &ab, Layout::Plain, &bb, Layout::Transposed, m, k, n)?;
        checks.push(compare("gemm onto a bias row", &be.download(&c)?, &want));
    }

    // elementwise and reductions
    let len = 5000;
    let (x, y) = (random(&mut rng, len, 2.0), random(&mut rng, len, 2.0));
    let mut yb = be.upload(&y)?;
    be.add(&mut yb, &be.upload(&x)?)?;
    let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| (*a + *b) as f64).collect();
    checks.push(compare("add", &be.download(&yb)?, &want));
    let mut yb = be.upload(&y)?;
    be.mul(&mut yb, &be.upload(&x)?)?;
    let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).collect();
    checks.push(compare("mul", &be.download(&yb)?, &want));
    let cols = 125;
    let start = random(&mut rng, cols, 1.0);
    let mut sums = be.upload(&start)?;
    be.column_sums(&mut sums, &be.upload(&x)?, cols, true)?;
    let mut want: Vec<f64> = start.iter().map(|v| *v as f64).collect();
    for row in x.chunks_exact(cols) {
        want.iter_mut().zip(row).for_each(|(w, v)| *w += *v as f64);
    }
    checks.push(compare("column sums", &be.download(&sums)?, &want));
    let mut acc = be.upload(&[0.5])?;
    be.sum_of_squares(&mut acc, &be.upload(&x)?)?;
    let want = 0.5 + x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
    checks.push(compare("sum of squares", &be.download(&acc)?, &[want]));

    // embeddings: repeated ids, so scatter-add must add, not overwrite
    let (rows, width, words) = (40, 33, 11);
    let table = random(&mut rng, words * width, 1.0);
    let ids: Vec<u32> = (0..rows).map(|_| rng.gen_range(0..words as u32)).collect();
    let idb = be.upload_ids(&ids)?;
    let mut out = be.zeros(rows * width)?;
    be.gather_rows(&mut out, &be.upload(&table)?, &idb, width)?;
    let want: Vec<f64> = ids
        .iter()
        .flat_map(|&i| {
            table[i as usize * width..(i as usize + 1) * width]
                .iter()
                .map(|v| *v as f64)
        })
        .collect();
    checks.push(compare("gather rows", &be.download(&out)?, &want));
    let src = random(&mut rng, rows * width, 1.0);
    let mut tb = be.upload(&table)?;
    be.scatter_add_rows(&mut tb, &be.upload(&src)?, &idb, width)?;
    let mut want: Vec<f64> = table.iter().map(|v| *v as f64).collect();
    for (row, &i) in src.chunks_exact(width).zip(&ids) {
        want[i as usize * width..(i as usize + 1) * width]
            .iter_mut()
            .zip(row)
            .for_each(|(w, v)| *w += *v as f64);
    }
    let got = be.download(&tb)?;
    checks.push(compare("scatter-add rows", &got, &want));
    // repeated ids add in row order, as one f32 sum after another: the same bits on every
    // device and every run
    let mut in_order = table.clone();
    for (row, &i) in src.chunks_exact(width).zip(&ids) {
        in_order[i as usize * width..(i as usize + 1) * width]
            .iter_mut()
            .zip(row)
            .for_each(|(w, v)| *w += v);
    }
    let in_order: Vec<f64> = in_order.iter().map(|v| *v as f64).collect();
    checks.push(OpCheck::within(
        "scatter-add rows: the bits of row order",
        &got,
        &in_order,
        0.0,
        1.0,
    ));

    // max pooling over padded steps, and its argmax
    let (steps, batch, hidden) = (6, 4, 9);
    let x = random(&mut rng, steps * batch * hidden, 1.0);
    let lengths: Vec<u32> = vec![6, 1, 3, 5];
    let (mut out, mut arg) = (be.zeros(batch * hidden)?, be.ids_for_output(batch * hidden)?);
    be.max_over_steps(&mut out, &mut arg, &be.upload(&x)?, &be.upload_ids(&lengths)?, hidden)?;
    let mut want = Vec::new();
    let mut want_arg = Vec::new();
    for (b, &len) in lengths.iter().enumerate() {
        for j in 0..hidden {
            let at = (0..len as usize)
                .map(|t| (t * batch + b) * hidden + j)
                .fold(b * hidden + j, |m, a| if x[a] > x[m] { a } else { m });
            want.push(x[at] as f64);
            want_arg.push(at as f64);
        }
    }
    checks.push(compare("max over steps", &be.download(&out)?, &want));
    // the argmax as a pooled gradient's destination: scatter ones at width 1
    let mut hits = be.zeros(x.len())?;
    be.scatter_add_rows(&mut hits, &be.upload(&vec![1.0; batch * hidden])?, &arg, 1)?;
    let mut want_hits = vec![0f64; x.len()];
    for a in &want_arg {
        want_hits[*a as usize] += 1.0;
    }
    checks.push(compare("max over steps: argmax", &be.download(&hits)?, &want_hits));

    // ReLU and its backward
    let (x, y) = (random(&mut rng, len, 2.0), random(&mut rng, len, 2.0));
    let mut yb = be.upload(&y)?;
    be.relu(&mut yb)?;
    let relu_out = be.download(&yb)?;
    let want: Vec<f64> = y.iter().map(|v| v.max(0.0) as f64).collect();
    checks.push(compare("relu", &relu_out, &want));
    let mut db = be.upload(&x)?;
    be.relu_backward(&mut db, &yb)?;
    let want: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(d, v)| if *v > 0.0 { *d as f64 } else { 0.0 })
        .collect();
    checks.push(compare("relu backward", &be.download(&db)?, &want));

    // 37 columns: more than one block of 32 on a GPU; 4,099 rows: the GPU's column reductions
    // in 64 chunks of 65 rows and a last one of four
    checks.extend(batch_norm_checks(be, &mut rng, (200, 37), "")?);
    checks.extend(batch_norm_checks(be, &mut rng, (4099, 5), " (4099 rows)")?);

    // dropout: the mask of mask.rs, value for value, for each tiling
    let (p, key) = (0.3f32, mask::key(5, 17, 2));
    let want = |draw: &dyn Fn(usize) -> u64| -> Vec<f64> {
        (0..len)
            .map(|i| {
                if mask::keep(key, draw(i), p) {
                    1.0 / (1.0 - p as f64)
                } else {
                    0.0
                }
            })
            .collect()
    };
    let mut mb = be.zeros(len)?;
    be.dropout_mask(&mut mb, p, key, Tiling::Each)?;
    checks.push(compare("dropout mask", &be.download(&mb)?, &want(&|i| i as u64)));
    be.dropout_mask(&mut mb, p, key, Tiling::Repeat(120))?;
    checks.push(compare(
        "dropout mask, locked",
        &be.download(&mb)?,
        &want(&|i| (i % 120) as u64),
    ));
    let words: Vec<u32> = (0..len / 50).map(|_| rng.gen_range(0..30)).collect();
    let wb = be.upload_ids(&words)?;
    be.dropout_mask(&mut mb, p, key, Tiling::ByWord { ids: &wb, width: 50 })?;
    checks.push(compare(
        "dropout mask, by word",
        &be.download(&mb)?,
        &want(&|i| words[i / 50] as u64),
    ));

    // the vocabulary softmax, its loss and gradient with the bias's column sums
    let (rows, v) = (13, 1000);
    let logits = random(&mut rng, rows * v, 4.0);
    let targets: Vec<u32> = (0..rows).map(|_| rng.gen_range(0..v as u32)).collect();
    let tb = be.upload_ids(&targets)?;
    let mut want_loss = 0f64;
    let mut want_grad = vec![0f64; rows * v];
    for (r, row) in logits.chunks_exact(v).enumerate() {
        let max = row.iter().fold(f32::MIN, |a, b| a.max(*b)) as f64;
        let sum: f64 = row.iter().map(|x| (*x as f64 - max).exp()).sum();
        let y = targets[r] as usize;
        want_loss += (max + sum.ln() - row[y] as f64) / rows as f64;
        for (j, x) in row.iter().enumerate() {
            want_grad[r * v + j] = ((*x as f64 - max).exp() / sum - (j == y) as u8 as f64) / rows as f64;
        }
    }
    let mut loss = be.zero_loss()?;
    be.softmax_xent(&mut loss, &be.upload(&logits)?, &tb, v)?;
    checks.push(compare(
        "softmax cross-entropy",
        &[be.read_loss_f32(&loss)?],
        &[want_loss],
    ));
    let (mut loss, mut lb, mut bias) = (be.zero_loss()?, be.upload(&logits)?, be.zeros(v)?);
    be.softmax_xent_grad(&mut loss, &mut lb, &tb, v, &mut bias)?;
    checks.push(compare(
        "softmax cross-entropy (training)",
        &[be.read_loss_f32(&loss)?],
        &[want_loss],
    ));
    checks.push(compare("softmax gradient", &be.download(&lb)?, &want_grad));
    let mut want_bias = vec![0f64; v];
    for row in want_grad.chunks_exact(v) {
        want_bias.iter_mut().zip(row).for_each(|(b, g)| *b += g);
    }
    checks.push(compare("softmax bias gradient", &be.download(&bias)?, &want_bias));

    // the LSTM recurrence, forward and backward, against a step-by-step loop in f64
    let shape = LstmShape {
        steps: 5,
        batch: 7,
        hidden: 19,
    };
    checks.extend(lstm(be, shape, &mut rng)?);

    // SGD with clipping read from the device's sum of squares
    let (w, g) = (random(&mut rng, len, 1.0), random(&mut rng, len, 1.0));
    let sum_sq = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
    let scale = (0.25 / (sum_sq.sqrt() + 1e-6)).min(1.0);
    let (mut wb, mut gb, sb) = (be.upload(&w)?, be.upload(&g)?, be.upload(&[sum_sq as f32])?);
    be.sgd(&mut wb, &mut gb, 2.0, Some((&sb, 0.25)))?;
    let want: Vec<f64> = w
        .iter()
        .zip(&g)
        .map(|(w, g)| *w as f64 - 2.0 * scale * *g as f64)
        .collect();
    checks.push(compare("sgd with clipping", &be.download(&wb)?, &want));
    checks.push(compare("sgd zeroes the gradient", &be.download(&gb)?, &vec![0.0; len]));

    // torch.optim.SGD: weight decay and a clipping factor, then Nesterov momentum over two
    // steps (the first sets the buffer), against torch's update in f64
    let f = |x: f32| x as f64;
    let (w, g, g2) = (
        random(&mut rng, len, 1.0),
        random(&mut rng, len, 1.0),
        random(&mut rng, len, 1.0),
    );
    let plain = SgdStep {
        lr: 0.5,
        momentum: 0.0,
        nesterov: false,
        weight_decay: 0.1,
        grad_scale: 0.75,
    };
    let (mut wb, mut gb) = (be.upload(&w)?, be.upload(&g)?);
    be.torch_sgd(&mut wb, &mut gb, None, plain)?;
    let want: Vec<f64> = (0..len)
        .map(|i| f(w[i]) - 0.5 * (f(g[i]) * 0.75 + 0.1 * f(w[i])))
        .collect();
    checks.push(compare("torch sgd with weight decay", &be.download(&wb)?, &want));
    checks.push(compare(
        "torch sgd zeroes the gradient",
        &be.download(&gb)?,
        &vec![0.0; len],
    ));
    let nesterov = SgdStep {
        momentum: 0.9,
        nesterov: true,
        ..plain
    };
    let (mut wb, mut gb, mut bb) = (be.upload(&w)?, be.upload(&g)?, be.zeros(len)?);
    be.torch_sgd(&mut wb, &mut gb, Some((&mut bb, true)), nesterov)?;
    let mut gb = be.upload(&g2)?;
    be.torch_sgd(&mut wb, &mut gb, Some((&mut bb, false)), nesterov)?;
    let (mut want_w, mut want_b) = (Vec::new(), Vec::new());
    for i in 0..len {
        let mut wi = f(w[i]);
        let d1 = f(g[i]) * 0.75 + 0.1 * wi;
        wi -= 0.5 * (d1 + 0.9 * d1);
        let d2 = f(g2[i]) * 0.75 + 0.1 * wi;
        let b2 = 0.9 * d1 + d2;
        want_w.push(wi - 0.5 * (d2 + 0.9 * b2));
        want_b.push(b2);
    }
    checks.push(compare("torch sgd, Nesterov momentum", &be.download(&wb)?, &want_w));
    checks.push(compare("torch sgd momentum buffer", &be.download(&bb)?, &want_b));

    // AdamW at step 3 from nonzero moments, against torch's update in f64
    let (w, g) = (random(&mut rng, len, 1.0), random(&mut rng, len, 1.0));
    let (m, v) = (random(&mut rng, len, 0.1), random(&mut rng, len, 0.1));
    let v: Vec<f32> = v.iter().map(|x| x * x).collect();
    let s = AdamStep::new(0.01, 0.9, 0.999, 1e-8, 0.1, 3);
    let (mut wb, mut gb) = (be.upload(&w)?, be.upload(&g)?);
    let (mut mb, mut vb) = (be.upload(&m)?, be.upload(&v)?);
    be.adamw(&mut wb, &mut gb, &mut mb, &mut vb, s)?;
    let mut want_m = Vec::new();
    let mut want_v = Vec::new();
    let want: Vec<f64> = (0..len)
        .map(|i| {
            let mi = 0.9 * f(m[i]) + 0.1 * f(g[i]);
            let vi = 0.999 * f(v[i]) + 0.001 * f(g[i]).powi(2);
            want_m.push(mi);
            want_v.push(vi);
            let (bc1, bc2) = (1.0 - 0.9f64.powi(3), 1.0 - 0.999f64.powi(3));
            f(w[i]) * (1.0 - 0.001) - 0.01 * (mi / bc1) / ((vi / bc2).sqrt() + 1e-8)
        })
        .collect();
    checks.push(compare("adamw", &be.download(&wb)?, &want));
    checks.push(compare("adamw first moment", &be.download(&mb)?, &want_m));
    checks.push(compare("adamw second moment", &be.download(&vb)?, &want_v));
    checks.push(compare(
        "adamw zeroes the gradient",
        &be.download(&gb)?,
        &vec![0.0; len],
    ));

    // copies at offsets
    let mut dst = be.upload(&y)?;
    be.copy(&mut dst, 100, &be.upload(&x)?, 7, 50)?;
    let mut want: Vec<f64> = y.iter().map(|v| *v as f64).collect();
    want[100..150]
        .iter_mut()
        .zip(&x[7..57])
        .for_each(|(w, v)| *w = *v as f64);
    checks.push(compare("copy at offsets", &be.download(&dst)?, &want));
    checks.extend(patch_checks(be, &mut ChaCha8Rng::seed_from_u64(21))?);
    checks.extend(conv_checks(be, &mut ChaCha8Rng::seed_from_u64(25))?);
    checks.extend(max_pool_checks(be, &mut ChaCha8Rng::seed_from_u64(22))?);
    checks.extend(pooled_batch_norm_checks(be, &mut ChaCha8Rng::seed_from_u64(24))?);
    checks.extend(transformer::transformer_checks(be, &mut ChaCha8Rng::seed_from_u64(23))?);
    Ok(checks)
}

/// 2×2 max pooling of odd-sized images (the last row and column dropped), with ties: the
/// pooled values, the argmax as the pooled gradient's destination (ones scattered at width 1
/// land on the first maximum of each window), and the backward, which must give the bits of
/// that scatter into zeros (a −0 gradient arriving as +0 among them).
fn max_pool_checks<B: Backend>(be: &B, rng: &mut ChaCha8Rng) -> Result<Vec<OpCheck>> {
    let (n, h, w, c) = (3, 7, 9, 5);
    // values on a coarse grid, so windows hold ties
    let x: Vec<f32> = (0..n * h * w * c).map(|_| rng.gen_range(-4..4) as f32).collect();
    let pooled = n * (h / 2) * (w / 2) * c;
    let (mut out, mut argmax) = (be.zeros(pooled)?, be.ids_for_output(pooled)?);
    be.max_pool2x2(&mut out, &mut argmax, &be.upload(&x)?, (n, h, w), c)?;
    let (mut want, mut want_at) = (Vec::new(), Vec::new());
    let mut want_hits = vec![0f64; x.len()];
    for image in 0..n {
        for py in 0..h / 2 {
            for px in 0..w / 2 {
                for ch in 0..c {
                    let r = (image * h + 2 * py) * w + 2 * px;
                    let at = [r, r + 1, r + w, r + w + 1].map(|p| p * c + ch);
                    let best = at.iter().copied().fold(at[0], |b, i| if x[i] > x[b] { i } else { b });
                    want.push(x[best] as f64);
                    want_at.push(best);
                    want_hits[best] += 1.0;
                }
            }
        }
    }
    let hits = maxima(be, &argmax, (pooled, x.len()))?;
    let mut dy = random(rng, pooled, 1.0);
    dy[0] = -0.0;
    let mut dx = be.upload(&vec![f32::NAN; x.len()])?; // every value must be written
    be.max_pool2x2_backward(&mut dx, &be.upload(&dy)?, &argmax, (n, h, w), c)?;
    let mut scattered = vec![0f32; x.len()];
    for (d, &at) in dy.iter().zip(&want_at) {
        scattered[at] += d;
    }
    Ok(vec![
        OpCheck::within("max pool 2×2", &be.download(&out)?, &want, 0.0, 1.0),
        OpCheck::within("max pool 2×2: argmax", &hits, &want_hits, 0.0, 1.0),
        same_bits(
            "max pool 2×2 backward: a scatter's bits",
            &be.download(&dx)?,
            &scattered,
        ),
    ])
}

/// The three products with a convolution's patches, over more patch rows than the CPU's
/// block (so its blocks and their seams are covered), ids repeating as a convolution's do.
fn patch_checks<B: Backend>(be: &B, rng: &mut ChaCha8Rng) -> Result<Vec<OpCheck>> {
    let (table_rows, rows) = (700, 1100);
    let s = PatchShape {
        segments: 9,
        width: 8,
        outputs: 12,
        images: None,
    };
    let ids: Vec<u32> = (0..rows * s.segments)
        .map(|_| rng.gen_range(0..table_rows as u32))
        .collect();
    patch_products(be, rng, s, table_rows, &ids, "patch gemm")
}

/// The same three products on the windows of a 3×3 convolution over 3 images of 9×12, as
/// `images` names them (the CPU computes these by Winograd's F(2×2, 3×3), from the images).
fn conv_checks<B: Backend>(be: &B, rng: &mut ChaCha8Rng) -> Result<Vec<OpCheck>> {
    let images = ConvImages {
        n: 3,
        h: 9,
        w: 12,
        kernel: 3,
    };
    let s = PatchShape {
        segments: 9,
        width: 16,
        outputs: 24,
        images: Some(images),
    };
    let mut ids = Vec::new();
    for n in 0..images.n {
        for y in 0..images.h - 2 {
            for x in 0..images.w - 2 {
                for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
                    ids.push(((n * images.h + y + ky) * images.w + x + kx) as u32);
                }
            }
        }
    }
    patch_products(be, rng, s, images.n * images.h * images.w, &ids, "3×3 convolution")
}

/// The forward, weight-gradient and input-gradient products of patches `ids` over a random
/// table of `table_rows` rows, each against f64 sums.
fn patch_products<B: Backend>(
    be: &B,
    rng: &mut ChaCha8Rng,
    s: PatchShape,
    table_rows: usize,
    ids: &[u32],
    what: &str,
) -> Result<Vec<OpCheck>> {
    let rows = ids.len() / s.segments;
    let (k, n, w) = (s.cols(), s.outputs, s.width);
    let table = random(rng, table_rows * w, 1.0);
    let patch = |p: usize, t: usize| table[ids[p * s.segments + t / w] as usize * w + t % w] as f64;
    let (weight, row, dy) = (random(rng, n * k, 1.0), random(rng, n, 1.0), random(rng, rows * n, 1.0));
    let (tb, ib, wb, rb, dyb) = (
        be.upload(&table)?,
        be.upload_ids(ids)?,
        be.upload(&weight)?,
        be.upload(&row)?,
        be.upload(&dy)?,
    );
    let mut checks = Vec::new();

    let mut out = be.zeros(rows * n)?;
    be.patch_gemm(&mut out, &rb, &tb, &ib, &wb, s)?;
    let want: Vec<f64> = (0..rows * n)
        .map(|x| {
            let (p, j) = (x / n, x % n);
            row[j] as f64 + (0..k).map(|t| patch(p, t) * weight[j * k + t] as f64).sum::<f64>()
        })
        .collect();
    checks.push(compare(what, &be.download(&out)?, &want));

    let mut d_weight = be.upload(&vec![7.0; n * k])?;
    be.patch_gemm_weight_grad(&mut d_weight, &dyb, &tb, &ib, s)?;
    let want: Vec<f64> = (0..n * k)
        .map(|x| {
            let (j, t) = (x / k, x % k);
            (0..rows).map(|p| dy[p * n + j] as f64 * patch(p, t)).sum()
        })
        .collect();
    checks.push(compare(
        &format!("{what} weight gradient"),
        &be.download(&d_weight)?,
        &want,
    ));
    let want_weight = want;

    let start = random(rng, table_rows * w, 1.0);
    let mut dx = be.upload(&start)?;
    be.patch_gemm_input_grad(&mut dx, &dyb, &wb, &ib, s)?;
    let mut want: Vec<f64> = start.iter().map(|v| *v as f64).collect();
    for p in 0..rows {
        for t in 0..k {
            let v: f64 = (0..n).map(|j| dy[p * n + j] as f64 * weight[j * k + t] as f64).sum();
            want[ids[p * s.segments + t / w] as usize * w + t % w] += v;
        }
    }
    checks.push(compare(&format!("{what} input gradient"), &be.download(&dx)?, &want));

    // all three in one call, as a layer's backward asks for them: the bias's added to, the
    // input's from zeros
    let bias_start = random(rng, n, 1.0);
    let (mut d_bias, mut d_weight) = (be.upload(&bias_start)?, be.upload(&vec![7.0; n * k])?);
    let dx = be.patch_gemm_grads(&mut d_bias, &mut d_weight, &dyb, &tb, &wb, &ib, s)?;
    let want_bias: Vec<f64> = (0..n)
        .map(|j| bias_start[j] as f64 + (0..rows).map(|p| dy[p * n + j] as f64).sum::<f64>())
        .collect();
    let want_dx: Vec<f64> = want.iter().zip(&start).map(|(w, s)| w - *s as f64).collect();
    checks.push(compare(
        &format!("{what} gradients: the bias's"),
        &be.download(&d_bias)?,
        &want_bias,
    ));
    checks.push(compare(
        &format!("{what} gradients: the weight's"),
        &be.download(&d_weight)?,
        &want_weight,
    ));
    checks.push(compare(
        &format!("{what} gradients: the input's"),
        &be.download(&dx)?,
        &want_dx,
    ));
    Ok(checks)
}

fn lstm<B: Backend>(be: &B, shape: LstmShape, rng: &mut ChaCha8Rng) -> Result<Vec<OpCheck>> {
    let LstmShape { steps, batch, hidden } = shape;
    let (rows, h4) = (steps * batch, 4 * hidden);
    let pre = random(rng, rows * h4, 1.5);
    let w_hh = random(rng, h4 * hidden, 0.4);
    let (h0, c0) = (random(rng, batch * hidden, 0.5), random(rng, batch * hidden, 0.5));
    let d_out = random(rng, rows * hidden, 1.0);

    // reference forward
    let (mut acts, mut outs, mut cells) = (
        vec![0f64; rows * h4],
        vec![0f64; rows * hidden],
        vec![0f64; rows * hidden],
    );
    for t in 0..steps {
        for b in 0..batch {
            let r = t * batch + b;
            let (h_prev, c_prev): (Vec<f64>, Vec<f64>) = if t == 0 {
                (
                    h0[b * hidden..(b + 1) * hidden].iter().map(|v| *v as f64).collect(),
                    c0[b * hidden..(b + 1) * hidden].iter().map(|v| *v as f64).collect(),
                )
            } else {
                let p = (t - 1) * batch + b;
                (
                    outs[p * hidden..(p + 1) * hidden].to_vec(),
                    cells[p * hidden..(p + 1) * hidden].to_vec(),
                )
            };
            let z: Vec<f64> = (0..h4)
                .map(|j| {
                    pre[r * h4 + j] as f64
                        + (0..hidden)
                            .map(|q| h_prev[q] * w_hh[j * hidden + q] as f64)
                            .sum::<f64>()
                })
                .collect();
            for j in 0..hidden {
                let (i, f, g, o) = (
                    sigmoid(z[j]),
                    sigmoid(z[hidden + j]),
                    z[2 * hidden + j].tanh(),
                    sigmoid(z[3 * hidden + j]),
                );
                let c = f * c_prev[j] + i * g;
                cells[r * hidden + j] = c;
                outs[r * hidden + j] = o * c.tanh();
                for (q, a) in [i, f, g, o].into_iter().enumerate() {
                    acts[r * h4 + q * hidden + j] = a;
                }
            }
        }
    }
    // reference backward
    let mut d_gates = vec![0f64; rows * h4];
    let (mut dh_next, mut dc_next) = (vec![0f64; batch * hidden], vec![0f64; batch * hidden]);
    for t in (0..steps).rev() {
        for b in 0..batch {
            let r = t * batch + b;
            for j in 0..hidden {
                let a = |q: usize| acts[r * h4 + q * hidden + j];
                let (i, f, g, o) = (a(0), a(1), a(2), a(3));
                let c_prev = if t == 0 {
                    c0[b * hidden + j] as f64
                } else {
                    cells[((t - 1) * batch + b) * hidden + j]
                };
                let tc = cells[r * hidden + j].tanh();
                let dh = d_out[r * hidden + j] as f64 + dh_next[b * hidden + j];
                let dc = dh * o * (1.0 - tc * tc) + dc_next[b * hidden + j];
                d_gates[r * h4 + j] = dc * g * i * (1.0 - i);
                d_gates[r * h4 + hidden + j] = dc * c_prev * f * (1.0 - f);
                d_gates[r * h4 + 2 * hidden + j] = dc * i * (1.0 - g * g);
                d_gates[r * h4 + 3 * hidden + j] = dh * tc * o * (1.0 - o);
                dc_next[b * hidden + j] = dc * f;
            }
        }
        for b in 0..batch {
            for q in 0..hidden {
                dh_next[b * hidden + q] = (0..h4)
                    .map(|j| d_gates[(t * batch + b) * h4 + j] * w_hh[j * hidden + q] as f64)
                    .sum();
            }
        }
    }

    let wb = be.upload(&w_hh)?;
    let (h0b, c0b) = (be.upload(&h0)?, be.upload(&c0)?);
    let mut gates = be.upload(&pre)?;
    let (mut out, mut cb) = (be.zeros(rows * hidden)?, be.zeros(rows * hidden)?);
    be.lstm_forward(shape, &wb, &mut gates, &mut out, &mut cb, &h0b, &c0b)?;
    let mut dg = be.zeros(rows * h4)?;
    be.lstm_backward(shape, &wb, &gates, &cb, &c0b, &be.upload(&d_out)?, &mut dg)?;
    Ok(vec![
        compare("lstm forward: outputs", &be.download(&out)?, &outs),
        compare("lstm forward: cells", &be.download(&cb)?, &cells),
        compare("lstm forward: gate activations", &be.download(&gates)?, &acts),
        compare("lstm backward: d gates", &be.download(&dg)?, &d_gates),
    ])
}

/// Batch normalisation in training (output, running stats, backward) and evaluation, against
/// f64 loops, at `rows × cols`; `tag` follows "batch norm" in the checks' names.
/// Batch norm → ReLU → 2×2 max pooling over odd-sized images large enough for the CPU's
/// threaded passes: [`Backend::batch_norm_relu_max_pool`] against `batch_norm` and then
/// `max_pool2x2`, and [`Backend::max_pool_batch_norm_backward`] against the pooling's backward
/// and then `batch_norm_backward`, on the same backend, to the bit.
fn pooled_batch_norm_checks<B: Backend>(be: &B, rng: &mut ChaCha8Rng) -> Result<Vec<OpCheck>> {
    let (n, h, w, c) = (8, 33, 31, 16);
    let (len, pooled_len) = (n * h * w * c, n * (h / 2) * (w / 2) * c);
    let (xb, gb, bb) = (
        be.upload(&random(rng, len, 2.0))?,
        be.upload(&random(rng, c, 1.5))?,
        be.upload(&random(rng, c, 1.0))?,
    );
    let (mut rm, mut rv) = (be.upload(&vec![0.0; c])?, be.upload(&vec![1.0; c])?);
    let (mut relu_out, mut saved) = (be.zeros(len)?, be.zeros(2 * c)?);
    be.batch_norm(
        &mut relu_out,
        &xb,
        &gb,
        &bb,
        (&mut rm, &mut rv),
        &mut saved,
        1e-5,
        Some(0.1),
        true,
    )?;
    let (mut pooled, mut argmax) = (be.zeros(pooled_len)?, be.ids_for_output(pooled_len)?);
    be.max_pool2x2(&mut pooled, &mut argmax, &relu_out, (n, h, w), c)?;
    let d_pooled = be.upload(&random(rng, pooled_len, 1.0))?;
    let mut checks = Vec::new();

    // the forward in one, in training (from the same running statistics) and in evaluation
    for momentum in [Some(0.1), None] {
        let (mut rm2, mut rv2) = (be.upload(&vec![0.0; c])?, be.upload(&vec![1.0; c])?);
        let (mut apart_rm, mut apart_rv) = (be.upload(&vec![0.0; c])?, be.upload(&vec![1.0; c])?);
        let (mut fused, mut fused_at) = (be.zeros(pooled_len)?, be.ids_for_output(pooled_len)?);
        let (mut apart, mut apart_at) = (be.zeros(pooled_len)?, be.ids_for_output(pooled_len)?);
        let (mut saved2, mut apart_saved) = (be.zeros(2 * c)?, be.zeros(2 * c)?);
        be.batch_norm_relu_max_pool(
            (&mut fused, &mut fused_at),
            &xb,
            (&gb, &bb),
            (&mut rm2, &mut rv2),
            &mut saved2,
            1e-5,
            momentum,
            (n, h, w),
        )?;
        let mut y = be.zeros(len)?;
        be.batch_norm(
            &mut y,
            &xb,
            &gb,
            &bb,
            (&mut apart_rm, &mut apart_rv),
            &mut apart_saved,
            1e-5,
            momentum,
            true,
        )?;
        be.max_pool2x2(&mut apart, &mut apart_at, &y, (n, h, w), c)?;
        let mode = if momentum.is_some() { "training" } else { "evaluation" };
        for (what, fused, apart) in [
            ("pooled", be.download(&fused)?, be.download(&apart)?),
            (
                "argmax",
                maxima(be, &fused_at, (pooled_len, len))?,
                maxima(be, &apart_at, (pooled_len, len))?,
            ),
            ("running variance", be.download(&rv2)?, be.download(&apart_rv)?),
            ("saved statistics", be.download(&saved2)?, be.download(&apart_saved)?),
        ] {
            checks.push(same_bits(
                &format!("batch norm + ReLU + max pool, {mode}: {what}, the bits of the parts apart"),
                &fused,
                &apart,
            ));
        }
    }

    let mut dy = be.zeros(len)?;
    be.max_pool2x2_backward(&mut dy, &d_pooled, &argmax, (n, h, w), c)?;
    let (mut dx, mut dg, mut db) = (be.zeros(len)?, be.zeros(c)?, be.zeros(c)?);
    be.batch_norm_backward(&mut dx, &dy, &xb, &gb, &saved, &mut dg, &mut db, Some(&relu_out))?;
    let (mut fx, mut fg, mut fb) = (be.zeros(len)?, be.zeros(c)?, be.zeros(c)?);
    be.max_pool_batch_norm_backward(
        &mut fx,
        (&d_pooled, &pooled, &argmax),
        (n, h, w),
        &xb,
        &gb,
        &saved,
        &mut fg,
        &mut fb,
    )?;
    // and the default's parts, with the pooled values standing in for the ReLU's output
    let (mut sx, mut sg, mut sb) = (be.zeros(len)?, be.zeros(c)?, be.zeros(c)?);
    max_pool_batch_norm_backward_apart(
        be,
        &mut sx,
        (&d_pooled, &pooled, &argmax),
        (n, h, w),
        &xb,
        (&gb, &saved),
        (&mut sg, &mut sb),
    )?;
    let (dx, dg, db) = (be.download(&dx)?, be.download(&dg)?, be.download(&db)?);
    for (what, fused, stand_in, apart) in [("input", fx, sx, &dx), ("γ", fg, sg, &dg), ("β", fb, sb, &db)] {
        checks.push(same_bits(
            &format!("max pool + batch norm + ReLU backward: {what}, the bits of the parts apart"),
            &be.download(&fused)?,
            apart,
        ));
        checks.push(same_bits(
            &format!("max pool + batch norm + ReLU backward, the pooled values for the ReLU's output: {what}, the bits of the parts apart"),
            &be.download(&stand_in)?,
            apart,
        ));
    }
    Ok(checks)
}

/// `got` has the bits of `want` (the same values, zeros of the same sign).
fn same_bits(op: &str, got: &[f32], want: &[f32]) -> OpCheck {
    let same = got.len() == want.len() && got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits());
    let want: Vec<f64> = want.iter().map(|v| *v as f64).collect();
    let mut check = OpCheck::within(op, got, &want, 0.0, 1.0);
    check.ok &= same;
    check
}

/// Where the `pooled` maxima of a pooling sit in its input of `len` values: ones scattered
/// there by `argmax` (a value counted once per window that took it).
fn maxima<B: Backend>(be: &B, argmax: &B::Ids, (pooled, len): (usize, usize)) -> Result<Vec<f32>> {
    let mut hits = be.zeros(len)?;
    be.scatter_add_rows(&mut hits, &be.upload(&vec![1.0; pooled])?, argmax, 1)?;
    be.download(&hits)
}

fn batch_norm_checks<B: Backend>(
    be: &B,
    rng: &mut ChaCha8Rng,
    (rows, cols): (usize, usize),
    tag: &str,
) -> Result<Vec<OpCheck>> {
    let (eps, momentum) = (1e-5f64, 0.1f64);
    let name = |what: &str| format!("batch norm{tag}{what}");
    let x = random(rng, rows * cols, 2.0);
    let dy = random(rng, rows * cols, 1.0);
    let gamma = random(rng, cols, 1.5);
    let beta = random(rng, cols, 1.0);
    let running: Vec<f32> = (0..cols).map(|j| 0.5 + j as f32 / cols as f32).collect();
    let col = |j: usize| (0..rows).map(move |r| r * cols + j);
    let mut mean = vec![0f64; cols];
    let mut var = vec![0f64; cols];
    for j in 0..cols {
        mean[j] = col(j).map(|i| x[i] as f64).sum::<f64>() / rows as f64;
        var[j] = col(j).map(|i| (x[i] as f64 - mean[j]).powi(2)).sum::<f64>() / rows as f64;
    }
    let xhat = |i: usize| (x[i] as f64 - mean[i % cols]) / (var[i % cols] + eps).sqrt();
    let want_out: Vec<f64> = (0..x.len())
        .map(|i| gamma[i % cols] as f64 * xhat(i) + beta[i % cols] as f64)
        .collect();
    let want_rm: Vec<f64> = (0..cols)
        .map(|j| (1.0 - momentum) * running[j] as f64 + momentum * mean[j])
        .collect();
    let unbias = rows as f64 / (rows as f64 - 1.0);
    let want_rv: Vec<f64> = (0..cols)
        .map(|j| (1.0 - momentum) * running[j] as f64 + momentum * var[j] * unbias)
        .collect();
    let mut sum_dy = vec![0f64; cols];
    let mut sum_dy_xhat = vec![0f64; cols];
    for i in 0..x.len() {
        sum_dy[i % cols] += dy[i] as f64;
        sum_dy_xhat[i % cols] += dy[i] as f64 * xhat(i);
    }
    let n = rows as f64;
    let want_dx: Vec<f64> = (0..x.len())
        .map(|i| {
            let j = i % cols;
            gamma[j] as f64 / (var[j] + eps).sqrt() / n * (n * dy[i] as f64 - sum_dy[j] - xhat(i) * sum_dy_xhat[j])
        })
        .collect();

    let (xb, gb, bb) = (be.upload(&x)?, be.upload(&gamma)?, be.upload(&beta)?);
    let (mut rm, mut rv) = (be.upload(&running)?, be.upload(&running)?);
    let (mut out, mut saved) = (be.zeros(x.len())?, be.zeros(2 * cols)?);
    be.batch_norm(
        &mut out,
        &xb,
        &gb,
        &bb,
        (&mut rm, &mut rv),
        &mut saved,
        eps as f32,
        Some(momentum as f32),
        false,
    )?;
    let mut checks = vec![
        compare(&name(", training"), &be.download(&out)?, &want_out),
        compare(&name(": running mean"), &be.download(&rm)?, &want_rm),
        compare(&name(": running variance"), &be.download(&rv)?, &want_rv),
    ];
    let (mut dx, mut dg, mut db) = (be.zeros(x.len())?, be.zeros(cols)?, be.zeros(cols)?);
    let dyb = be.upload(&dy)?;
    be.batch_norm_backward(&mut dx, &dyb, &xb, &gb, &saved, &mut dg, &mut db, None)?;
    checks.push(compare(&name(" backward: input"), &be.download(&dx)?, &want_dx));
    checks.push(compare(&name(" backward: γ"), &be.download(&dg)?, &sum_dy_xhat));
    checks.push(compare(&name(" backward: β"), &be.download(&db)?, &sum_dy));

    // the same with a ReLU folded in after it, forward and backward (on running statistics of
    // their own, which the evaluation below does not read)
    let (mut rm2, mut rv2) = (be.upload(&running)?, be.upload(&running)?);
    let (mut relu_out, mut saved2) = (be.zeros(x.len())?, be.zeros(2 * cols)?);
    be.batch_norm(
        &mut relu_out,
        &xb,
        &gb,
        &bb,
        (&mut rm2, &mut rv2),
        &mut saved2,
        eps as f32,
        Some(momentum as f32),
        true,
    )?;
    let y = be.download(&relu_out)?;
    let want_relu: Vec<f64> = want_out.iter().map(|v| v.max(0.0)).collect();
    checks.push(compare(&name(" + ReLU"), &y, &want_relu));
    // dy counts where the ReLU let its input through (read off the output the backend made,
    // so a value at the edge cannot flip between reference and backend)
    let through = |i: usize| if y[i] <= 0.0 { 0.0 } else { dy[i] as f64 };
    let (mut s_dy, mut s_dy_xhat) = (vec![0f64; cols], vec![0f64; cols]);
    for i in 0..x.len() {
        s_dy[i % cols] += through(i);
        s_dy_xhat[i % cols] += through(i) * xhat(i);
    }
    let want_dx: Vec<f64> = (0..x.len())
        .map(|i| {
            let j = i % cols;
            gamma[j] as f64 / (var[j] + eps).sqrt() / n * (n * through(i) - s_dy[j] - xhat(i) * s_dy_xhat[j])
        })
        .collect();
    let (mut dx, mut dg, mut db) = (be.zeros(x.len())?, be.zeros(cols)?, be.zeros(cols)?);
    be.batch_norm_backward(&mut dx, &dyb, &xb, &gb, &saved2, &mut dg, &mut db, Some(&relu_out))?;
    checks.push(compare(&name(" + ReLU backward: input"), &be.download(&dx)?, &want_dx));
    checks.push(compare(&name(" + ReLU backward: γ"), &be.download(&dg)?, &s_dy_xhat));
    checks.push(compare(&name(" + ReLU backward: β"), &be.download(&db)?, &s_dy));

    // evaluation: the running statistics, which stay as they are
    be.batch_norm(
        &mut out,
        &xb,
        &gb,
        &bb,
        (&mut rm, &mut rv),
        &mut saved,
        eps as f32,
        None,
        false,
    )?;
    let (rm_now, rv_now) = (be.download(&rm)?, be.download(&rv)?);
    let want_eval: Vec<f64> = (0..x.len())
        .map(|i| {
            let j = i % cols;
            (x[i] as f64 - rm_now[j] as f64) / (rv_now[j] as f64 + eps).sqrt() * gamma[j] as f64 + beta[j] as f64
        })
        .collect();
    checks.push(compare(&name(", evaluation"), &be.download(&out)?, &want_eval));
    checks.push(compare(
        &name(", evaluation: running mean unchanged"),
        &rm_now,
        &want_rm,
    ));
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::cpu::Cpu;

    #[test]
    fn every_operation_on_the_cpu_matches_its_reference() {
        let checks = run(&Cpu).unwrap();
        assert!(checks.len() >= 20);
        for c in &checks {
            assert!(c.ok, "{c:?}");
        }
    }

    /// The suite itself can fail: a wrong answer is reported, not passed.
    #[test]
    fn a_wrong_result_fails_its_check() {
        assert!(!compare("x", &[1.0, 2.0], &[1.0, 2.1]).ok);
        assert!(!compare("x", &[f32::NAN], &[1.0]).ok);
        assert!(!compare("x", &[1.0], &[1.0, 2.0]).ok);
        assert!(compare("x", &[1.0, 2.0], &[1.0, 2.0]).ok);
    }
}

#[cfg(all(test, feature = "cuda"))]
mod cuda_tests {
    use super::*;
    use crate::compute::cuda::Cuda;

    /// Runs where a CUDA device is present; elsewhere says so and passes.
    #[test]
    fn every_operation_on_cuda_matches_its_reference() {
        let be = match Cuda::new(0) {
            Ok(be) => be,
            Err(e) => {
                eprintln!("skipped: no CUDA device ({e:#})");
                return;
            }
        };
        for c in run(&be).unwrap() {
            assert!(c.ok, "{c:?}");
        }
    }
}
