//! Weights files in safetensors, read and written as plain f32 tensors: the one place
//! that widens f16 to f32 and back, for every encoder (the BERT-style ones, their tuned
//! layers, the AWD-LSTM) and for ULMFiT's classifier file.

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
