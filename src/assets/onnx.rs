//! Recovering HF-named BERT weights from an exported ONNX graph.
//!
//! paraphrase-MiniLM-L3-v2 reaches us only as an ONNX file. Its LayerNorm, bias and
//! embedding initialisers keep their Hugging Face names (under a prefix), but the
//! exporter renamed the eighteen Linear weights to `onnx::MatMul_N` and stored them as
//! `x @ W` (`[in, out]`). The MatMul *node* names still spell the module path, so each
//! weight gets its HF name from the node that consumes it, transposed to `[out, in]`.
//!
//! Only the few protobuf fields needed are declared (prost derives the decoding).

use std::collections::HashMap;

use prost::Message;

use super::error::{AssetError, Result};

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

const ONNX_FLOAT: i32 = 1;

/// A named f32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Extracts the encoder's weights from an ONNX sentence-transformers export, with HF names
/// (`embeddings.*`, `encoder.layer.N.*`) and HF layouts. `prefix` is the initialiser
/// prefix of the wrapped HF model (e.g. `model.0.auto_model.`), `node_prefix` the same
/// path as node names spell it (e.g. `/model/model.0/auto_model/`).
pub fn hf_tensors_from_onnx(onnx: &[u8], prefix: &str, node_prefix: &str) -> Result<Vec<NamedTensor>> {
    let model = ModelProto::decode(onnx).map_err(|e| AssetError::Onnx(format!("the file is not valid ONNX ({e})")))?;
    let graph = model.graph.ok_or_else(|| AssetError::Onnx("the model has no graph".into()))?;
    let initialisers: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();

    let mut tensors = Vec::new();
    for init in &graph.initializer {
        if let Some(hf_name) = init.name.strip_prefix(prefix)
            && init.data_type == ONNX_FLOAT
        {
            tensors.push(float_tensor(hf_name.to_string(), init)?);
        }
    }
    // Node names look like `{node_prefix}encoder/layer.0/attention/self/query/MatMul`.
    for node in graph.node.iter().filter(|n| n.op_type == "MatMul") {
        let Some(weight) = node.input.get(1).and_then(|i| initialisers.get(i.as_str())) else {
            continue; // activation x activation (attention scores): no weight
        };
        let module = node
            .name
            .strip_prefix(node_prefix)
            .and_then(|n| n.strip_suffix("/MatMul"))
            .ok_or_else(|| AssetError::Onnx(format!("unexpected MatMul node name `{}`", node.name)))?;
        let in_out = float_tensor(format!("{}.weight", module.replace('/', ".")), weight)?;
        tensors.push(transpose(in_out)?);
    }
    if tensors.is_empty() {
        return Err(AssetError::Onnx(format!("no initialisers start with `{prefix}`")));
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

fn float_tensor(name: String, t: &TensorProto) -> Result<NamedTensor> {
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        t.float_data.clone()
    };
    if values.len() != shape.iter().product::<usize>() {
        return Err(AssetError::Onnx(format!("tensor {name}: {} values for shape {shape:?}", values.len())));
    }
    Ok(NamedTensor { name, shape, values })
}

fn transpose(t: NamedTensor) -> Result<NamedTensor> {
    let &[rows, cols] = t.shape.as_slice() else {
        return Err(AssetError::Onnx(format!("{} should be a matrix, has shape {:?}", t.name, t.shape)));
    };
    let mut values = vec![0f32; t.values.len()];
    for r in 0..rows {
        for c in 0..cols {
            values[c * rows + r] = t.values[r * cols + c];
        }
    }
    Ok(NamedTensor { name: t.name, shape: vec![cols, rows], values })
}

/// Serialises named f32 tensors as a safetensors file.
pub fn to_safetensors(tensors: &[NamedTensor]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), b)?;
            Ok((t.name.clone(), view))
        })
        .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()?;
    Ok(safetensors::serialize(views, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_layout() {
        let t = NamedTensor { name: "w".into(), shape: vec![2, 3], values: vec![1., 2., 3., 4., 5., 6.] };
        let tt = transpose(t).unwrap();
        assert_eq!(tt.shape, vec![3, 2]);
        assert_eq!(tt.values, vec![1., 4., 2., 5., 3., 6.]);
    }

    #[test]
    fn garbage_is_not_an_onnx_model() {
        assert!(hf_tensors_from_onnx(b"\xff\xff\xff not protobuf", "p.", "/p/").is_err());
    }
}
