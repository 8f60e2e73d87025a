//! Plots with `plotters` (pure Rust, no system fonts): predictions against
//! truth on a split, and the training / validation loss per epoch.
//!
//! The format follows the file extension: `.png` (rendered to an RGB
//! buffer and encoded with the `png` crate) or `.svg`. Either way the image
//! is built in memory and written with [`crate::io::write_atomic`], so a
//! failed run never leaves a half-written picture. Text uses DejaVu Sans,
//! bundled in `assets/` (Bitstream Vera licence, see
//! `assets/DejaVuSans-LICENSE.txt`) and registered with `ab_glyph` at first
//! use.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::artifact::TrainedModel;
use crate::evaluate::{predict_with, ClassPredictions, ForecastPredictions, Predictions, Split};
use crate::fit::{FitError, History, Result, TaskData};
use crate::io;

/// The bundled font (DejaVu Sans).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Font family name under which the bundled font is registered.
const FAMILY: &str = "sans-serif";

/// Picture size in pixels (PNG) or user units (SVG).
pub const SIZE: (u32, u32) = (960, 540);

/// Registers the bundled font once; returns the error text if it failed.
fn ensure_font() -> std::result::Result<(), String> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the bundled font could not be loaded".to_string())
    })
    .clone()
}

/// Image format, from a file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// Portable Network Graphics.
    Png,
    /// Scalable Vector Graphics.
    Svg,
}

impl ImageFormat {
    /// The format of `path` by its extension (`png` or `svg`, any case).
    ///
    /// Errors: [`FitError::Plot`] for another extension.
    pub fn of_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            _ => Err(FitError::Plot {
                path: path.to_path_buf(),
                reason: "unknown image format: use a .png or .svg file name".into(),
            }),
        }
    }
}

type DrawResult = std::result::Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Writes `bytes` atomically, mapping errors.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    io::write_atomic(path, bytes)?;
    Ok(())
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    Ok(out)
}

/// Draws with a generic drawing function into `path` (PNG or SVG).
macro_rules! render_to {
    ($path:expr, $draw:ident, $($arg:expr),*) => {{
        let path: &Path = $path;
        let fail = |reason: String| FitError::Plot { path: path.to_path_buf(), reason };
        let format = ImageFormat::of_path(path)?;
        ensure_font().map_err(fail)?;
        let bytes = match format {
            ImageFormat::Png => {
                let mut buf = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
                {
                    let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
                    $draw(&root, $($arg),*).map_err(fail)?;
                    root.present().map_err(|e| fail(err(e)))?;
                }
                encode_png(&buf, SIZE).map_err(fail)?
            }
            ImageFormat::Svg => {
                let mut text = String::new();
                {
                    let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
                    $draw(&root, $($arg),*).map_err(fail)?;
                    root.present().map_err(|e| fail(err(e)))?;
                }
                text.into_bytes()
            }
        };
        write(path, &bytes)
    }};
}

/// Range `[lo, hi]` of finite values with a 5 % margin (a unit range if
/// empty or flat).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        0.05 * span
    } else {
        0.5f64.max(lo.abs() * 0.05)
    };
    (lo - pad, hi + pad)
}

fn draw_forecast<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &ForecastPredictions,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let n = p.truth.len();
    let (y0, y1) = padded_range(p.truth.iter().chain(&p.pred).copied());
    let x0 = p.rows.first().copied().unwrap_or(0) as f64;
    let x1 = (p.rows.last().copied().unwrap_or(0) as f64).max(x0 + 1.0);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 24))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("row ({} split, {n} steps)", p.split.name()))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("value (original units)")
        .label_style((FAMILY, 14))
        .draw()
        .map_err(err)?;
    let truth: Vec<(f64, f64)> = p
        .rows
        .iter()
        .zip(&p.truth)
        .map(|(&r, &v)| (r as f64, v))
        .collect();
    let pred: Vec<(f64, f64)> = p
        .rows
        .iter()
        .zip(&p.pred)
        .map(|(&r, &v)| (r as f64, v))
        .collect();
    chart
        .draw_series(LineSeries::new(truth, BLACK.stroke_width(2)))
        .map_err(err)?
        .label("truth")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(pred, RED.stroke_width(2)))
        .map_err(err)?
        .label("LSTM one-step-ahead")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

fn draw_confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &ClassPredictions,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let k = p.classes.len().max(1);
    let mut m = vec![vec![0usize; k]; k];
    for (&t, &q) in p.truth.iter().zip(&p.pred) {
        if t < k && q < k {
            m[t][q] += 1;
        }
    }
    let max = m.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let correct = p.truth.iter().zip(&p.pred).filter(|(a, b)| a == b).count();
    let caption = format!(
        "{title} — accuracy {:.4} ({correct}/{})",
        if p.truth.is_empty() {
            0.0
        } else {
            correct as f64 / p.truth.len() as f64
        },
        p.truth.len()
    );
    // Cell centres are at `i + 0.5`; the x axis lists the classes left to
    // right, the y axis top to bottom (row `t` is drawn at `k - 1 - t`).
    let name_at = |v: f64, from_top: bool| -> String {
        let i = v.floor();
        if i < 0.0 || (i as usize) >= k || (v - i - 0.5).abs() > 1e-9 {
            return String::new();
        }
        let i = i as usize;
        let idx = if from_top { k - 1 - i } else { i };
        p.classes.get(idx).cloned().unwrap_or_default()
    };
    let x_label = |v: &f64| name_at(*v, false);
    let y_label = |v: &f64| name_at(*v, true);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..k as f64, 0f64..k as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted class")
        .y_desc("true class")
        .x_labels(2 * k + 1)
        .y_labels(2 * k + 1)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style((FAMILY, 14))
        .draw()
        .map_err(err)?;
    for (t, row) in m.iter().enumerate() {
        for (q, &c) in row.iter().enumerate() {
            let a = c as f64 / max;
            let shade = (255.0 * (1.0 - 0.8 * a)) as u8;
            let color = RGBColor(shade, shade, 255);
            // true class t drawn from the top
            let y = (k - 1 - t) as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(q as f64, y), (q as f64 + 1.0, y + 1.0)],
                    color.filled(),
                )))
                .map_err(err)?;
            let text_color = if a > 0.6 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(
                    c.to_string(),
                    (q as f64 + 0.45, y + 0.55),
                    (FAMILY, 18).into_font().color(&text_color),
                )))
                .map_err(err)?;
        }
    }
    Ok(())
}

fn draw_history<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    h: &History,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let train: Vec<(f64, f64)> = h
        .epochs
        .iter()
        .filter(|r| r.loss.is_finite())
        .map(|r| (r.epoch as f64, r.loss))
        .collect();
    let val: Vec<(f64, f64)> = h
        .epochs
        .iter()
        .filter_map(|r| {
            r.val_loss
                .filter(|v| v.is_finite())
                .map(|v| (r.epoch as f64, v))
        })
        .collect();
    let (_, y1) = padded_range(train.iter().chain(&val).map(|p| p.1));
    let y1 = y1.max(1e-12);
    let x1 = (h.epochs.len() as f64).max(2.0);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 24))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(1f64..x1, 0f64..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("loss")
        .label_style((FAMILY, 14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("training loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    if !val.is_empty() {
        chart
            .draw_series(LineSeries::new(val, RED.stroke_width(2)))
            .map_err(err)?
            .label("validation loss")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Draws predictions against truth: two lines over the split's rows
/// (forecasting) or a confusion-matrix heat map (classification), to
/// `path` (`.png` or `.svg`, written atomically).
///
/// Errors: [`FitError::Plot`] (unknown extension, drawing failed),
/// [`FitError::Io`].
pub fn plot_predictions(pred: &Predictions, path: &Path, title: &str) -> Result<()> {
    match pred {
        Predictions::Forecast(p) => render_to!(path, draw_forecast, p, title),
        Predictions::Classify(p) => render_to!(path, draw_confusion, p, title),
    }
}

/// Predicts the test split of `data` with `model` (un-differenced for a
/// model trained on differences, [`predict_with`]) and draws the
/// predictions against the truth to `path` ([`plot_predictions`]).
///
/// Errors: those of [`predict_with`] and [`plot_predictions`].
pub fn plot_test_predictions(model: &TrainedModel, data: &TaskData, path: &Path) -> Result<()> {
    let pred = predict_with(model, data, Split::Test, model.difference)?;
    plot_predictions(&pred, path, "test split: predictions vs truth")
}

/// Draws the training and validation loss per epoch to `path` (`.png` or
/// `.svg`, written atomically).
///
/// Errors: [`FitError::Plot`] (unknown extension, drawing failed),
/// [`FitError::Io`].
pub fn plot_history(history: &History, path: &Path, title: &str) -> Result<()> {
    render_to!(path, draw_history, history, title)
}
