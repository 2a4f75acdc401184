//! GELU for the encoders' feed-forward layers on the CPU path.
//!
//! burn-flex computes GELU as a map of libm's scalar `erff` on one thread: in e5's profile
//! on two threads that map was the largest cost after gemm, 30% of the CPU time, while the
//! second core waited (docs/speed.md). This is the same exact GELU, `x/2 · (1 + erf(x/√2))`,
//! in vectors, split across Rayon's threads on native builds.

use burn::tensor::Tensor;
use macerator::{Scalar, Simd, Vector};

use super::{LaneFn, TASK, contiguous, exp_nonpositive, for_each_task, map_lanes, takes_over};

/// GELU, exact (erf) form, on any device: here where [`takes_over`], else Burn's op.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !takes_over(&x) {
        return burn::tensor::activation::gelu(x);
    }
    let mut flex = contiguous(x);
    let len = flex.layout().num_elements();
    // Copies the buffer first only if another tensor shares it.
    gelu_in_place(&mut flex.storage_mut::<f32>()[..len]);
    Tensor::from_primitive::<burn::backend::Flex>(flex)
}

/// Applies GELU to every value, in parallel chunks on native builds.
pub fn gelu_in_place(values: &mut [f32]) {
    for_each_task(values, TASK, |_, chunk| gelu_slice(chunk));
}

/// One slice, in the widest vectors the CPU has.
#[macerator::with_simd]
fn gelu_slice<S: Simd>(values: &mut [f32]) {
    map_lanes::<S>(values, Gelu);
}

/// `x/2 · (1 + erf(x/√2))`, lane by lane.
struct Gelu;

impl<S: Simd> LaneFn<S> for Gelu {
    #[inline(always)]
    fn apply(&self, x: Vector<S, f32>) -> Vector<S, f32> {
        let erf = erf_lanes::<S>(x * std::f32::consts::FRAC_1_SQRT_2.splat());
        0.5f32.splat::<S>() * x * (1.0f32.splat::<S>() + erf)
    }
}

/// erf by Abramowitz & Stegun's formula 7.1.26, `1 - t·P(t)·e^(-x²)` with
/// `t = 1/(1 + p·|x|)`, odd by construction: absolute error below 1.5e-7 in exact
/// arithmetic, 5.3e-7 in f32 (libm's `erff` is within an ulp; the encoders' parity
/// bounds are 1e-4).
#[inline(always)]
fn erf_lanes<S: Simd>(x: Vector<S, f32>) -> Vector<S, f32> {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_8, -1.453_152_1, 1.061_405_4];
    let one = 1.0f32.splat::<S>();
    let a = x.abs();
    let t = one / (one + P.splat() * a);
    let poly = t * (A[0].splat() + t * (A[1].splat() + t * (A[2].splat() + t * (A[3].splat() + t * A[4].splat()))));
    let magnitude = one - poly * exp_nonpositive::<S>(0.0f32.splat::<S>() - a * a);
    // erf(-x) = -erf(x): the magnitude takes x's sign bit.
    let sign = x.reinterpret::<u32>() & (1u32 << 31).splat();
    (magnitude.reinterpret::<u32>() | sign).reinterpret::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tolerance};

    fn exact_gelu(x: f32) -> f64 {
        let x = x as f64;
        0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
    }

    #[test]
    fn matches_the_exact_gelu_everywhere() {
        // -12 … 12 in steps of 6e-5, and the extremes.
        let mut xs: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 6e-5).collect();
        xs.extend([-87.0, -30.0, 30.0, 1e6, -1e6, f32::MIN_POSITIVE, -f32::MIN_POSITIVE]);
        let mut ours = xs.clone();
        gelu_in_place(&mut ours);
        let worst = xs
            .iter()
            .zip(&ours)
            .map(|(&x, &g)| (g as f64 - exact_gelu(x)).abs() / x.abs().max(1.0) as f64)
            .fold(0.0, f64::max);
        // Relative to |x| beyond 1: GELU is x there, and f32 keeps 24 bits of it.
        assert!(worst < 4e-7, "GELU's worst error {worst:e}");
        let mut specials = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0];
        gelu_in_place(&mut specials);
        assert_eq!(specials[0], f32::INFINITY);
        assert!(specials[1].is_nan() || specials[1] == 0.0, "GELU(-inf) = {}", specials[1]);
        assert!(specials[2].is_nan());
        assert_eq!((specials[3], specials[4]), (0.0, 0.0));
    }

    #[test]
    fn a_value_in_the_tail_gets_what_it_gets_in_a_whole_vector() {
        let xs: Vec<f32> = (0..1_000).map(|i| (i as f32 - 500.0) * 1.3e-2).collect();
        let mut together = xs.clone();
        gelu_in_place(&mut together);
        for (i, &x) in xs.iter().enumerate() {
            let mut alone = [x];
            gelu_in_place(&mut alone);
            assert_eq!(alone[0].to_bits(), together[i].to_bits(), "GELU({x})");
        }
    }

    #[test]
    fn matches_burns_gelu_on_the_cpu_backend() {
        let device = Device::flex();
        // [2, 300, 70], not a multiple of any vector width or chunk, values -8 … 8.
        let values: Vec<f32> = (0..2 * 300 * 70).map(|i| ((i * 7919) % 16_001) as f32 * 1e-3 - 8.0).collect();
        let input = || Tensor::<1>::from_floats(values.as_slice(), &device).reshape([2, 300, 70]);
        let x = input();
        let expected = burn::tensor::activation::gelu(x.clone());
        // `x` is still held, so the fast path must copy before writing.
        let ours = gelu(x.clone());
        ours.to_data().assert_approx_eq::<f32>(&expected.to_data(), Tolerance::absolute(1e-6));
        x.to_data().assert_eq(&input().to_data(), true);
        // A transposed view is made contiguous first.
        let t = gelu(x.swap_dims(1, 2));
        t.to_data().assert_approx_eq::<f32>(&expected.swap_dims(1, 2).to_data(), Tolerance::absolute(1e-6));
    }

    #[test]
    fn gradients_still_flow_under_autodiff() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_floats([-1.0, 0.0, 2.0], &device).require_grad();
        let grads = gelu(x.clone()).sum().backward();
        let grad = x.grad(&grads).expect("a gradient").into_data().try_into_vec::<f32>().unwrap();
        // d/dx GELU at 0 is 1/2; at 2 about 1.0852; at -1 about -0.0833.
        assert!(
            (grad[1] - 0.5).abs() < 1e-5 && (grad[2] - 1.0852).abs() < 1e-3 && (grad[0] + 0.0833).abs() < 1e-3,
            "{grad:?}"
        );
    }
}
