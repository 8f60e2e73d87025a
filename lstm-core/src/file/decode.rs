//! Decoding the postcard-encoded [`Header`] in place.
//!
//! `postcard::take_from_bytes::<Header>` (serde) builds every field by value
//! and moves it through several frames on its way into the returned header:
//! on a Cortex-M that is several copies of the ~1 KiB header on the stack
//! (about 6 KiB). This decoder reads the same bytes straight into a header
//! that already lies where it will stay (a `static` on a device), so loading
//! needs no stack for the header at all.
//!
//! It accepts exactly what postcard 1 with serde's derive accepts for
//! [`Header`] (the unit tests compare the two on valid, corrupted and random
//! encodings): varints as postcard reads them (at most `ceil(bits / 7)`
//! bytes, the last one within the type's remaining bits; `usize` lengths as
//! wide as the target's `usize`), enum variants as `u32` varints, `f32` as 4
//! little-endian bytes, `u8` as one byte, `&str` as a length and UTF-8
//! bytes, and a heapless vector longer than its capacity as an error.
//! Encoding stays with serde and postcard (`write.rs`).

use heapless::Vec;

use crate::file::header::{Differencing, Header, Scaling, Task, TrainingMode};
use crate::num::NumberFormat;
use crate::shape::LayerShape;

/// The header does not decode (the caller reports it as
/// [`Error::Malformed`](crate::Error::Malformed)).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Undecodable;

type Result<T> = core::result::Result<T, Undecodable>;

/// The bytes not read yet.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self.bytes.split_first().ok_or(Undecodable)?;
        self.bytes = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(Undecodable);
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    /// A varint of an unsigned type of `BITS` bits, read as postcard does.
    fn varint<const BITS: u32>(&mut self) -> Result<u64> {
        let max_bytes = BITS.div_ceil(7);
        let max_last = (1u8 << (BITS % 7)) - 1;
        let mut out = 0u64;
        for i in 0..max_bytes {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max_bytes - 1 && b > max_last {
                    return Err(Undecodable);
                }
                return Ok(out);
            }
        }
        Err(Undecodable)
    }

    fn u16(&mut self) -> Result<u16> {
        u16::try_from(self.varint::<16>()?).map_err(|_| Undecodable)
    }

    fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.varint::<32>()?).map_err(|_| Undecodable)
    }

    /// A sequence or string length (postcard's `usize` varint).
    fn len(&mut self) -> Result<usize> {
        usize::try_from(self.varint::<{ usize::BITS }>()?).map_err(|_| Undecodable)
    }

    /// An enum's variant index.
    fn variant(&mut self) -> Result<u32> {
        self.u32()
    }

    fn f32(&mut self) -> Result<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn str(&mut self) -> Result<&'a str> {
        let n = self.len()?;
        core::str::from_utf8(self.take(n)?).map_err(|_| Undecodable)
    }

    /// A sequence into `out` (cleared first), one element at a time.
    fn seq<T, const N: usize>(
        &mut self,
        out: &mut Vec<T, N>,
        mut element: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<()> {
        out.clear();
        let n = self.len()?;
        if n > N {
            return Err(Undecodable);
        }
        for _ in 0..n {
            let v = element(self)?;
            out.push(v).map_err(|_| Undecodable)?;
        }
        Ok(())
    }

    fn format(&mut self) -> Result<NumberFormat> {
        match self.variant()? {
            0 => Ok(NumberFormat::F32),
            1 => Ok(NumberFormat::Q4_12),
            2 => Ok(NumberFormat::Q16_16),
            3 => Ok(NumberFormat::Q4_12W8),
            _ => Err(Undecodable),
        }
    }

    fn layer(&mut self) -> Result<LayerShape> {
        let variant = self.variant()?;
        if variant > 2 {
            return Err(Undecodable);
        }
        let (a, b) = (self.u32()?, self.u32()?);
        Ok(match variant {
            0 => LayerShape::Lstm {
                input: a,
                hidden: b,
            },
            1 => LayerShape::Dense {
                input: a,
                output: b,
            },
            _ => LayerShape::Gru {
                input: a,
                hidden: b,
            },
        })
    }

    /// A [`Scaling`], written into `out` where it lies.
    fn scaling(&mut self, out: &mut Scaling) -> Result<()> {
        match self.variant()? {
            0 => *out = Scaling::Identity,
            1 => {
                *out = Scaling::MinMax {
                    min: Vec::new(),
                    max: Vec::new(),
                };
                if let Scaling::MinMax { min, max } = out {
                    self.seq(min, Self::f32)?;
                    self.seq(max, Self::f32)?;
                }
            }
            2 => {
                *out = Scaling::Standard {
                    mean: Vec::new(),
                    std: Vec::new(),
                };
                if let Scaling::Standard { mean, std } = out {
                    self.seq(mean, Self::f32)?;
                    self.seq(std, Self::f32)?;
                }
            }
            3 => {
                *out = Scaling::SeriesStandard {
                    mean: Vec::new(),
                    std: Vec::new(),
                };
                if let Scaling::SeriesStandard { mean, std } = out {
                    self.seq(mean, Self::f32)?;
                    self.seq(std, Self::f32)?;
                }
            }
            _ => return Err(Undecodable),
        }
        Ok(())
    }

    fn mode(&mut self) -> Result<TrainingMode> {
        match self.variant()? {
            0 => Ok(TrainingMode::Stateful),
            1 => Ok(TrainingMode::Windowed {
                window: self.u32()?,
            }),
            _ => Err(Undecodable),
        }
    }

    /// A [`Task`], written into `out` where it lies.
    fn task(&mut self, out: &mut Task<'a>) -> Result<()> {
        match self.variant()? {
            0 => *out = Task::Regression,
            1 => {
                *out = Task::Classification {
                    classes: Vec::new(),
                };
                if let Task::Classification { classes } = out {
                    self.seq(classes, Self::str)?;
                }
            }
            _ => return Err(Undecodable),
        }
        Ok(())
    }

    /// A [`Differencing`], written into `out` where it lies.
    fn differencing(&mut self, out: &mut Differencing) -> Result<()> {
        match self.variant()? {
            0 => *out = Differencing::None,
            1 => {
                *out = Differencing::First {
                    targets: Vec::new(),
                };
                if let Differencing::First { targets } = out {
                    self.seq(targets, Self::byte)?;
                }
            }
            2 => {
                let lag = self.u16()?;
                *out = Differencing::Seasonal {
                    lag,
                    targets: Vec::new(),
                };
                if let Differencing::Seasonal { targets, .. } = out {
                    self.seq(targets, Self::byte)?;
                }
            }
            _ => return Err(Undecodable),
        }
        Ok(())
    }
}

/// Decodes the header of a file of format `version` from the start of
/// `bytes` into `out`, field by field where `out` lies, and returns the
/// bytes after it: the postcard-encoded [`Header`], then, from version 6,
/// [`Header::pool`] as a postcard `u16` varint (before version 6 the pool
/// is 1). On an error `out` holds a partly decoded header (valid values,
/// meaningless).
pub(crate) fn decode_header_into<'a>(
    out: &mut Header<'a>,
    bytes: &'a [u8],
    version: u16,
) -> Result<&'a [u8]> {
    let mut r = Reader { bytes };
    out.format = r.format()?;
    r.seq(&mut out.layers, Reader::layer)?;
    r.scaling(&mut out.input_scaling)?;
    r.scaling(&mut out.output_scaling)?;
    out.mode = r.mode()?;
    r.task(&mut out.task)?;
    r.differencing(&mut out.differencing)?;
    out.pool = if version >= POOL_VERSION {
        r.u16()?
    } else {
        crate::file::NO_POOL
    };
    Ok(r.bytes)
}

/// The first format version that stores [`Header::pool`].
pub(crate) const POOL_VERSION: u16 = 6;

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec as StdVec;
    use std::{format, vec};

    fn empty() -> Header<'static> {
        Header::EMPTY
    }

    /// Both decoders on `bytes`: the same header and rest, or both an error.
    /// (Compared by their encodings: bit for bit, NaN included.) Versions 2
    /// to 5 and version 6, where postcard reads the pool as a `u16` after
    /// the header.
    fn agree(bytes: &[u8]) -> bool {
        let mut any = false;
        for version in [5, POOL_VERSION] {
            let encode = |(h, rest): (Header<'_>, &[u8])| {
                (postcard::to_stdvec(&h).unwrap(), h.pool, rest.len())
            };
            let by_serde = postcard::take_from_bytes::<Header<'_>>(bytes)
                .ok()
                .and_then(|(mut h, rest)| {
                    if version < POOL_VERSION {
                        return Some((h, rest));
                    }
                    let (pool, rest) = postcard::take_from_bytes::<u16>(rest).ok()?;
                    h.pool = pool;
                    Some((h, rest))
                })
                .map(encode);
            let mut h = empty();
            let by_hand = decode_header_into(&mut h, bytes, version)
                .ok()
                .map(|rest| encode((h, rest)));
            assert_eq!(by_hand, by_serde, "version {version}, bytes {bytes:02x?}");
            any |= by_serde.is_some();
        }
        any
    }

    /// A header's bytes as a file of `version` holds them.
    fn encode(h: &Header<'_>, version: u16) -> StdVec<u8> {
        let mut bytes = postcard::to_stdvec(h).unwrap();
        if version >= POOL_VERSION {
            bytes.extend(postcard::to_stdvec(&h.pool).unwrap());
        }
        bytes
    }

    fn f32s(v: &[f32]) -> heapless::Vec<f32, 32> {
        heapless::Vec::from_slice(v).unwrap()
    }

    /// Headers covering every variant of every enum (not all valid models:
    /// the decoder does not validate).
    fn samples() -> StdVec<Header<'static>> {
        let layers = heapless::Vec::from_slice(&[
            LayerShape::Lstm {
                input: 3,
                hidden: 200,
            },
            LayerShape::Gru {
                input: 200,
                hidden: 70_000,
            },
            LayerShape::Dense {
                input: 70_000,
                output: u32::MAX,
            },
        ])
        .unwrap();
        let full = f32s(&[1.5; 32]);
        let base = Header {
            format: NumberFormat::Q4_12,
            layers,
            input_scaling: Scaling::MinMax {
                min: f32s(&[0.0, -1.0, f32::NAN]),
                max: f32s(&[10.0, 1.0, f32::INFINITY]),
            },
            output_scaling: Scaling::Standard {
                mean: full.clone(),
                std: f32s(&[]),
            },
            mode: TrainingMode::Windowed { window: 300 },
            task: Task::Classification {
                classes: heapless::Vec::from_slice(&["a", "", "größer", "ok"]).unwrap(),
            },
            differencing: Differencing::Seasonal {
                lag: u16::MAX,
                targets: heapless::Vec::from_slice(&[0, 255, 7]).unwrap(),
            },
            pool: crate::file::NO_POOL,
        };
        let mut all = vec![base.clone()];
        for format in NumberFormat::ALL {
            let mut h = base.clone();
            h.format = format;
            h.input_scaling = Scaling::Identity;
            h.output_scaling = Scaling::Identity;
            h.mode = TrainingMode::Stateful;
            h.task = Task::Regression;
            h.differencing = Differencing::First {
                targets: heapless::Vec::from_slice(&[1; 32]).unwrap(),
            };
            all.push(h);
        }
        let mut h = base.clone();
        h.input_scaling = Scaling::SeriesStandard {
            mean: f32s(&[0.25, -3.0]),
            std: f32s(&[1.0, f32::MIN_POSITIVE]),
        };
        h.output_scaling = Scaling::SeriesStandard {
            mean: f32s(&[]),
            std: full.clone(),
        };
        all.push(h);
        for pool in [2, 300, u16::MAX] {
            let mut h = base.clone();
            h.pool = pool;
            all.push(h);
        }
        let mut h = base.clone();
        h.layers.clear();
        h.differencing = Differencing::None;
        h.task = Task::Classification {
            classes: heapless::Vec::from_slice(&["x"; 32]).unwrap(),
        };
        all.push(h);
        all
    }

    #[test]
    fn every_sample_round_trips_and_agrees_with_postcard() {
        for h in samples() {
            let version = if h.pool == crate::file::NO_POOL {
                5
            } else {
                POOL_VERSION
            };
            let bytes = encode(&h, version);
            let mut out = empty();
            let rest = decode_header_into(&mut out, &bytes, version).unwrap();
            assert!(rest.is_empty());
            assert_eq!(format!("{out:?}"), format!("{h:?}")); // NaN != NaN
            assert_eq!(encode(&out, version), bytes);
            assert!(agree(&bytes));
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_agrees_with_postcard() {
        for h in samples() {
            let version = if h.pool == crate::file::NO_POOL {
                5
            } else {
                POOL_VERSION
            };
            let mut bytes = encode(&h, version);
            bytes.extend_from_slice(&[0x55, 0x80]);
            for n in 0..bytes.len() {
                agree(&bytes[..n]);
            }
            let mut decoded = 0;
            for bit in 0..bytes.len() * 8 {
                let mut b = bytes.clone();
                b[bit / 8] ^= 1 << (bit % 8);
                decoded += usize::from(agree(&b));
            }
            // Flips in values (sizes, floats, names) still decode: both
            // decoders were compared on successes too, not only on errors.
            assert!(
                decoded > bytes.len(),
                "{decoded} of {} flips decode",
                bytes.len() * 8
            );
        }
    }

    #[test]
    fn over_long_and_overflowing_varints_agree_with_postcard() {
        // Variant indices and lengths of 1 to 11 bytes, canonical or not,
        // with every last byte: where postcard draws the line.
        for len in 1..=11usize {
            for last in [0x00u8, 0x01, 0x02, 0x03, 0x04, 0x0f, 0x10, 0x7f] {
                let mut varint = vec![0x80u8; len - 1];
                varint.push(last);
                // As the format's variant.
                agree(&[varint.as_slice(), &[0, 0, 0, 0, 0, 0, 0]].concat());
                // As the layers' length.
                agree(&[&[1u8][..], &varint, &[0, 0, 0, 0, 0, 0]].concat());
                // As a layer's input size.
                agree(&[&[1u8, 1, 0][..], &varint, &[2, 0, 0, 0, 0, 0, 0]].concat());
                // As the seasonal lag (u16).
                agree(&[&[0u8, 0, 0, 0, 0, 0, 2][..], &varint, &[0]].concat());
                // As the pool (u16, version 6).
                agree(&[&[0u8, 0, 0, 0, 0, 0, 0][..], &varint].concat());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn random_bytes_agree_with_postcard(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            agree(&bytes);
        }

        #[test]
        fn small_random_bytes_agree_with_postcard(
            bytes in proptest::collection::vec(0u8..4, 0..40),
        ) {
            agree(&bytes);
        }

        #[test]
        fn corrupted_samples_agree_with_postcard(
            which in 0usize..9,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let h = &samples()[which];
            let mut bytes = postcard::to_stdvec(h).unwrap();
            for (at, v) in edits {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            agree(&bytes);
        }
    }
}
