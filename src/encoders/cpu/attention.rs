//! Multi-head self-attention on the CPU path, one pass per (review, head).
//!
//! Burn's fused attention op on burn-flex copies query, key and value into heads-first
//! layouts, takes the padding mask as a `[batch, 1, seq, seq]` tensor and runs softmax
//! with a branch and a scalar `expf` per score (together 17% of e5's CPU time after GELU's
//! fix; docs/speed.md). Here each head is read in place from the projections'
//! `[batch, seq, hidden]` buffers through gemm's strides, padding is one additive bias
//! per key, and the softmax runs in vectors. Heads run in parallel on native builds.

use burn::tensor::{Bool, Tensor, TensorData};
use macerator::{Scalar, Simd, Vector, vload_unaligned, vstore_unaligned};

use super::{LaneFn, contiguous, exp_nonpositive, map_lanes};

/// `softmax(q·kᵀ/√d + padding)·v` for each head, from the projections `query`, `key`,
/// `value` (`[batch, seq, hidden]`, heads side by side) and `padding` (`[batch, seq]`,
/// true where a token is padding: no query attends to it). Returns the context in the
/// same `[batch, seq, hidden]` layout. For tensors where [`super::takes_over`] holds.
pub fn self_attention(
    query: Tensor<3>,
    key: Tensor<3>,
    value: Tensor<3>,
    padding: Tensor<2, Bool>,
    heads: usize,
) -> Tensor<3> {
    let [batch, seq, hidden] = query.dims();
    let head_size = hidden / heads;
    let device = query.device();
    let key_bias: Vec<f32> =
        padding.into_data().iter::<bool>().map(|pad| if pad { f32::NEG_INFINITY } else { 0.0 }).collect();
    let (query, key, value) = (contiguous(query), contiguous(key), contiguous(value));
    let (q, k, v) = (query.storage::<f32>(), key.storage::<f32>(), value.storage::<f32>());
    let scale = 1.0 / (head_size as f32).sqrt();

    // One head's output rows, `[seq, head_size]`, after another: `[batch, heads, seq, head_size]`.
    let mut context = vec![0.0f32; batch * heads * seq * head_size];
    let head = |scores: &mut Vec<f32>, (index, out): (usize, &mut [f32])| {
        let (b, h) = (index / heads, index % heads);
        // Row i of this head's query, key and value starts at `at + i·hidden`.
        let at = b * seq * hidden + h * head_size;
        // SAFETY: every row read lies in the `[batch, seq, hidden]` buffers (the last row
        // ends at `at + (seq-1)·hidden + head_size`), `scores` is `seq × seq` and `out`
        // `seq × head_size`, written with exactly those strides.
        unsafe {
            // scores = q · kᵀ: kᵀ's (i, j) is key row j, column i.
            product(
                seq,
                seq,
                head_size,
                (scores.as_mut_ptr(), seq),
                (q[at..].as_ptr(), hidden),
                (k[at..].as_ptr(), 1, hidden),
            );
            softmax_rows(scores, scale, &key_bias[b * seq..(b + 1) * seq]);
            // out = weights · v.
            product(
                seq,
                head_size,
                seq,
                (out.as_mut_ptr(), head_size),
                (scores.as_ptr(), seq),
                (v[at..].as_ptr(), hidden, 1),
            );
        }
    };
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        context.par_chunks_exact_mut(seq * head_size).enumerate().for_each_init(|| vec![0.0; seq * seq], head);
    }
    #[cfg(target_arch = "wasm32")]
    {
        let mut scores = vec![0.0; seq * seq];
        context.chunks_exact_mut(seq * head_size).enumerate().for_each(|part| head(&mut scores, part));
    }
    Tensor::<4>::from_data(TensorData::new(context, [batch, heads, seq, head_size]), &device)
        .swap_dims(1, 2)
        .reshape([batch, seq, hidden])
}

/// `dst = lhs · rhs`, `m × n` from `m × k` and `k × n`: `dst` and `lhs` row-major with
/// their rows the given distance apart, `rhs`'s element (i, j) at `i·row + j·column`.
/// On this thread: the heads are already split across threads.
///
/// # Safety
/// Every element so addressed lies in its buffer, and `dst`'s in no other.
unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    (dst, dst_row): (*mut f32, usize),
    (lhs, lhs_row): (*const f32, usize),
    (rhs, rhs_row, rhs_column): (*const f32, usize, usize),
) {
    // SAFETY: as the caller promises; gemm's `dst = 0·dst + 1·lhs·rhs` never reads `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row as isize,
            false,
            lhs,
            1,
            lhs_row as isize,
            rhs,
            rhs_column as isize,
            rhs_row as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Each row of `scores` (`seq × seq`, `seq` = `key_bias.len()`) becomes
/// `softmax(row · scale + key_bias)`; a row whose every key is masked becomes zeros.
#[macerator::with_simd]
fn softmax_rows<S: Simd>(scores: &mut [f32], scale: f32, key_bias: &[f32]) {
    let seq = key_bias.len();
    let lanes = <f32 as Scalar>::lanes::<S>();
    let whole = seq / lanes * lanes;
    for row in scores.chunks_exact_mut(seq) {
        // Scale, mask, and find the row's largest score.
        let mut max = f32::NEG_INFINITY.splat::<S>();
        for i in (0..whole).step_by(lanes) {
            // SAFETY: `i + lanes <= whole <= seq`, the length of `row` and `key_bias`.
            unsafe {
                let s = vload_unaligned::<S, f32>(row.as_ptr().add(i)) * scale.splat()
                    + vload_unaligned(key_bias.as_ptr().add(i));
                vstore_unaligned(row.as_mut_ptr().add(i), s);
                max = max.max(s);
            }
        }
        let mut max = max.reduce_max();
        for i in whole..seq {
            row[i] = row[i] * scale + key_bias[i];
            max = max.max(row[i]);
        }
        if max == f32::NEG_INFINITY {
            row.fill(0.0);
            continue;
        }
        map_lanes::<S>(row, ExpBelow(max));
        map_lanes::<S>(row, Times(1.0 / sum::<S>(row)));
    }
}

/// `e^(s - max)`, for scores at most `max`.
struct ExpBelow(f32);

impl<S: Simd> LaneFn<S> for ExpBelow {
    #[inline(always)]
    fn apply(&self, s: Vector<S, f32>) -> Vector<S, f32> {
        exp_nonpositive::<S>(s - self.0.splat())
    }
}

struct Times(f32);

impl<S: Simd> LaneFn<S> for Times {
    #[inline(always)]
    fn apply(&self, v: Vector<S, f32>) -> Vector<S, f32> {
        v * self.0.splat()
    }
}

#[inline(always)]
fn sum<S: Simd>(values: &[f32]) -> f32 {
    let lanes = <f32 as Scalar>::lanes::<S>();
    let whole = values.len() / lanes * lanes;
    let mut total: Vector<S, f32> = 0.0f32.splat();
    for i in (0..whole).step_by(lanes) {
        // SAFETY: `i + lanes <= whole <= values.len()`.
        total += unsafe { vload_unaligned::<S, f32>(values.as_ptr().add(i)) };
    }
    total.reduce_add() + values[whole..].iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::softmax;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Attention as tensor ops, the way the encoder computes it where gradients flow.
    fn composed(
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        padding: Tensor<2, Bool>,
        heads: usize,
    ) -> Tensor<3> {
        let [batch, seq, hidden] = query.dims();
        let split = |t: Tensor<3>| t.reshape([batch, seq, heads, hidden / heads]).swap_dims(1, 2);
        let scores = split(query).matmul(split(key).swap_dims(2, 3)).div_scalar(((hidden / heads) as f32).sqrt());
        let masked = padding.reshape([batch, 1, 1, seq]).repeat_dim(2, seq);
        let weights = softmax(scores.mask_fill(masked, f32::NEG_INFINITY), 3);
        weights.matmul(split(value)).swap_dims(1, 2).reshape([batch, seq, hidden])
    }

    #[test]
    fn matches_attention_as_tensor_ops() {
        let device = Device::flex();
        device.seed(7);
        // 3 reviews of 5, 37 and 1 tokens padded to 37 (not a multiple of any vector
        // width), 4 heads of 12.
        let (batch, seq, hidden, heads) = (3, 37, 48, 4);
        let lengths = [5, 37, 1];
        let padding: Vec<bool> = lengths.iter().flat_map(|&n| (0..seq).map(move |i| i >= n)).collect();
        let padding = Tensor::<2, Bool>::from_data(TensorData::new(padding, [batch, seq]), &device);
        let random = || Tensor::<3>::random([batch, seq, hidden], Distribution::Normal(0.0, 2.0), &device);
        let (q, k, v) = (random(), random(), random());
        let expected = composed(q.clone(), k.clone(), v.clone(), padding.clone(), heads);
        let ours = self_attention(q, k, v, padding, heads);
        ours.to_data().assert_approx_eq::<f32>(&expected.to_data(), Tolerance::absolute(2e-5));
    }

    #[test]
    fn a_padded_key_has_no_weight() {
        let device = Device::flex();
        // One review of 2 tokens padded to 3; the padded token's value is huge, so any
        // weight on it would show.
        let padding = Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, true], [1, 3]), &device);
        let q = Tensor::<3>::ones([1, 3, 2], &device);
        let v = Tensor::<3>::from_floats([[[1.0, 2.0], [3.0, 4.0], [1e30, 1e30]]], &device);
        let context = self_attention(q.clone(), q, v, padding, 1).into_data().try_into_vec::<f32>().unwrap();
        // Equal scores over the two real tokens: their mean, for every query.
        assert_eq!(context, [2.0, 3.0, 2.0, 3.0, 2.0, 3.0]);
    }
}
