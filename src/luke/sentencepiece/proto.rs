//! The parts of a SentencePiece `ModelProto` (`sentencepiece.bpe.model`) that encoding needs,
//! read straight from the protobuf wire format.
//!
//! Only a handful of scalar fields are used, so a 60-line wire reader replaces a protobuf
//! toolchain and generated code. Field numbers follow `sentencepiece_model.proto`.

use anyhow::{bail, Result};

/// How a piece takes part in encoding (`SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

#[derive(Debug, Clone)]
pub struct Piece {
    pub text: String,
    pub score: f32,
    pub kind: PieceKind,
}

/// `NormalizerSpec`: the character map and the whitespace rules.
#[derive(Debug, Clone)]
pub struct NormalizerSpec {
    pub name: String,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

/// `TrainerSpec.model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    Unigram,
    Bpe,
    Word,
    Char,
}

#[derive(Debug, Clone)]
pub struct ModelProto {
    pub pieces: Vec<Piece>,
    pub model_type: ModelType,
    pub unk_id: usize,
    pub byte_fallback: bool,
    pub treat_whitespace_as_suffix: bool,
    pub normalizer: NormalizerSpec,
}

impl ModelProto {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut model = ModelProto {
            pieces: Vec::new(),
            model_type: ModelType::Unigram,
            unk_id: 0,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            normalizer: NormalizerSpec {
                name: String::new(),
                precompiled_charsmap: Vec::new(),
                add_dummy_prefix: true,
                remove_extra_whitespaces: true,
                escape_whitespaces: true,
            },
        };
        let mut wire = Wire::new(bytes);
        while let Some((field, kind)) = wire.key()? {
            match (field, kind) {
                (1, LEN) => model.pieces.push(parse_piece(wire.bytes()?)?),
                (2, LEN) => parse_trainer(wire.bytes()?, &mut model)?,
                (3, LEN) => parse_normalizer(wire.bytes()?, &mut model.normalizer)?,
                _ => wire.skip(kind)?,
            }
        }
        if model.pieces.is_empty() {
            bail!("no pieces: not a SentencePiece model");
        }
        if model.unk_id >= model.pieces.len() {
            bail!("unk_id {} is outside the {} pieces", model.unk_id, model.pieces.len());
        }
        Ok(model)
    }
}

fn parse_piece(bytes: &[u8]) -> Result<Piece> {
    let mut piece = Piece {
        text: String::new(),
        score: 0.0,
        kind: PieceKind::Normal,
    };
    let mut wire = Wire::new(bytes);
    while let Some((field, kind)) = wire.key()? {
        match (field, kind) {
            (1, LEN) => piece.text = utf8(wire.bytes()?)?,
            (2, FIXED32) => piece.score = f32::from_bits(wire.fixed32()?),
            (3, VARINT) => {
                piece.kind = match wire.varint()? {
                    1 => PieceKind::Normal,
                    2 => PieceKind::Unknown,
                    3 => PieceKind::Control,
                    4 => PieceKind::UserDefined,
                    5 => PieceKind::Unused,
                    6 => PieceKind::Byte,
                    other => bail!("piece {:?} has unknown type {other}", piece.text),
                }
            }
            _ => wire.skip(kind)?,
        }
    }
    Ok(piece)
}

fn parse_trainer(bytes: &[u8], model: &mut ModelProto) -> Result<()> {
    let mut wire = Wire::new(bytes);
    while let Some((field, kind)) = wire.key()? {
        match (field, kind) {
            (3, VARINT) => {
                model.model_type = match wire.varint()? {
                    1 => ModelType::Unigram,
                    2 => ModelType::Bpe,
                    3 => ModelType::Word,
                    4 => ModelType::Char,
                    other => bail!("unknown model_type {other}"),
                }
            }
            (24, VARINT) => model.treat_whitespace_as_suffix = wire.varint()? != 0,
            (35, VARINT) => model.byte_fallback = wire.varint()? != 0,
            // int32 fields are sign-extended varints; a negative unk_id is as wrong as a huge one.
            (40, VARINT) => model.unk_id = usize::try_from(wire.varint()? as i64).unwrap_or(usize::MAX),
            _ => wire.skip(kind)?,
        }
    }
    Ok(())
}

fn parse_normalizer(bytes: &[u8], spec: &mut NormalizerSpec) -> Result<()> {
    let mut wire = Wire::new(bytes);
    while let Some((field, kind)) = wire.key()? {
        match (field, kind) {
            (1, LEN) => spec.name = utf8(wire.bytes()?)?,
            (2, LEN) => spec.precompiled_charsmap = wire.bytes()?.to_vec(),
            (3, VARINT) => spec.add_dummy_prefix = wire.varint()? != 0,
            (4, VARINT) => spec.remove_extra_whitespaces = wire.varint()? != 0,
            (5, VARINT) => spec.escape_whitespaces = wire.varint()? != 0,
            _ => wire.skip(kind)?,
        }
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| anyhow::anyhow!("a string field is not UTF-8"))
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over protobuf wire-format bytes; every read is bounds-checked.
struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The next field number and wire type, or `None` at the end.
    fn key(&mut self) -> Result<Option<(u64, u8)>> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        Ok(Some((key >> 3, (key & 7) as u8)))
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                bail!("truncated varint at byte {}", self.pos);
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("varint longer than 10 bytes at byte {}", self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            bail!("field of {n} bytes at byte {} runs past the end", self.pos);
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        self.take(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn fixed32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, kind: u8) -> Result<()> {
        match kind {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            other => bail!("unsupported wire type {other} at byte {}", self.pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        // Field 1 (pieces), length 5, but only two bytes follow.
        assert!(ModelProto::parse(&[0x0a, 0x05, 0x0a, 0x01]).is_err());
        assert!(ModelProto::parse(&[0xff; 12]).is_err());
        assert!(ModelProto::parse(b"").is_err());
    }

    #[test]
    fn reads_pieces_and_specs() {
        // pieces { piece: "a" score: 0.5 type: NORMAL } trainer_spec { model_type: BPE unk_id: 0 }
        let mut bytes = vec![0x0a, 0x0a, 0x0a, 0x01, b'a', 0x15];
        bytes.extend(0.5f32.to_le_bytes());
        bytes.extend([0x18, 0x01]);
        bytes.extend([0x12, 0x02, 0x18, 0x02]);
        bytes.extend([0x1a, 0x02, 0x18, 0x00]); // normalizer_spec { add_dummy_prefix: false }
        let model = ModelProto::parse(&bytes).unwrap();
        assert_eq!(model.pieces[0].text, "a");
        assert_eq!(model.pieces[0].score, 0.5);
        assert_eq!(model.model_type, ModelType::Bpe);
        assert!(!model.normalizer.add_dummy_prefix);
        assert!(model.normalizer.remove_extra_whitespaces);
    }
}
