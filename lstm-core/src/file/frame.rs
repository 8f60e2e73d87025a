//! The frame around header and weights: magic, version, lengths, padding, CRC.

use crate::error::Error;
use crate::file::header::Header;
use crate::file::load::{FromModelFile, LayerReader};
use crate::num::Scalar;

/// The first four bytes of every model file.
pub const MAGIC: [u8; 4] = *b"LSTM";
/// The newest format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 4;
/// The oldest format version this build reads: version 2 is version 3
/// without [`Differencing::Seasonal`](crate::file::Differencing::Seasonal),
/// version 3 is version 4 without [`LayerShape::Gru`](crate::LayerShape::Gru),
/// and the writer still writes the lowest version that holds the file.
pub const OLDEST_VERSION: u16 = 2;

/// The lowest version that can hold `header` (what the writer writes): 4
/// with a GRU layer, 3 with seasonal differencing, else 2.
pub(crate) fn version_for(header: &Header<'_>) -> u16 {
    if header
        .layers
        .iter()
        .any(|l| matches!(l, crate::LayerShape::Gru { .. }))
    {
        4
    } else if let crate::file::Differencing::Seasonal { .. } = header.differencing {
        3
    } else {
        OLDEST_VERSION
    }
}
/// Bytes before the postcard header: magic, version, flags, two lengths.
pub const PREFIX_LEN: usize = 16;
/// The weights blob starts at a multiple of this offset from the file's start.
pub const WEIGHTS_ALIGN: usize = 16;
/// Bytes of the trailing CRC.
pub(crate) const CRC_LEN: usize = 4;

/// The checksum: CRC-32/ISO-HDLC (the zlib / Ethernet CRC), from the `crc` crate.
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Offset of the weights blob for a header of `header_len` bytes. `None` on overflow.
pub(crate) fn weights_offset(header_len: usize) -> Option<usize> {
    PREFIX_LEN
        .checked_add(header_len)?
        .checked_next_multiple_of(WEIGHTS_ALIGN)
}

/// A parsed, checked model file: its header and the bytes of its weights,
/// both borrowed from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile<'a> {
    /// The file's format version ([`OLDEST_VERSION`] to [`FORMAT_VERSION`]).
    pub version: u16,
    /// The decoded and validated header.
    pub header: Header<'a>,
    /// The weights blob (all layers, file order), little-endian values of `header.format`.
    pub weights: &'a [u8],
    /// The stored CRC-32.
    pub crc: u32,
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> ModelFile<'a> {
    /// Checks the frame (magic, version, lengths), the CRC over the whole file,
    /// decodes the header and validates it. Allocation-free.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let truncated = |needed| Error::Truncated {
            needed,
            found: bytes.len(),
        };
        if bytes.get(..4).is_some_and(|m| m != MAGIC) {
            return Err(Error::BadMagic);
        }
        let version = read_u16(bytes, 4).ok_or(truncated(PREFIX_LEN + CRC_LEN))?;
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let (Some(flags), Some(header_len), Some(weights_len)) =
            (read_u16(bytes, 6), read_u32(bytes, 8), read_u32(bytes, 12))
        else {
            return Err(truncated(PREFIX_LEN + CRC_LEN));
        };
        let header_len = header_len as usize;
        let weights_start =
            weights_offset(header_len).ok_or(Error::Malformed("header length overflows"))?;
        let weights_end = weights_start
            .checked_add(weights_len as usize)
            .ok_or(Error::Malformed("weights length overflows"))?;
        let total = weights_end
            .checked_add(CRC_LEN)
            .ok_or(Error::Malformed("file length overflows"))?;
        if bytes.len() < total {
            return Err(truncated(total));
        }
        if bytes.len() > total {
            return Err(Error::Malformed("bytes after the CRC"));
        }
        let (body, crc_bytes) = bytes.split_at(weights_end);
        let stored = read_u32(crc_bytes, 0).ok_or(truncated(total))?;
        let computed = CRC.checksum(body);
        if stored != computed {
            return Err(Error::CrcMismatch { stored, computed });
        }
        if flags != 0 {
            return Err(Error::Malformed("reserved flags are set"));
        }
        let header_bytes = body
            .get(PREFIX_LEN..PREFIX_LEN + header_len)
            .ok_or(truncated(total))?;
        let (header, rest): (Header<'a>, &[u8]) = postcard::take_from_bytes(header_bytes)
            .map_err(|_| Error::Malformed("header does not decode"))?;
        if !rest.is_empty() {
            return Err(Error::Malformed("bytes after the header"));
        }
        let padding = body
            .get(PREFIX_LEN + header_len..weights_start)
            .ok_or(truncated(total))?;
        if padding.iter().any(|&b| b != 0) {
            return Err(Error::Malformed("padding is not zero"));
        }
        header.validate()?;
        match version_for(&header) {
            4 if version < 4 => {
                return Err(Error::Malformed(
                    "a GRU layer in a file older than version 4",
                ))
            }
            3 if version < 3 => {
                return Err(Error::Malformed(
                    "seasonal differencing in a file of version 2",
                ))
            }
            _ => {}
        }
        if header.weights_len() != Some(weights_len as usize) {
            return Err(Error::Malformed(
                "weights length does not match the layer shapes",
            ));
        }
        let weights = body.get(weights_start..).ok_or(truncated(total))?;
        Ok(ModelFile {
            version,
            header,
            weights,
            crc: stored,
        })
    }

    /// Builds a typed model whose weights borrow this file's bytes.
    ///
    /// Fails with [`Error::FormatMismatch`] if `T` is not the file's format,
    /// [`Error::LayerCountMismatch`] / [`Error::ShapeMismatch`] if `M`'s layers
    /// differ from the file's, [`Error::Misaligned`] if the bytes do not start
    /// at a multiple of `T`'s alignment (see [`AlignedBytes`](crate::file::AlignedBytes)),
    /// and [`Error::Malformed`] on a non-finite `f32` weight.
    pub fn model<T: Scalar, M: FromModelFile<'a, T>>(&self) -> Result<M, Error> {
        if self.header.format != T::FORMAT {
            return Err(Error::FormatMismatch {
                expected: T::FORMAT,
                found: self.header.format,
            });
        }
        if M::LAYERS != self.header.layers.len() {
            return Err(Error::LayerCountMismatch {
                expected: M::LAYERS,
                found: self.header.layers.len(),
            });
        }
        let mut reader = LayerReader::new(&self.header.layers, self.weights);
        M::read(&mut reader)
    }
}
