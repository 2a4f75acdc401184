//! An ONNX graph of a BERT-style encoder from its f32 weights: the peer's copy of e5.
//!
//! No registry ships multilingual-e5-small as ONNX in the form Flicktune reads it (the
//! packed 4-bit file, dequantised, with its English + Portuguese vocabulary), so the
//! engine benchmark writes one from the very tensors Flicktune's engine loads. The graph
//! is the one a PyTorch export of Hugging Face's BERT gives, written out op by op
//! (opset 17): embeddings and LayerNorm, then per layer `MatMul`+`Add` projections,
//! scaled dot-product attention with an additive padding mask, GELU as
//! `x * 0.5 * (1 + erf(x / sqrt 2))`, residual LayerNorms. onnxruntime recognises these
//! patterns and fuses them as it does an exported model's. Inputs `input_ids` and
//! `attention_mask` (`[batch, tokens]`, int64); output `last_hidden_state`.

use std::collections::HashMap;

use anyhow::{Context, Result, ensure};
use prost::Message;

use flicktune::assets::onnx::{
    ATTRIBUTE_FLOAT, ATTRIBUTE_INT, ATTRIBUTE_INTS, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    ONNX_FLOAT, ONNX_INT64, OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto, transposed,
};
use flicktune::encoders::bert::BertConfig;
use flicktune::encoders::weights::FloatTensor;

/// The graph's output: the encoder's last hidden state, `[batch, tokens, hidden]`.
pub const HIDDEN_OUTPUT: &str = "last_hidden_state";
const OPSET: i64 = 17;
/// IR version 8 is the first to know opset 17.
const IR_VERSION: i64 = 8;

/// The serialised ONNX model of the encoder with `config` and `tensors` (Hugging Face
/// BERT names and layouts, as Flicktune's readers give them).
pub fn bert_onnx(config: &BertConfig, tensors: &[FloatTensor]) -> Result<Vec<u8>> {
    let weights: HashMap<&str, (&[usize], &[f32])> =
        tensors.iter().map(|(name, shape, values)| (name.as_str(), (shape.as_slice(), values.as_slice()))).collect();
    let mut graph = Builder { weights, nodes: Vec::new(), initialisers: Vec::new() };
    let hidden = graph.encoder(config)?;
    graph.node_to("Identity", &[&hidden], &[], HIDDEN_OUTPUT);

    let ids_type = |name: &str| value_info(name, ONNX_INT64, &[Dim::Named("batch"), Dim::Named("tokens")]);
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "flicktune-bench".into(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        graph: Some(GraphProto {
            name: "bert".into(),
            node: graph.nodes,
            initializer: graph.initialisers,
            input: vec![ids_type("input_ids"), ids_type("attention_mask")],
            output: vec![value_info(
                HIDDEN_OUTPUT,
                ONNX_FLOAT,
                &[Dim::Named("batch"), Dim::Named("tokens"), Dim::Size(config.hidden_size as i64)],
            )],
        }),
    };
    Ok(model.encode_to_vec())
}

/// One dimension of a graph input or output: a fixed size, or a name that varies per run.
enum Dim {
    Size(i64),
    Named(&'static str),
}

/// A graph input or output: its element type and dimensions.
fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Size(size) => Dimension { dim_value: Some(*size), dim_param: None },
            Dim::Named(param) => Dimension { dim_value: None, dim_param: Some((*param).into()) },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto { elem_type, shape: Some(TensorShapeProto { dim }) }),
        }),
    }
}

struct Builder<'a> {
    weights: HashMap<&'a str, (&'a [usize], &'a [f32])>,
    nodes: Vec<NodeProto>,
    initialisers: Vec<TensorProto>,
}

impl<'a> Builder<'a> {
    fn encoder(&mut self, config: &BertConfig) -> Result<String> {
        let eps = config.layer_norm_eps as f32;
        let hidden = config.hidden_size;
        ensure!(
            config.num_attention_heads > 0 && hidden.is_multiple_of(config.num_attention_heads),
            "heads must divide hidden"
        );
        let head = hidden / config.num_attention_heads;

        // Embeddings: words, positions 0..tokens, token type 0 (Flicktune feeds no others).
        let words = self.weight("embeddings.word_embeddings.weight")?;
        let words = self.node("Gather", &[&words, "input_ids"], &[]);
        let shape = self.node("Shape", &["input_ids"], &[]);
        let one = self.int64s("one", &[], &[1]);
        let tokens = self.node("Gather", &[&shape, &one], &[int("axis", 0)]);
        let zero = self.int64s("zero", &[], &[0]);
        let positions = self.node("Range", &[&zero, &tokens, &one], &[]);
        let position_table = self.weight("embeddings.position_embeddings.weight")?;
        let positions = self.node("Gather", &[&position_table, &positions], &[]);
        let (type_shape, type_table) = self.lookup("embeddings.token_type_embeddings.weight")?;
        ensure!(type_shape.len() == 2 && type_shape[1] == hidden, "token type embeddings have shape {type_shape:?}");
        let type_zero = type_table[..hidden].to_vec();
        let type_zero = self.floats("token_type_0", &[hidden], &type_zero);
        let sum = self.node("Add", &[&words, &positions], &[]);
        let sum = self.node("Add", &[&sum, &type_zero], &[]);
        let mut x = self.layer_norm(&sum, "embeddings.LayerNorm", eps)?;

        // Padding mask as an additive bias on the scores: 0 for tokens, the lowest f32 for pads.
        let mask = self.node("Cast", &["attention_mask"], &[int("to", ONNX_FLOAT as i64)]);
        let one_f = self.floats("one_f", &[], &[1.0]);
        let pads = self.node("Sub", &[&one_f, &mask], &[]);
        let lowest = self.floats("lowest", &[], &[f32::MIN]);
        let bias = self.node("Mul", &[&pads, &lowest], &[]);
        let axes = self.int64s("mask_axes", &[2], &[1, 2]);
        let bias = self.node("Unsqueeze", &[&bias, &axes], &[]);

        let split_heads = self.int64s("split_heads", &[4], &[0, 0, config.num_attention_heads as i64, head as i64]);
        let merge_heads = self.int64s("merge_heads", &[3], &[0, 0, hidden as i64]);
        let sqrt_head = self.floats("sqrt_head", &[], &[(head as f32).sqrt()]);
        let sqrt_two = self.floats("sqrt_two", &[], &[std::f32::consts::SQRT_2]);
        let half = self.floats("half", &[], &[0.5]);
        for layer in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{layer}");
            let heads = |b: &mut Self, name: &str, perm: &[i64]| -> Result<String> {
                let projected = b.linear(&x, &format!("{p}.attention.self.{name}"))?;
                let split = b.node("Reshape", &[&projected, &split_heads], &[]);
                Ok(b.node("Transpose", &[&split], &[ints("perm", perm)]))
            };
            let q = heads(self, "query", &[0, 2, 1, 3])?;
            let k = heads(self, "key", &[0, 2, 3, 1])?;
            let v = heads(self, "value", &[0, 2, 1, 3])?;
            let scores = self.node("MatMul", &[&q, &k], &[]);
            let scores = self.node("Div", &[&scores, &sqrt_head], &[]);
            let scores = self.node("Add", &[&scores, &bias], &[]);
            let attention = self.node("Softmax", &[&scores], &[int("axis", -1)]);
            let context = self.node("MatMul", &[&attention, &v], &[]);
            let context = self.node("Transpose", &[&context], &[ints("perm", &[0, 2, 1, 3])]);
            let context = self.node("Reshape", &[&context, &merge_heads], &[]);
            let attended = self.linear(&context, &format!("{p}.attention.output.dense"))?;
            let residual = self.node("Add", &[&attended, &x], &[]);
            x = self.layer_norm(&residual, &format!("{p}.attention.output.LayerNorm"), eps)?;

            let up = self.linear(&x, &format!("{p}.intermediate.dense"))?;
            let scaled = self.node("Div", &[&up, &sqrt_two], &[]);
            let erf = self.node("Erf", &[&scaled], &[]);
            let erf = self.node("Add", &[&erf, &one_f], &[]);
            let gelu = self.node("Mul", &[&up, &erf], &[]);
            let gelu = self.node("Mul", &[&gelu, &half], &[]);
            let down = self.linear(&gelu, &format!("{p}.output.dense"))?;
            let residual = self.node("Add", &[&down, &x], &[]);
            x = self.layer_norm(&residual, &format!("{p}.output.LayerNorm"), eps)?;
        }
        Ok(x)
    }

    /// `x @ W^T + b` for the Linear `module` (`[out, in]` weight stored as `[in, out]`).
    fn linear(&mut self, x: &str, module: &str) -> Result<String> {
        let name = format!("{module}.weight");
        let (shape, values) = self.lookup(&name)?;
        let &[rows, cols] = shape else { anyhow::bail!("{name} should be a matrix, has shape {shape:?}") };
        let values = transposed(rows, cols, values);
        let weight = self.floats(&name, &[cols, rows], &values);
        let bias = self.weight(&format!("{module}.bias"))?;
        let product = self.node("MatMul", &[x, &weight], &[]);
        Ok(self.node("Add", &[&product, &bias], &[]))
    }

    fn layer_norm(&mut self, x: &str, module: &str, eps: f32) -> Result<String> {
        let gamma = self.weight(&format!("{module}.weight"))?;
        let beta = self.weight(&format!("{module}.bias"))?;
        Ok(self.node("LayerNormalization", &[x, &gamma, &beta], &[int("axis", -1), float("epsilon", eps)]))
    }

    fn lookup(&self, name: &str) -> Result<(&'a [usize], &'a [f32])> {
        self.weights.get(name).copied().with_context(|| format!("the encoder's weights lack `{name}`"))
    }

    /// The named weight as an initialiser, as it is.
    fn weight(&mut self, name: &str) -> Result<String> {
        let (shape, values) = self.lookup(name)?;
        Ok(self.floats(name, shape, values))
    }

    fn floats(&mut self, name: &str, shape: &[usize], values: &[f32]) -> String {
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initialiser(name, shape, ONNX_FLOAT, raw_data)
    }

    fn int64s(&mut self, name: &str, shape: &[usize], values: &[i64]) -> String {
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initialiser(name, shape, ONNX_INT64, raw_data)
    }

    fn initialiser(&mut self, name: &str, shape: &[usize], data_type: i32, raw_data: Vec<u8>) -> String {
        let dims = shape.iter().map(|&d| d as i64).collect();
        self.initialisers.push(TensorProto { dims, data_type, name: name.into(), raw_data, ..Default::default() });
        name.into()
    }

    /// Adds a node with one output, named after the node, and returns that name.
    fn node(&mut self, op_type: &str, inputs: &[&str], attribute: &[AttributeProto]) -> String {
        let name = format!("{op_type}_{}", self.nodes.len());
        self.node_to(op_type, inputs, attribute, &name);
        name
    }

    fn node_to(&mut self, op_type: &str, inputs: &[&str], attribute: &[AttributeProto], output: &str) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|i| (*i).to_string()).collect(),
            output: vec![output.into()],
            name: format!("{op_type}_{}", self.nodes.len()),
            op_type: op_type.into(),
            attribute: attribute.to_vec(),
        });
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i, r#type: ATTRIBUTE_INT, ..Default::default() }
}

fn ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: ints.to_vec(), r#type: ATTRIBUTE_INTS, ..Default::default() }
}

fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.into(), f, r#type: ATTRIBUTE_FLOAT, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (BertConfig, Vec<FloatTensor>) {
        let config: BertConfig = serde_json::from_value(serde_json::json!({
            "vocab_size": 5, "hidden_size": 4, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 8, "max_position_embeddings": 6, "type_vocab_size": 1,
            "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
            "pad_token_id": 0
        }))
        .unwrap();
        let mut tensors: Vec<FloatTensor> = Vec::new();
        let mut add = |name: String, shape: Vec<usize>| {
            let n = shape.iter().product::<usize>();
            tensors.push((name, shape, (0..n).map(|i| i as f32 / 10.0).collect()));
        };
        add("embeddings.word_embeddings.weight".into(), vec![5, 4]);
        add("embeddings.position_embeddings.weight".into(), vec![6, 4]);
        add("embeddings.token_type_embeddings.weight".into(), vec![1, 4]);
        add("embeddings.LayerNorm.weight".into(), vec![4]);
        add("embeddings.LayerNorm.bias".into(), vec![4]);
        for l in 0..2 {
            let p = format!("encoder.layer.{l}");
            for (m, out, inp) in [
                ("attention.self.query", 4, 4),
                ("attention.self.key", 4, 4),
                ("attention.self.value", 4, 4),
                ("attention.output.dense", 4, 4),
                ("intermediate.dense", 8, 4),
                ("output.dense", 4, 8),
            ] {
                add(format!("{p}.{m}.weight"), vec![out, inp]);
                add(format!("{p}.{m}.bias"), vec![out]);
            }
            for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
                add(format!("{p}.{ln}.weight"), vec![4]);
                add(format!("{p}.{ln}.bias"), vec![4]);
            }
        }
        (config, tensors)
    }

    #[test]
    fn the_graph_holds_every_weight_once_linears_transposed() {
        let (config, tensors) = tiny();
        let bytes = bert_onnx(&config, &tensors).unwrap();
        let model = ModelProto::decode(bytes.as_slice()).unwrap();
        let graph = model.graph.unwrap();
        assert_eq!(model.opset_import[0].version, OPSET);
        assert_eq!(graph.output[0].name, HIDDEN_OUTPUT);
        assert_eq!(graph.node.last().unwrap().output, vec![HIDDEN_OUTPUT.to_string()]);
        // Every weight but the token-type table (replaced by its row 0) is an initialiser.
        for (name, shape, _) in tensors.iter().filter(|(n, ..)| !n.contains("token_type")) {
            let init = graph.initializer.iter().find(|t| &t.name == name).unwrap_or_else(|| panic!("{name}"));
            let dims: Vec<usize> = init.dims.iter().map(|&d| d as usize).collect();
            let expected = if name.ends_with("dense.weight") || (name.contains("self.") && name.ends_with(".weight")) {
                vec![shape[1], shape[0]]
            } else {
                shape.clone()
            };
            assert_eq!(dims, expected, "{name}");
        }
        // Every node input is a graph input, an initialiser or an earlier node's output.
        let mut known: Vec<String> = vec!["input_ids".into(), "attention_mask".into()];
        known.extend(graph.initializer.iter().map(|t| t.name.clone()));
        for node in &graph.node {
            for input in &node.input {
                assert!(known.contains(input), "{} reads `{input}` before it exists", node.name);
            }
            known.extend(node.output.iter().cloned());
        }
        assert_eq!(graph.node.iter().filter(|n| n.op_type == "Softmax").count(), 2);
    }

    #[test]
    fn a_missing_weight_is_named() {
        let (config, mut tensors) = tiny();
        tensors.retain(|(n, ..)| n != "encoder.layer.1.output.dense.bias");
        let err = bert_onnx(&config, &tensors).unwrap_err().to_string();
        assert!(err.contains("encoder.layer.1.output.dense.bias"), "{err}");
    }
}
