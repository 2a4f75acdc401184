//! The CPU path's own kernels for the encoders, where Burn's CPU backend (burn-flex
//! 0.22.1) is slow: GELU ([`gelu`]), multi-head self-attention ([`attention`]), and the
//! projections' bias and residual adds ([`linear`]).
//!
//! Each takes over only where [`takes_over`] says so: f32 tensors on that backend with no
//! gradient to track. Elsewhere (autodiff for fine-tuning, wgpu/WebGPU) the encoders use
//! Burn's own ops. The vector code is written once with macerator, which Burn's CPU
//! kernels use too: it runs AVX-512, AVX2 or SSE, chosen at run time natively, and wasm's
//! 128-bit SIMD in the page, vectorised even where the page's size-optimised profile
//! turns the compiler's loop vectoriser off. These fixes belong in burn-flex; until they
//! are there, this is where they live (docs/speed.md says what each bought).

pub mod attention;
pub mod gelu;
pub mod linear;

use burn::backend::flex::FlexTensor;
use burn::backend::{DispatchDevice, Flex};
use burn::tensor::{DType, Tensor};
use macerator::{Scalar, Simd, Vector, vload_unaligned, vstore_unaligned};

/// Values a parallel task takes: 16k (64 KB), enough that splitting costs nothing, few
/// enough that both cores get work on one layer's activations.
const TASK: usize = 1 << 14;

/// Runs `f(start, chunk)` on `values` cut into chunks of `task` values (the last may be
/// shorter), `start` being the chunk's offset: on Rayon's threads natively, in turn in
/// the page (one thread per worker).
fn for_each_task(values: &mut [f32], task: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        values.par_chunks_mut(task).enumerate().for_each(|(i, chunk)| f(i * task, chunk));
    }
    #[cfg(target_arch = "wasm32")]
    values.chunks_mut(task).enumerate().for_each(|(i, chunk)| f(i * task, chunk));
}

/// Whether this module's kernels compute `tensor`'s ops: it is f32, on Burn's CPU
/// backend, and no gradient flows through it.
pub fn takes_over<const D: usize>(tensor: &Tensor<D>) -> bool {
    let device = tensor.device();
    matches!(device.as_dispatch(), DispatchDevice::Flex(_)) && !device.is_autodiff() && tensor.dtype() == DType::F32
}

/// The CPU backend's tensor under `tensor`, contiguous from the start of its buffer.
/// Panics unless [`takes_over`] holds for it.
fn contiguous<const D: usize>(tensor: Tensor<D>) -> FlexTensor {
    let flex = tensor.try_into_primitive::<Flex>().expect("checked by takes_over: a float tensor on the Flex device");
    if flex.is_contiguous() && flex.layout().start_offset() == 0 { flex } else { flex.to_contiguous() }
}

/// A function of one vector, for [`map_lanes`]. A trait and not a closure: a closure does
/// not get its caller's target features, so the intrinsics in it stay out-of-line calls
/// (measured: attention at half speed).
trait LaneFn<S: Simd> {
    fn apply(&self, v: Vector<S, f32>) -> Vector<S, f32>;
}

/// Applies `f` to `values` a vector at a time; the last few values go through `f` too,
/// padded to a whole vector, so that a value gets the same result wherever it sits.
#[inline(always)]
fn map_lanes<S: Simd>(values: &mut [f32], f: impl LaneFn<S>) {
    let lanes = <f32 as Scalar>::lanes::<S>();
    let mut chunks = values.chunks_exact_mut(lanes);
    for chunk in &mut chunks {
        // SAFETY: `chunk` holds exactly one vector's lanes.
        unsafe { vstore_unaligned::<S, f32>(chunk.as_mut_ptr(), f.apply(vload_unaligned(chunk.as_ptr()))) };
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut padded = [0.0f32; 64];
        padded[..tail.len()].copy_from_slice(tail);
        // SAFETY: `padded` holds at least one vector's lanes (at most 16 f32).
        unsafe { vstore_unaligned::<S, f32>(padded.as_mut_ptr(), f.apply(vload_unaligned(padded.as_ptr()))) };
        tail.copy_from_slice(&padded[..tail.len()]);
    }
}

/// `e^y` for `y <= 0` (0 below -87, where it is under 2^-125): `y = n·ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by its Taylor series to r⁶ (relative error about 1.2e-7), and
/// `2^n` put straight into the exponent's bits.
#[inline(always)]
fn exp_nonpositive<S: Simd>(y: Vector<S, f32>) -> Vector<S, f32> {
    // Adding 1.5·2^23 rounds to an integer and leaves it in the low bits of the sum.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let y_unclamped = y;
    let y = y.max(c(-87.0));
    let shifted = y * c(std::f32::consts::LOG2_E) + c(ROUND);
    let n = shifted - c(ROUND);
    let r = y - n * c(LN2_HI) - n * c(LN2_LO);
    let e_r = c(1.0)
        + r * (c(1.0)
            + r * (c(0.5) + r * (c(1.0 / 6.0) + r * (c(1.0 / 24.0) + r * (c(1.0 / 120.0) + r * c(1.0 / 720.0))))));
    // The sum's bits are ROUND's plus n (-126 … 0); n + 127 in the exponent field is 2^n.
    let biased = shifted.reinterpret::<i32>() - (ROUND.to_bits() as i32).splat() + 127i32.splat();
    let e_y = e_r * (biased << 23).reinterpret::<f32>();
    // Exactly 0 for what the clamp moved: a masked score gets no weight at all.
    y_unclamped.lt(c(-87.0)).select(c(0.0), e_y)
}

/// `v` in every lane (a function, not a closure, for the reason [`LaneFn`] gives).
#[inline(always)]
fn c<S: Simd>(v: f32) -> Vector<S, f32> {
    v.splat()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Exp;
    impl<S: Simd> LaneFn<S> for Exp {
        #[inline(always)]
        fn apply(&self, v: Vector<S, f32>) -> Vector<S, f32> {
            exp_nonpositive::<S>(v)
        }
    }

    #[macerator::with_simd]
    fn exp_all<S: Simd>(values: &mut [f32]) {
        map_lanes::<S>(values, Exp);
    }

    #[test]
    fn exp_matches_std_below_zero() {
        let ys: Vec<f32> = (0..=90_000).map(|i| -(i as f32) * 1e-3).collect(); // 0 … -90
        let mut ours = ys.clone();
        exp_all(&mut ours);
        for (&y, &e) in ys.iter().zip(&ours) {
            let exact = (y as f64).exp();
            if y >= -87.0 {
                assert!((e as f64 - exact).abs() <= 3e-7 * exact, "e^{y}: {e:e} against {exact:e}");
            } else {
                assert_eq!(e, 0.0, "e^{y}");
            }
        }
        let mut minus_infinity = [f32::NEG_INFINITY];
        exp_all(&mut minus_infinity);
        assert_eq!(minus_infinity[0], 0.0);
    }
}
