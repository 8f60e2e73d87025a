//! The frame around header and weights: magic, version, lengths, padding, CRC.

use core::mem::MaybeUninit;

use crate::error::Error;
use crate::file::decode::decode_header_into;
use crate::file::header::Header;
use crate::file::load::{FromModelFile, LayerReader};
use crate::num::Scalar;

/// The first four bytes of every model file.
pub const MAGIC: [u8; 4] = *b"LSTM";
/// The newest format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 8;
/// The oldest format version this build reads: version 2 is version 3
/// without [`Differencing::Seasonal`](crate::file::Differencing::Seasonal),
/// version 3 is version 4 without [`LayerShape::Gru`](crate::LayerShape::Gru),
/// version 4 is version 5 without [`Scaling::SeriesStandard`](crate::file::Scaling::SeriesStandard),
/// version 5 is version 6 without [`Header::pool`] (the varint after the
/// header), version 6 is version 8 without
/// [`NumberFormat::Q4_12W8`](crate::NumberFormat::Q4_12W8), and the writer
/// still writes the lowest version that holds the file. Version 7 (8-bit
/// weights in row order, before their pair layout) is refused:
/// [`RETIRED_VERSION`].
pub const OLDEST_VERSION: u16 = 2;

/// A version this build refuses although it lies between
/// [`OLDEST_VERSION`] and [`FORMAT_VERSION`]: version 7 stored
/// [`NumberFormat::Q4_12W8`](crate::NumberFormat::Q4_12W8) weights row by
/// row; version 8 stores them in row pairs (`lstm-core/FORMAT.md`), so a
/// version-7 file must be exported again.
pub const RETIRED_VERSION: u16 = 7;

/// The lowest version that can hold `header` (what the writer writes): 8
/// with 8-bit weights, 6 with input pooling, 5 with per-series
/// normalisation, 4 with a GRU layer, 3 with seasonal differencing, else 2.
pub(crate) fn version_for(header: &Header<'_>) -> u16 {
    if crate::w8::is_w8(header.format) {
        8
    } else if header.pool != crate::file::NO_POOL {
        6
    } else if header.input_scaling.per_series() || header.output_scaling.per_series() {
        5
    } else if header
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

/// The checksum as a `static`: one table in flash that [`ModelFile::parse`]
/// reads in place (a `const` may be copied where it is used).
static CRC_TABLE: crc::Crc<u32> = CRC;

impl<'a> ModelFile<'a> {
    /// The value a slot starts from before a file is parsed into it.
    const EMPTY: Self = ModelFile {
        version: 0,
        header: Header::EMPTY,
        weights: &[],
        crc: 0,
    };

    /// Checks the frame (magic, version, lengths), the CRC over the whole file,
    /// decodes the header and validates it. Allocation-free.
    ///
    /// The parsed file (about 1 KiB: the header's vectors are inline) is
    /// returned by value; on a device with little stack use
    /// [`ModelFile::parse_into`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut file = Self::EMPTY;
        file.fill(bytes)?;
        Ok(file)
    }

    /// [`ModelFile::parse`] into `slot` (e.g. a `static` the firmware owns):
    /// the header is decoded field by field where it will stay, so loading
    /// never holds a copy of it on the stack. The same checks and errors as
    /// [`ModelFile::parse`]; on an error the slot holds an unspecified
    /// (but initialised) value and may be parsed into again.
    ///
    /// ```
    /// # use lstm_core::file::{to_vec, AlignedBuf, Differencing, Header, ModelFile, Scaling, Task, TrainingMode};
    /// # use lstm_core::{LayerShape, NumberFormat};
    /// # let header = Header {
    /// #     format: NumberFormat::F32,
    /// #     layers: heapless::Vec::from_slice(&[
    /// #         LayerShape::Lstm { input: 1, hidden: 2 },
    /// #         LayerShape::Dense { input: 2, output: 1 },
    /// #     ]).unwrap(),
    /// #     input_scaling: Scaling::Identity,
    /// #     output_scaling: Scaling::Identity,
    /// #     mode: TrainingMode::Stateful,
    /// #     task: Task::Regression,
    /// #     differencing: Differencing::None,
    /// #     pool: 1,
    /// # };
    /// # let bytes = to_vec(&header, &vec![0.0; header.parameter_count().unwrap()]).unwrap();
    /// # let mut buf = AlignedBuf([0u8; 256]);
    /// # buf.0[..bytes.len()].copy_from_slice(&bytes);
    /// # let bytes = &buf.0[..bytes.len()];
    /// use core::mem::MaybeUninit;
    /// // On a device: `static mut` / `cortex_m::singleton!` / a `StaticCell`.
    /// let mut slot = MaybeUninit::uninit();
    /// let file: &ModelFile = ModelFile::parse_into(&mut slot, bytes).unwrap();
    /// assert_eq!(file.header, header);
    /// ```
    pub fn parse_into<'s>(
        slot: &'s mut MaybeUninit<Self>,
        bytes: &'a [u8],
    ) -> Result<&'s Self, Error> {
        let file = slot.write(Self::EMPTY);
        file.fill(bytes)?;
        Ok(file)
    }

    /// The checks of [`ModelFile::parse`], writing the result into `self`.
    fn fill(&mut self, bytes: &'a [u8]) -> Result<(), Error> {
        let truncated = |needed| Error::Truncated {
            needed,
            found: bytes.len(),
        };
        if bytes.get(..4).is_some_and(|m| m != MAGIC) {
            return Err(Error::BadMagic);
        }
        let version = read_u16(bytes, 4).ok_or(truncated(PREFIX_LEN + CRC_LEN))?;
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) || version == RETIRED_VERSION {
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
        let computed = CRC_TABLE.checksum(body);
        if stored != computed {
            return Err(Error::CrcMismatch { stored, computed });
        }
        if flags != 0 {
            return Err(Error::Malformed("reserved flags are set"));
        }
        let header_bytes = body
            .get(PREFIX_LEN..PREFIX_LEN + header_len)
            .ok_or(truncated(total))?;
        let rest = decode_header_into(&mut self.header, header_bytes, version)
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
        let header = &self.header;
        header.validate()?;
        match version_for(header) {
            8 if version < 8 => {
                return Err(Error::Malformed(
                    "8-bit weights in a file older than version 8",
                ))
            }
            5 if version < 5 => {
                return Err(Error::Malformed(
                    "per-series normalisation in a file older than version 5",
                ))
            }
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
        self.weights = body.get(weights_start..).ok_or(truncated(total))?;
        self.version = version;
        self.crc = stored;
        Ok(())
    }

    /// Builds a typed model whose weights borrow this file's bytes.
    ///
    /// Fails with [`Error::FormatMismatch`] if `T` is not the file's format,
    /// [`Error::LayerCountMismatch`] / [`Error::ShapeMismatch`] if `M`'s layers
    /// differ from the file's, [`Error::Misaligned`] if the bytes do not start
    /// at a multiple of `T`'s alignment (see [`AlignedBytes`](crate::file::AlignedBytes)),
    /// and [`Error::Malformed`] on a non-finite `f32` weight.
    pub fn model<T: Scalar, M: FromModelFile<'a, T>>(&self) -> Result<M, Error> {
        let expected = if M::W8 { T::FORMAT_W8 } else { Some(T::FORMAT) };
        if expected != Some(self.header.format) {
            return Err(Error::FormatMismatch {
                expected: expected.unwrap_or(T::FORMAT),
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
