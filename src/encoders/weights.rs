//! Weights files in safetensors, read and written as plain f32 tensors: the one place
//! that widens f16 to f32 and back, for every encoder (the BERT-style ones, their tuned
//! layers, the AWD-LSTM) and for ULMFiT's classifier file; and the one way those tensors
//! move into a Burn module ([`snapshots`], [`apply_safetensors`]).

use burn::store::burn_pack::{Error as PackError, Tensor as PackTensor};
use burn::store::{ApplyResult, ModuleSnapshot, PathFilter, bridge};
use burn::tensor::{DType, Shape, TensorData};

/// Rewrites a safetensors file with every floating-point tensor in `dtype` (F32 or F16).
/// Non-float tensors (such as BERT's `position_ids` buffer) are not weights and are dropped.
pub fn cast_safetensors(bytes: &[u8], dtype: safetensors::Dtype) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    float_safetensors(&float_tensors(bytes)?, dtype)
}

/// A weight tensor read out of safetensors: name, shape, values.
pub type FloatTensor = (String, Vec<usize>, Vec<f32>);

/// The floating-point tensors of a safetensors file, widened to f32, in the file's order;
/// other tensors are skipped.
pub fn float_tensors(bytes: &[u8]) -> Result<Vec<FloatTensor>, safetensors::SafeTensorError> {
    use safetensors::Dtype;

    let tensors = safetensors::SafeTensors::deserialize(bytes)?;
    let mut floats = Vec::new();
    for (name, view) in tensors.tensors() {
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => {
                view.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
            _ => continue,
        };
        floats.push((name, view.shape().to_vec(), values));
    }
    Ok(floats)
}

/// Writes tensors as a safetensors file, every one in `dtype` (F16, else F32).
pub fn float_safetensors(
    tensors: &[FloatTensor],
    dtype: safetensors::Dtype,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    float_safetensors_with(tensors, dtype, None)
}

/// [`float_safetensors`] with `metadata` in the file's header.
pub fn float_safetensors_with(
    tensors: &[FloatTensor],
    dtype: safetensors::Dtype,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    use safetensors::tensor::TensorView;

    let encoded: Vec<(&str, &[usize], Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            let data = match dtype {
                safetensors::Dtype::F16 => values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
                _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            };
            (name.as_str(), shape.as_slice(), data)
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(name, shape, data)| Ok((name.to_string(), TensorView::new(dtype, shape.to_vec(), data)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    safetensors::serialize(views, metadata)
}

/// f32 tensors as Burn's loader ([`ModuleSnapshot::apply`]) takes them, each giving its
/// values away on the one read the loader makes: they move into the module's parameters
/// without a copy. (Handed bytes in hand, Burn 0.22's loader copies every tensor before
/// taking it, and a wasm instance keeps such a peak for good.) A tensor whose values do
/// not fill its shape is an error that names it.
pub fn snapshots(tensors: Vec<FloatTensor>) -> Result<Vec<PackTensor>, String> {
    let mut snapshots = Vec::with_capacity(tensors.len());
    for (name, shape, values) in tensors {
        if shape.iter().product::<usize>() != values.len() {
            return Err(format!("`{name}` holds {} values for the shape {shape:?}", values.len()));
        }
        let values = std::sync::Mutex::new(Some(values));
        let dims = shape.clone();
        snapshots.push(bridge::deferred(name, DType::F32, Shape::from(shape), None, move || {
            let values = values.lock().ok().and_then(|mut v| v.take());
            let values = values.ok_or_else(|| PackError::ValidationError("the tensor was read already".into()))?;
            Ok(TensorData::new(values, dims.clone()))
        }));
    }
    Ok(snapshots)
}

/// Reads a safetensors file (f32 or f16) into `module` under the module's own paths (those
/// `filter` lets through, if given). The caller judges the result: what was missing,
/// unused or refused.
pub fn apply_safetensors<M: ModuleSnapshot>(
    module: &mut M,
    bytes: &[u8],
    filter: Option<PathFilter>,
) -> Result<ApplyResult, String> {
    let tensors = float_tensors(bytes).map_err(|e| e.to_string())?;
    Ok(module.apply(snapshots(tensors)?, filter, None, false))
}
