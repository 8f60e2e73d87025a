//! Host build (`cargo run --target <host triple> -- <out file>`): runs the
//! same model file over the same inputs with the same `lstm-core` code on
//! the host and writes the outputs' raw little-endian bits, which the device
//! build embeds (`LSTM_EXPECTED`) and must reproduce bit for bit.

use std::io::Write as _;

use lstm_core::file::ModelFile;
use lstm_core::Scalar;

use crate::model::{self, data, Model, Streamer, IN, MACS_PER_STEP, OUT, T};

/// Computes the expected outputs; prints them, and writes their bits to the
/// file named by the first argument (if any).
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = ModelFile::parse(&model::MODEL.0)?;
    let model: Model<'_> = file.model::<T, Model<'_>>()?;
    let mut stream = Streamer::new(&model);
    let mut bytes = Vec::with_capacity(data::OUTPUTS * OUT * core::mem::size_of::<T>());
    let stdout = std::io::stdout();
    let mut log = stdout.lock();
    writeln!(
        log,
        "host (expected outputs for the {} build): {} {} {}, {} activations, {} streaming \
         ({} model steps/step(), {} MACs/model step), {} steps",
        model::MACHINE,
        model::MODEL_NAME,
        model::LAYERS,
        file.header.format,
        model::ACTIVATION,
        model::MODE,
        model::WINDOW,
        MACS_PER_STEP,
        data::STEPS
    )?;
    let mut io = model::Io::with_history(&file.header)?;
    for (t, raw) in data::INPUTS.iter().enumerate() {
        let mut x = [<T as Scalar>::ZERO; IN];
        if !io.input(raw, &mut x)? {
            writeln!(log, "step {t}: primes the difference")?;
            continue;
        }
        let y = stream.step(&x);
        for v in &y {
            bytes.extend_from_slice(bytemuck::bytes_of(v));
        }
        writeln!(
            log,
            "step {t}: y = {:?} bits {:x?}",
            model::raw_output(&io, &y),
            model::output_bits(&y)
        )?;
    }
    if let Some(out) = std::env::args_os().nth(1) {
        std::fs::write(&out, &bytes)?;
        writeln!(
            log,
            "wrote {} bytes to {}",
            bytes.len(),
            out.to_string_lossy()
        )?;
    }
    Ok(())
}
