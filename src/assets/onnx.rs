//! Recovering HF-named BERT weights from an exported ONNX graph.
//!
//! paraphrase-MiniLM-L3-v2 reaches us only as an ONNX file. Its LayerNorm, bias and
//! embedding initialisers keep their Hugging Face names (under a prefix), but the
//! exporter renamed the eighteen Linear weights to `onnx::MatMul_N` and stored them as
//! `x @ W` (`[in, out]`). The MatMul *node* names still spell the module path, so each
//! weight gets its HF name from the node that consumes it, transposed to `[out, in]`.
//!
//! Only the protobuf fields Flicktune uses are declared (prost derives the coding); the
//! benchmark writes its graphs with the same messages.

use std::collections::HashMap;

use prost::Message;

use super::error::{AssetError, Result};

// The ONNX messages, with the fields Flicktune reads here and writes for the benchmark's
// graphs (`flicktune-bench engine`); field numbers as in onnx.proto.

#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// A node attribute; `r#type` says which field holds the value (`ATTRIBUTE_*`).
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

pub const ATTRIBUTE_FLOAT: i32 = 1;
pub const ATTRIBUTE_INT: i32 = 2;
pub const ATTRIBUTE_INTS: i32 = 7;

#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

/// A graph input or output: its name and tensor type.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// A known size (`dim_value`) or a named, free one (`dim_param`, such as "batch").
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

pub const ONNX_FLOAT: i32 = 1;
pub const ONNX_INT64: i32 = 7;

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
    Ok(NamedTensor { name: t.name, shape: vec![cols, rows], values: transposed(rows, cols, &t.values) })
}

/// A row-major `rows x cols` matrix as `cols x rows`: PyTorch's `[out, in]` Linear weight
/// as ONNX's `x @ W` wants it, and back.
pub fn transposed(rows: usize, cols: usize, values: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
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
