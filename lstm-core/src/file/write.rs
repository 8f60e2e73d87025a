//! Writing model files (the trainer's export uses these; nothing else writes the format).

use crate::error::Error;
use crate::file::frame::{version_for, weights_offset, CRC, CRC_LEN, MAGIC, PREFIX_LEN};
use crate::file::header::Header;
use crate::num::{NumberFormat, Scalar, Q16_16, Q4_12};

/// Size of the file [`write_to_slice`] writes for `header`.
pub fn encoded_len(header: &Header<'_>) -> Result<usize, Error> {
    let header_len = postcard::experimental::serialized_size(header)
        .map_err(|_| Error::Malformed("header does not encode"))?
        + pool_len(header)?;
    let weights_len = header
        .weights_len()
        .ok_or(Error::Malformed("weights too large"))?;
    weights_offset(header_len)
        .and_then(|w| w.checked_add(weights_len))
        .and_then(|n| n.checked_add(CRC_LEN))
        .ok_or(Error::Malformed("file too large"))
}

/// Bytes of [`Header::pool`] after the postcard header: none below
/// version 6 (no pooling), else its `u16` varint.
fn pool_len(header: &Header<'_>) -> Result<usize, Error> {
    if version_for(header) < 6 {
        return Ok(0);
    }
    postcard::experimental::serialized_size(&header.pool)
        .map_err(|_| Error::Malformed("header does not encode"))
}

fn put_values<T: Scalar>(weights: &[f32], out: &mut [u8]) {
    for (chunk, &w) in out.chunks_exact_mut(core::mem::size_of::<T>()).zip(weights) {
        chunk.copy_from_slice(bytemuck::bytes_of(&T::from_f32(w)));
    }
}

/// Writes a model file into `out`, converting `weights` (all layers' weights
/// and biases in file order, see `FORMAT.md`) from `f32` to `header.format`
/// by rounding to nearest and saturating. Returns the number of bytes written.
///
/// The header is validated first; `weights` must hold exactly
/// [`Header::parameter_count`] values, all finite.
pub fn write_to_slice(
    header: &Header<'_>,
    weights: &[f32],
    out: &mut [u8],
) -> Result<usize, Error> {
    header.validate()?;
    if Some(weights.len()) != header.parameter_count() {
        return Err(Error::Malformed(
            "number of weights does not match the layer shapes",
        ));
    }
    if !weights.iter().all(|w| w.is_finite()) {
        return Err(Error::Malformed("a weight is not finite"));
    }
    let total = encoded_len(header)?;
    let available = out.len();
    let out = out.get_mut(..total).ok_or(Error::BufferTooSmall {
        needed: total,
        available,
    })?;
    out.fill(0);
    let mut header_len = postcard::to_slice(header, out.get_mut(PREFIX_LEN..).unwrap_or_default())
        .map_err(|_| Error::Malformed("header does not encode"))?
        .len();
    if pool_len(header)? > 0 {
        // Version 6: the pool right after the postcard header.
        header_len += postcard::to_slice(
            &header.pool,
            out.get_mut(PREFIX_LEN + header_len..).unwrap_or_default(),
        )
        .map_err(|_| Error::Malformed("header does not encode"))?
        .len();
    }
    let weights_start = weights_offset(header_len).ok_or(Error::Malformed("file too large"))?;
    let weights_len = total - CRC_LEN - weights_start;
    let prefix = [
        &MAGIC[..],
        &version_for(header).to_le_bytes(),
        &0u16.to_le_bytes(),
        &(header_len as u32).to_le_bytes(),
        &(weights_len as u32).to_le_bytes(),
    ];
    let too_small = Error::BufferTooSmall {
        needed: total,
        available,
    };
    let (body, crc_out) = out.split_at_mut(total - CRC_LEN);
    let mut at = 0;
    for part in prefix {
        body.get_mut(at..at + part.len())
            .ok_or(too_small)?
            .copy_from_slice(part);
        at += part.len();
    }
    let blob = body.get_mut(weights_start..).ok_or(too_small)?;
    match header.format {
        NumberFormat::F32 => put_values::<f32>(weights, blob),
        NumberFormat::Q4_12 => put_values::<Q4_12>(weights, blob),
        NumberFormat::Q16_16 => put_values::<Q16_16>(weights, blob),
        NumberFormat::Q4_12W8 => crate::w8::put_weights(&header.layers, weights, blob),
    }
    crc_out.copy_from_slice(&CRC.checksum(body).to_le_bytes());
    Ok(total)
}

/// [`write_to_slice`] into a new `Vec`.
#[cfg(feature = "std")]
pub fn to_vec(header: &Header<'_>, weights: &[f32]) -> Result<std::vec::Vec<u8>, Error> {
    let mut out = std::vec![0u8; encoded_len(header)?];
    let n = write_to_slice(header, weights, &mut out)?;
    out.truncate(n);
    Ok(out)
}
