//! 3×3 convolutions at stride 1 by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016): each 2×2 block of outputs comes
//! from its 4×4 block of inputs with 16 multiplies per pair of channels instead of 36, so the
//! products do 2.25× fewer multiply-adds than im2col's single product.
//!
//! Why: the CNN-on-LUKE article's second convolution (32 → 64 channels over 22×30 images) is
//! nine tenths of its epoch's multiply-adds, and the im2col products already ran near this
//! CPU's FMA peak, so fewer multiplications was the way to a shorter epoch (BENCHMARKS.md).
//!
//! Images are channels-last, `[n, h, w, c]`. A band of `T` tiles (each 2×2 outputs) goes
//! through three steps that stay in cache:
//! - the input transform `V = Bᵀ d B` of each tile's 4×4 pixels, `[T, 16, Cin]`;
//! - 16 products `M_ξ [T, Cout] = V_ξ [T, Cin] · U_ξ [Cin, Cout]`, `U = G g Gᵀ` the kernel's
//!   transform;
//! - the output transform `Y = Aᵀ M A`, which writes each tile's outputs (those inside the
//!   image: an odd output size leaves the last tile half used).
//!
//! The backward is the forward's adjoint, step by step, sharing each band's transforms:
//! `dM = A dY Aᵀ` per tile; the weight's `dUᵀ_ξ [Cout, Cin] = Σ_tiles dM_ξᵀ V_ξ`, then
//! `dg = Gᵀ dU G`; the input's `dV_ξ = dM_ξ U_ξᵀ`, then `dd = B dV Bᵀ` added to each tile's
//! pixels.
//!
//! Bits: every sum is fixed by the shapes (bands in order within an image, the weight
//! gradient's groups of images added in order), so results do not depend on the thread count;
//! they differ from im2col's at rounding level (the transforms' coefficients are 0, ±½ and ±1).

use super::fastmath::widest_vectors;
use super::matmul::{view_product, FixedB, Layout, Out, Start, View};
use super::recycle;
use anyhow::{ensure, Result};
use rayon::prelude::*;

/// Tiles per band, at most: one image of the article's second convolution (10 × 14 tiles),
/// whose `V` (280 KiB) and `M` (560 KiB) stay in a 1 MiB L2.
const BAND_TILES: usize = 140;

/// Images per partial sum of the weight gradient (and per task of the backward); the partials
/// are added in order.
const GROUP_IMAGES: usize = 2;

/// `n` channels-last images of `h × w` with `channels` values per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Images {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub channels: usize,
}

impl Images {
    fn len(&self) -> usize {
        self.n * self.image_len()
    }

    fn image_len(&self) -> usize {
        self.h * self.w * self.channels
    }

    /// The output images of a 3×3 convolution over these, with `channels` outputs.
    fn convolved(&self, channels: usize) -> Images {
        Images {
            h: self.h - 2,
            w: self.w - 2,
            channels,
            ..*self
        }
    }
}

/// Where a band sits: tile rows `first..first + rows` of an image `tiles_x` tiles wide.
#[derive(Clone, Copy)]
struct Band {
    first: usize,
    rows: usize,
    tiles_x: usize,
}

impl Band {
    fn tiles(&self) -> usize {
        self.rows * self.tiles_x
    }

    /// The image row and column of tile `t`'s first output (and first input pixel).
    fn origin(&self, t: usize) -> (usize, usize) {
        (2 * (self.first + t / self.tiles_x), 2 * (t % self.tiles_x))
    }
}

/// The bands of an image whose output is `o`: as even as can be, each at most [`BAND_TILES`]
/// (or one tile row).
fn bands(o: Images) -> impl Iterator<Item = Band> {
    let (ty, tx) = (o.h.div_ceil(2), o.w.div_ceil(2));
    let rows = ty.div_ceil((ty * tx).div_ceil(BAND_TILES).max(1)).max(1);
    (0..ty).step_by(rows).map(move |first| Band {
        first,
        rows: rows.min(ty - first),
        tiles_x: tx,
    })
}

/// `out[n, oh, ow, Cout] = bias + x ⋆ weight`, `weight` `[Cout, 3, 3, Cin]` (channels last,
/// as [`crate::compute::Backend::patch_gemm`] gets it), no padding.
pub fn forward(out: &mut [f32], bias: &[f32], x: &[f32], input: Images, weight: &[f32], outputs: usize) -> Result<()> {
    check(x, input, weight, outputs)?;
    ensure!(
        bias.len() == outputs,
        "winograd: a bias of {} for {outputs} outputs",
        bias.len()
    );
    let o = input.convolved(outputs);
    ensure!(
        out.len() == o.len(),
        "winograd: an output of {} values for {o:?}",
        out.len()
    );
    let u: Vec<FixedB> = transformed(weight, input.channels, outputs)
        .chunks_exact(input.channels * outputs)
        .map(|u| FixedB::new(u, Layout::Plain, input.channels, outputs))
        .collect();
    // (image, band, its output rows): disjoint blocks of `out`, all in parallel
    let mut items = Vec::new();
    for (i, image_out) in out.chunks_mut(o.image_len()).enumerate() {
        let mut rest = image_out;
        for band in bands(o) {
            let rows = (2 * band.rows).min(o.h - 2 * band.first);
            let (band_out, after) = rest.split_at_mut(rows * o.w * outputs);
            items.push((i, band, band_out));
            rest = after;
        }
    }
    items.into_par_iter().for_each(|(i, band, band_out)| {
        let (t, cin) = (band.tiles(), input.channels);
        let mut v = recycle::overwritable(t * 16 * cin);
        input_transform(&mut v, &x[i * input.image_len()..][..input.image_len()], input, band);
        // M_ξ [T, Cout] = V_ξ [T, Cin] · U_ξ, plane after plane
        let mut m = recycle::overwritable(16 * t * outputs);
        for (xi, (plane, u)) in m.chunks_exact_mut(t * outputs).zip(&u).enumerate() {
            u.left_multiply_view(plane, View::row_major(&v, t, 16 * cin).columns(xi * cin, cin));
        }
        output_transform(band_out, &m, o, band, bias);
        recycle::recycle(v);
        recycle::recycle(m);
    });
    Ok(())
}

/// `d_weight[Cout, 3, 3, Cin]` (overwritten) of [`forward`] from its input and `dy` (a first
/// layer's: no input gradient).
pub fn weight_grad(d_weight: &mut [f32], dy: &[f32], x: &[f32], input: Images, outputs: usize) -> Result<()> {
    check(x, input, d_weight, outputs)?;
    check_dy(dy, input, outputs)?;
    backward(d_weight, None, dy, x, input, outputs);
    Ok(())
}

/// The gradients of [`forward`]: `d_bias += Σ dy`, `d_weight` and `dx[n, h, w, Cin]`
/// (both overwritten), from each band's transforms made once.
pub fn grads(
    (d_bias, d_weight, dx): (&mut [f32], &mut [f32], &mut [f32]),
    dy: &[f32],
    x: &[f32],
    input: Images,
    weight: &[f32],
    outputs: usize,
) -> Result<()> {
    check(x, input, weight, outputs)?;
    check_dy(dy, input, outputs)?;
    ensure!(
        d_bias.len() == outputs && d_weight.len() == weight.len() && dx.len() == x.len(),
        "winograd: gradients of {}, {} and {} values for {outputs} outputs, a weight of {} and images of {}",
        d_bias.len(),
        d_weight.len(),
        dx.len(),
        weight.len(),
        x.len()
    );
    // Uᵀ_ξ [Cout, Cin]: each plane [Cin, Cout] read transposed
    let (cin, cout) = (input.channels, outputs);
    let u_t: Vec<FixedB> = transformed(weight, cin, cout)
        .chunks_exact(cin * cout)
        .map(|u| FixedB::new(u, Layout::Transposed, cout, cin))
        .collect();
    backward(d_weight, Some((d_bias, dx, &u_t)), dy, x, input, outputs);
    Ok(())
}

/// The sizes of images `x` and a weight `[outputs, 3, 3, channels]` agree.
fn check(x: &[f32], input: Images, weight: &[f32], outputs: usize) -> Result<()> {
    ensure!(
        input.h >= 3 && input.w >= 3 && input.channels > 0 && outputs > 0,
        "winograd: a 3×3 convolution over {input:?} to {outputs} channels"
    );
    ensure!(
        x.len() == input.len(),
        "winograd: {} values for images {input:?}",
        x.len()
    );
    ensure!(
        weight.len() == outputs * 9 * input.channels,
        "winograd: a weight of {} values for {} → {outputs} channels",
        weight.len(),
        input.channels
    );
    Ok(())
}

fn check_dy(dy: &[f32], input: Images, outputs: usize) -> Result<()> {
    ensure!(
        dy.len() == input.convolved(outputs).len(),
        "winograd: dy of {} values for {outputs} outputs over {input:?}",
        dy.len()
    );
    Ok(())
}

/// G of F(2×2, 3×3): `U = G g Gᵀ` (4×3).
const G: [[f32; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];

/// The 16 kernel transforms `U_ξ = G g Gᵀ`, `[16, Cin, Cout]`, of `weight` `[Cout, 3, 3, Cin]`.
fn transformed(weight: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; 16 * cin * cout];
    for o in 0..cout {
        for c in 0..cin {
            let g = |a: usize, b: usize| weight[((o * 3 + a) * 3 + b) * cin + c];
            // gg = G g (4×3), then U = gg Gᵀ (4×4)
            let mut gg = [[0.0f32; 3]; 4];
            for (i, row) in gg.iter_mut().enumerate() {
                for (b, v) in row.iter_mut().enumerate() {
                    *v = (0..3).map(|a| G[i][a] * g(a, b)).sum();
                }
            }
            for i in 0..4 {
                for j in 0..4 {
                    u[(i * 4 + j) * cin * cout + c * cout + o] = (0..3).map(|b| gg[i][b] * G[j][b]).sum();
                }
            }
        }
    }
    u
}

/// The backward over groups of images in parallel: each group's `dUᵀ` partial; and with the
/// input gradient asked for, each group's `Σ dy` and its images' `dx` (overwritten: the bands
/// in order, as neighbouring tiles share pixels). Then the partials summed in
/// group order and turned back into `d_weight`, and the sums added to `d_bias`.
fn backward(
    d_weight: &mut [f32],
    with_input: Option<(&mut [f32], &mut [f32], &[FixedB])>,
    dy: &[f32],
    x: &[f32],
    input: Images,
    outputs: usize,
) {
    let (cin, cout) = (input.channels, outputs);
    let out = input.convolved(outputs);
    let groups = input.n.div_ceil(GROUP_IMAGES);
    let (d_bias, group_dx, u_t) = match with_input {
        Some((d_bias, dx, u_t)) => {
            let group_dx: Vec<_> = dx.chunks_mut(GROUP_IMAGES * input.image_len()).map(Some).collect();
            (Some(d_bias), group_dx, Some(u_t))
        }
        None => (None, (0..groups).map(|_| None).collect(), None),
    };
    // each group's dUᵀ [16, Cout, Cin], every value written by its first band's products, and
    // its Σ dy [Cout]
    let mut partials = recycle::overwritable(groups * 16 * cout * cin);
    let mut bias_sums = vec![0.0f32; groups * cout];
    partials
        .par_chunks_mut(16 * cout * cin)
        .zip(bias_sums.par_chunks_mut(cout))
        .zip(group_dx)
        .enumerate()
        .for_each(|(group, ((partial, bias_sum), mut dx))| {
            let mut start = Start::Zero;
            for i in group * GROUP_IMAGES..((group + 1) * GROUP_IMAGES).min(input.n) {
                let x = &x[i * input.image_len()..][..input.image_len()];
                let dy = &dy[i * out.image_len()..][..out.image_len()];
                let mut dx = dx
                    .as_deref_mut()
                    .map(|dx| &mut dx[(i - group * GROUP_IMAGES) * input.image_len()..][..input.image_len()]);
                for band in bands(out) {
                    let dx = dx.as_deref_mut().zip(u_t);
                    backward_band(partial, start, dx, x, input, dy, out, band);
                    start = Start::Existing;
                }
                if d_bias.is_some() {
                    for row in dy.chunks_exact(cout) {
                        add_to(bias_sum, row);
                    }
                }
            }
        });
    if let Some(d_bias) = d_bias {
        for sums in bias_sums.chunks_exact(cout) {
            add_to(d_bias, sums);
        }
    }
    // dUᵀ summed over the groups in order, then dg = Gᵀ dU G
    // (each thread a contiguous share of the values, every partial's share added in order)
    let width = 16 * cout * cin;
    let share = width.div_ceil(rayon::current_num_threads().max(1));
    let mut sum = vec![0.0f32; width];
    sum.par_chunks_mut(share).enumerate().for_each(|(i, s)| {
        for partial in partials.chunks_exact(width) {
            add_to(s, &partial[i * share..][..s.len()]);
        }
    });
    recycle::recycle(partials);
    for o in 0..cout {
        for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
            for c in 0..cin {
                let mut v = 0.0f32;
                for (i, j) in (0..4).flat_map(|i| (0..4).map(move |j| (i, j))) {
                    let coef = G[i][ky] * G[j][kx];
                    if coef != 0.0 {
                        v += coef * sum[((i * 4 + j) * cout + o) * cin + c];
                    }
                }
                d_weight[((o * 3 + ky) * 3 + kx) * cin + c] = v;
            }
        }
    }
}

/// One band's share of the backward: `partial[ξ] (+)= dM_ξᵀ V_ξ` `[16, Cout, Cin]`, and with
/// `dx` (one image's, written by the bands before it above this band's rows) the sum of
/// `B (dM_ξ Uᵀ_ξ) Bᵀ` over the tiles on each of the band's pixels.
#[allow(clippy::too_many_arguments)]
fn backward_band(
    partial: &mut [f32],
    start: Start,
    dx: Option<(&mut [f32], &[FixedB])>,
    x: &[f32],
    input: Images,
    dy: &[f32],
    out: Images,
    band: Band,
) {
    let (t, cin, cout) = (band.tiles(), input.channels, out.channels);
    let mut v = recycle::overwritable(t * 16 * cin);
    input_transform(&mut v, x, input, band);
    let mut dm = recycle::overwritable(t * 16 * cout);
    output_transform_adjoint(&mut dm, dy, out, band);
    for (xi, plane) in partial.chunks_exact_mut(cout * cin).enumerate() {
        let dm_t = View::row_major(&dm, t, 16 * cout).columns(xi * cout, cout).t();
        let v_xi = View::row_major(&v, t, 16 * cin).columns(xi * cin, cin);
        let out = Out {
            data: plane,
            offset: 0,
            row_stride: cin,
        };
        view_product(out, dm_t, v_xi, start, 1);
    }
    if let Some((dx, u_t)) = dx {
        // dV_ξ [T, Cin] = dM_ξ [T, Cout] · Uᵀ_ξ, plane after plane (into V's buffer)
        for (xi, (plane, u)) in v.chunks_exact_mut(t * cin).zip(u_t).enumerate() {
            u.left_multiply_view(plane, View::row_major(&dm, t, 16 * cout).columns(xi * cout, cout));
        }
        // the band's pixel rows not reached by the band before it start at zero (here, while
        // they are about to be added to, rather than in a pass over all of dx)
        let row_len = input.w * cin;
        let first_row = if band.first == 0 { 0 } else { 2 * band.first + 2 };
        let end_row = (2 * (band.first + band.rows) + 2).min(input.h);
        dx[first_row * row_len..end_row * row_len].fill(0.0);
        input_transform_adjoint(dx, &v, input, band);
    }
    recycle::recycle(v);
    recycle::recycle(dm);
}

widest_vectors! {
    /// `dst += src`, elementwise.
    fn add_to(dst: &mut [f32], src: &[f32]) = add_to_body;
}

#[inline(always)]
fn add_to_body(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

/// `by_lanes!(channels, f(args…))` calls `f::<L>` with `L` channels per step of the
/// transforms: the widest of 16, 8 and 1 that divides the channel count, so that a step is
/// whole vectors held in registers. (Written as loops over slices of the channels, one per term
/// of the transforms, the three transforms took 14% of the CNN's epoch in `perf`; each term is
/// a loop of two vectors at 32 channels.)
macro_rules! by_lanes {
    ($channels:expr, $f:ident($($arg:expr),*)) => {
        if $channels % 16 == 0 {
            $f::<16>($($arg),*)
        } else if $channels % 8 == 0 {
            $f::<8>($($arg),*)
        } else {
            $f::<1>($($arg),*)
        }
    };
}

type Lanes<const L: usize> = [f32; L];

#[inline(always)]
fn add<const L: usize>(a: Lanes<L>, b: Lanes<L>) -> Lanes<L> {
    let mut out = a;
    out.iter_mut().zip(b).for_each(|(o, b)| *o += b);
    out
}

#[inline(always)]
fn sub<const L: usize>(a: Lanes<L>, b: Lanes<L>) -> Lanes<L> {
    let mut out = a;
    out.iter_mut().zip(b).for_each(|(o, b)| *o -= b);
    out
}

#[inline(always)]
fn neg<const L: usize>(a: Lanes<L>) -> Lanes<L> {
    a.map(|a| -a)
}

/// The `S × S` pixels (`N = S²`, row by row) from `(y0, x0)` of one image `[h, w, q]` (in
/// lanes), `zeros` for those past its edge.
#[inline(always)]
fn square_of_pixels<'a, const L: usize, const N: usize>(
    image: &'a [Lanes<L>],
    dims: Images,
    (y0, x0): (usize, usize),
    zeros: &'a [Lanes<L>],
) -> [&'a [Lanes<L>]; N] {
    let (q, side) = (zeros.len(), N.isqrt());
    let mut pixels = [zeros; N];
    for (i, p) in pixels.iter_mut().enumerate() {
        let (y, x) = (y0 + i / side, x0 + i % side);
        if y < dims.h && x < dims.w {
            *p = &image[(y * dims.w + x) * q..][..q];
        }
    }
    pixels
}

widest_vectors! {
    /// `v[T, 16, C] = Bᵀ d B` for each tile of `band` over one image `x` (pixels past its edge
    /// count as zero).
    fn input_transform(v: &mut [f32], x: &[f32], input: Images, band: Band) = input_transform_body;
}

#[inline(always)]
fn input_transform_body(v: &mut [f32], x: &[f32], input: Images, band: Band) {
    by_lanes!(input.channels, input_transform_lanes(v, x, input, band))
}

#[inline(always)]
fn input_transform_lanes<const L: usize>(v: &mut [f32], x: &[f32], input: Images, band: Band) {
    let q = input.channels / L;
    let zeros = vec![[0.0f32; L]; q];
    let (x, v) = (x.as_chunks::<L>().0, v.as_chunks_mut::<L>().0);
    for (t, dst) in v.chunks_exact_mut(16 * q).enumerate().take(band.tiles()) {
        let (y0, x0) = band.origin(t);
        // the tile's 4×4 pixels, zeros past the image's edge
        let d: [&[Lanes<L>]; 16] = square_of_pixels(x, input, (y0, x0), &zeros);
        for j in 0..q {
            let e = |i: usize| d[i][j];
            // Bᵀ d: the tile's rows combined
            let mut r = [[0.0f32; L]; 16];
            for s in 0..4 {
                r[s] = sub(e(s), e(8 + s));
                r[4 + s] = add(e(4 + s), e(8 + s));
                r[8 + s] = sub(e(8 + s), e(4 + s));
                r[12 + s] = sub(e(4 + s), e(12 + s));
            }
            // (Bᵀ d) B: its columns combined
            for row in 0..4 {
                let b = |s: usize| r[4 * row + s];
                dst[4 * row * q + j] = sub(b(0), b(2));
                dst[(4 * row + 1) * q + j] = add(b(1), b(2));
                dst[(4 * row + 2) * q + j] = sub(b(2), b(1));
                dst[(4 * row + 3) * q + j] = sub(b(1), b(3));
            }
        }
    }
}

widest_vectors! {
    /// `band_out` (the band's output rows of one image) `= bias + Aᵀ M A` per tile, `m` the
    /// products' planes `[16, T, Cout]`.
    fn output_transform(band_out: &mut [f32], m: &[f32], o: Images, band: Band, bias: &[f32]) = output_transform_body;
}

#[inline(always)]
fn output_transform_body(band_out: &mut [f32], m: &[f32], o: Images, band: Band, bias: &[f32]) {
    by_lanes!(o.channels, output_transform_lanes(band_out, m, o, band, bias))
}

#[inline(always)]
fn output_transform_lanes<const L: usize>(band_out: &mut [f32], m: &[f32], o: Images, band: Band, bias: &[f32]) {
    let (q, tiles) = (o.channels / L, band.tiles());
    let out_rows = band_out.len() / (o.w * o.channels);
    let (m, out, bias) = (
        m.as_chunks::<L>().0,
        band_out.as_chunks_mut::<L>().0,
        bias.as_chunks::<L>().0,
    );
    for t in 0..tiles {
        // the tile's first output row within the band's rows
        let (y0, col0) = band.origin(t);
        let row0 = y0 - 2 * band.first;
        for j in 0..q {
            let e = |xi: usize| m[(xi * tiles + t) * q + j];
            // Aᵀ M: the rows combined
            let mut r = [[0.0f32; L]; 8];
            for s in 0..4 {
                r[s] = add(add(e(s), e(4 + s)), e(8 + s));
                r[4 + s] = sub(sub(e(4 + s), e(8 + s)), e(12 + s));
            }
            // (Aᵀ M) A: its columns combined
            let y = [
                add(add(r[0], r[1]), r[2]),
                sub(sub(r[1], r[2]), r[3]),
                add(add(r[4], r[5]), r[6]),
                sub(sub(r[5], r[6]), r[7]),
            ];
            for (i, y) in y.into_iter().enumerate() {
                let (row, col) = (row0 + i / 2, col0 + i % 2);
                if row < out_rows && col < o.w {
                    out[(row * o.w + col) * q + j] = add(bias[j], y);
                }
            }
        }
    }
}

widest_vectors! {
    /// `dm[T, 16, Cout] = A dY Aᵀ` per tile of `band` over one image's `dy` (the adjoint of the
    /// output transform; outputs past the image's edge count as zero).
    fn output_transform_adjoint(dm: &mut [f32], dy: &[f32], o: Images, band: Band) = output_transform_adjoint_body;
}

#[inline(always)]
fn output_transform_adjoint_body(dm: &mut [f32], dy: &[f32], o: Images, band: Band) {
    by_lanes!(o.channels, output_transform_adjoint_lanes(dm, dy, o, band))
}

#[inline(always)]
fn output_transform_adjoint_lanes<const L: usize>(dm: &mut [f32], dy: &[f32], o: Images, band: Band) {
    let q = o.channels / L;
    let zeros = vec![[0.0f32; L]; q];
    let (dy, dm) = (dy.as_chunks::<L>().0, dm.as_chunks_mut::<L>().0);
    for (t, dst) in dm.chunks_exact_mut(16 * q).enumerate().take(band.tiles()) {
        let (y0, x0) = band.origin(t);
        let p: [&[Lanes<L>]; 4] = square_of_pixels(dy, o, (y0, x0), &zeros);
        for j in 0..q {
            let (a0, a1, b0, b1) = (p[0][j], p[1][j], p[2][j], p[3][j]);
            // A dY (4×2): rows 0, 0 + 1, 0 − 1, −1
            let r = [
                (a0, a1),
                (add(a0, b0), add(a1, b1)),
                (sub(a0, b0), sub(a1, b1)),
                (neg(b0), neg(b1)),
            ];
            // (A dY) Aᵀ (4×4): columns 0, 0 + 1, 0 − 1, −1
            for (row, (a, b)) in r.into_iter().enumerate() {
                dst[4 * row * q + j] = a;
                dst[(4 * row + 1) * q + j] = add(a, b);
                dst[(4 * row + 2) * q + j] = sub(a, b);
                dst[(4 * row + 3) * q + j] = neg(b);
            }
        }
    }
}

widest_vectors! {
    /// `dx += B dV Bᵀ` per tile of `band` over one image's `dx` (the adjoint of the input
    /// transform; pixels past the image's edge are dropped), `dv` the products' planes
    /// `[16, T, Cin]`. Tiles overlap, so this runs over a band's tiles in order.
    fn input_transform_adjoint(dx: &mut [f32], dv: &[f32], input: Images, band: Band) = input_transform_adjoint_body;
}

#[inline(always)]
fn input_transform_adjoint_body(dx: &mut [f32], dv: &[f32], input: Images, band: Band) {
    by_lanes!(input.channels, input_transform_adjoint_lanes(dx, dv, input, band))
}

#[inline(always)]
fn input_transform_adjoint_lanes<const L: usize>(dx: &mut [f32], dv: &[f32], input: Images, band: Band) {
    let (q, tiles) = (input.channels / L, band.tiles());
    let (dv, dx) = (dv.as_chunks::<L>().0, dx.as_chunks_mut::<L>().0);
    for t in 0..tiles {
        let (y0, x0) = band.origin(t);
        for j in 0..q {
            let e = |xi: usize| dv[(xi * tiles + t) * q + j];
            // B dV: rows 0, 1 − 2 + 3, 1 + 2 − 0, −3
            let mut r = [[0.0f32; L]; 16];
            for s in 0..4 {
                r[s] = e(s);
                r[4 + s] = add(sub(e(4 + s), e(8 + s)), e(12 + s));
                r[8 + s] = sub(add(e(4 + s), e(8 + s)), e(s));
                r[12 + s] = neg(e(12 + s));
            }
            // (B dV) Bᵀ: the same on its columns, added to the pixels
            for row in 0..4 {
                let b = |s: usize| r[4 * row + s];
                let d = [b(0), add(sub(b(1), b(2)), b(3)), sub(add(b(1), b(2)), b(0)), neg(b(3))];
                let y = y0 + row;
                for (s, d) in d.into_iter().enumerate() {
                    if y < input.h && x0 + s < input.w {
                        let at = (y * input.w + x0 + s) * q + j;
                        dx[at] = add(dx[at], d);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 31 + seed * 17) % 97) as f32 - 48.0) / 48.0)
            .collect()
    }

    /// The convolution by plain loops in f64: `out[n, y, x, o] = bias[o] + Σ x[n, y+a, x+b, c] · w[o, a, b, c]`.
    fn direct(x: &[f32], input: Images, weight: &[f32], bias: &[f32], cout: usize) -> Vec<f64> {
        let o = input.convolved(cout);
        let cin = input.channels;
        let mut out = vec![0.0f64; o.len()];
        for n in 0..o.n {
            for y in 0..o.h {
                for xx in 0..o.w {
                    for oc in 0..cout {
                        let mut s = bias[oc] as f64;
                        for a in 0..3 {
                            for b in 0..3 {
                                for c in 0..cin {
                                    s += x[((n * input.h + y + a) * input.w + xx + b) * cin + c] as f64
                                        * weight[((oc * 3 + a) * 3 + b) * cin + c] as f64;
                                }
                            }
                        }
                        out[((n * o.h + y) * o.w + xx) * cout + oc] = s;
                    }
                }
            }
        }
        out
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                ((*g as f64) - w).abs() < 1e-4 * (1.0 + w.abs()),
                "{what} [{i}]: {g} vs {w}"
            );
        }
    }

    /// Even and odd outputs, one band and several per image (the 40×37 images have 19 × 18
    /// tiles), channel counts of 16, 8 and 1 lanes and the article's 32 → 64; the forward, both gradients (as the
    /// adjoints of the plain-loop convolution) against plain loops.
    #[test]
    fn forward_and_gradients_match_plain_loops() {
        for &(n, h, w, cin, cout) in &[
            (1, 3, 3, 1, 1),
            (3, 7, 6, 5, 7),
            (1, 9, 10, 8, 24),
            (2, 24, 32, 16, 17),
            (2, 22, 30, 32, 64),
            (3, 40, 37, 3, 33),
        ] {
            let input = Images { n, h, w, channels: cin };
            let o = input.convolved(cout);
            let (x, weight, bias) = (values(input.len(), 1), values(cout * 9 * cin, 2), values(cout, 3));
            let mut out = vec![f32::NAN; o.len()];
            forward(&mut out, &bias, &x, input, &weight, cout).unwrap();
            close(
                &out,
                &direct(&x, input, &weight, &bias, cout),
                &format!("forward {input:?}"),
            );

            let dy = values(o.len(), 4);
            // d_weight[o, a, b, c] = Σ dy[n, y, x, o] · x[n, y+a, x+b, c]
            let mut want_dw = vec![0.0f64; cout * 9 * cin];
            let mut want_dx = vec![0.0f64; input.len()];
            for nn in 0..n {
                for y in 0..o.h {
                    for xx in 0..o.w {
                        for oc in 0..cout {
                            let g = dy[((nn * o.h + y) * o.w + xx) * cout + oc] as f64;
                            for a in 0..3 {
                                for b in 0..3 {
                                    for c in 0..cin {
                                        let at = ((nn * h + y + a) * w + xx + b) * cin + c;
                                        let wi = ((oc * 3 + a) * 3 + b) * cin + c;
                                        want_dw[wi] += g * x[at] as f64;
                                        want_dx[at] += g * weight[wi] as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let mut d_weight = vec![f32::NAN; cout * 9 * cin];
            weight_grad(&mut d_weight, &dy, &x, input, cout).unwrap();
            close(&d_weight, &want_dw, &format!("weight gradient {input:?}"));
            // dx overwritten (NaN before), d_bias added to
            let (mut both, mut dx) = (vec![f32::NAN; cout * 9 * cin], vec![f32::NAN; input.len()]);
            let mut d_bias = values(cout, 6);
            let want_db: Vec<f64> = (0..cout)
                .map(|o| d_bias[o] as f64 + dy.iter().skip(o).step_by(cout).map(|v| *v as f64).sum::<f64>())
                .collect();
            grads((&mut d_bias, &mut both, &mut dx), &dy, &x, input, &weight, cout).unwrap();
            assert!(
                both == d_weight,
                "{input:?}: the weight gradient alone and with dx differ"
            );
            close(&dx, &want_dx, &format!("input gradient {input:?}"));
            close(&d_bias, &want_db, &format!("bias gradient {input:?}"));
        }
    }

    /// The same bits on one thread as on two.
    #[test]
    fn thread_count_leaves_the_bits() {
        let input = Images {
            n: 5,
            h: 22,
            w: 30,
            channels: 8,
        };
        let cout = 12;
        let o = input.convolved(cout);
        let (x, weight, bias, dy) = (
            values(input.len(), 1),
            values(cout * 9 * 8, 2),
            values(cout, 3),
            values(o.len(), 4),
        );
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut out = vec![0.0; o.len()];
                forward(&mut out, &bias, &x, input, &weight, cout).unwrap();
                let (mut db, mut dw, mut dx) = (vec![0.0; cout], vec![0.0; cout * 9 * 8], vec![0.0; input.len()]);
                grads((&mut db, &mut dw, &mut dx), &dy, &x, input, &weight, cout).unwrap();
                (out, db, dw, dx)
            })
        };
        assert!(run(1) == run(2));
    }

    /// Sizes that do not fit are errors, and nothing is written.
    #[test]
    fn mismatched_sizes_are_refused() {
        let input = Images {
            n: 1,
            h: 4,
            w: 4,
            channels: 2,
        };
        let mut out = vec![7.0; 2 * 2 * 3];
        let err = forward(&mut out, &[0.0; 3], &[0.0; 31], input, &[0.0; 54], 3).unwrap_err();
        assert!(err.to_string().contains("31 values"), "{err}");
        let err = forward(&mut out, &[0.0; 3], &[0.0; 32], input, &[0.0; 53], 3).unwrap_err();
        assert!(err.to_string().contains("weight of 53"), "{err}");
        assert_eq!(out, [7.0; 12]);
    }
}
