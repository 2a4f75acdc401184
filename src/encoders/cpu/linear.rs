//! The encoder's projections and residual adds on the CPU path: the bias and the residual
//! connections added in vectors, on Rayon's threads.
//!
//! burn-flex 0.22.1 adds on one thread. Once GELU and attention ran in parallel, those
//! adds were most of what the engine's own thread did while Rayon's waited: on two threads
//! they were half of that thread's samples in e5's profile (docs/speed.md).

use burn::nn::Linear;
use burn::tensor::Tensor;
use macerator::{Scalar, Simd, vload_unaligned, vstore_unaligned};

use super::{TASK, contiguous, for_each_task, takes_over};

/// `linear`'s projection of `x` `[batch, seq, d_input]`: one matrix product over all
/// `batch · seq` rows, then the bias added here. Burn's own forward where this module
/// does not take over.
pub fn linear(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    if !takes_over(&x) {
        return linear.forward(x);
    }
    let [batch, seq, d_input] = x.dims();
    let product = x.reshape([batch * seq, d_input]).matmul(linear.weight.val());
    let d_output = product.dims()[1];
    let product = match &linear.bias {
        Some(bias) => add_rows(product, bias.val()),
        None => product,
    };
    product.reshape([batch, seq, d_output])
}

/// `a + b`, for tensors of the same shape; Burn's add where this module does not take over.
pub fn add<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    if !takes_over(&a) || !takes_over(&b) || a.dims() != b.dims() {
        return a + b;
    }
    let b = contiguous(b);
    let len = b.layout().num_elements();
    let mut sum = contiguous(a);
    let addend = &b.storage::<f32>()[..len];
    // `storage_mut` copies `a`'s buffer first only if another tensor shares it.
    for_each_task(&mut sum.storage_mut::<f32>()[..len], TASK, |start, chunk| {
        add_assign(chunk, &addend[start..start + chunk.len()])
    });
    Tensor::from_primitive::<burn::backend::Flex>(sum)
}

/// `rows` `[n, d]` with `row` `[d]` added to each of its rows.
fn add_rows(rows: Tensor<2>, row: Tensor<1>) -> Tensor<2> {
    let [n, d] = rows.dims();
    let row = contiguous(row);
    let row = &row.storage::<f32>()[..d];
    let mut sum = contiguous(rows);
    // Whole rows a task, about TASK values.
    let task = d * (TASK / d).max(1);
    for_each_task(&mut sum.storage_mut::<f32>()[..n * d], task, |_, chunk| {
        chunk.chunks_exact_mut(d).for_each(|r| add_assign(r, row))
    });
    Tensor::from_primitive::<burn::backend::Flex>(sum)
}

/// `values[i] += addend[i]`, in the widest vectors the CPU has.
#[macerator::with_simd]
fn add_assign<S: Simd>(values: &mut [f32], addend: &[f32]) {
    let lanes = <f32 as Scalar>::lanes::<S>();
    let whole = values.len() / lanes * lanes;
    for i in (0..whole).step_by(lanes) {
        // SAFETY: `i + lanes <= whole <= values.len() == addend.len()`.
        unsafe {
            let sum = vload_unaligned::<S, f32>(values.as_ptr().add(i)) + vload_unaligned(addend.as_ptr().add(i));
            vstore_unaligned(values.as_mut_ptr().add(i), sum);
        }
    }
    for (v, a) in values[whole..].iter_mut().zip(&addend[whole..]) {
        *v += a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    #[test]
    fn a_projection_matches_burns() {
        let device = Device::flex();
        device.seed(3);
        // 37 outputs: not a multiple of any vector width; 2 · 301 rows span several tasks.
        let layer = LinearConfig::new(24, 37).init(&device);
        let x = Tensor::<3>::random([2, 301, 24], Distribution::Normal(0.0, 1.0), &device);
        let ours = linear(&layer, x.clone());
        ours.to_data().assert_approx_eq::<f32>(&layer.forward(x).to_data(), Tolerance::absolute(1e-5));
        let unbiased = LinearConfig::new(24, 37).with_bias(false).init(&device);
        let x = Tensor::<3>::random([1, 5, 24], Distribution::Normal(0.0, 1.0), &device);
        linear(&unbiased, x.clone())
            .to_data()
            .assert_approx_eq::<f32>(&unbiased.forward(x).to_data(), Tolerance::absolute(1e-5));
    }

    #[test]
    fn a_sum_matches_burns_and_leaves_shared_operands_alone() {
        let device = Device::flex();
        let a = Tensor::<3>::random([3, 70, 111], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<3>::random([3, 70, 111], Distribution::Normal(0.0, 1.0), &device);
        let before = a.to_data();
        add(a.clone(), b.clone()).to_data().assert_eq(&(a.clone() + b.clone()).to_data(), true);
        // `a` was still held: the sum went to a copy.
        a.to_data().assert_eq(&before, true);
        // A transposed operand is made contiguous first.
        let bt = b.clone().swap_dims(1, 2).to_data();
        let bt = Tensor::<3>::from_data(bt, &device).swap_dims(1, 2);
        add(a.clone(), bt).to_data().assert_eq(&(a + b).to_data(), true);
    }
}
