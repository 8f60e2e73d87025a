//! `lstm-train eval`: the test metric of a trained model next to the
//! baselines, optionally also of an exported model file run by `lstm-core`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lstm_train::artifact::TrainedModel;
use lstm_train::core_runner::Activations;
use lstm_train::evaluate::{evaluate_model, EvalOptions};
use lstm_train::export::score_file;
use lstm_train::fit::TaskData;
use lstm_train::plot::plot_test_predictions;

use super::ActivationArg;

/// Arguments of `eval`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lstm-train eval --model runs/airline/trained.json --season 12
  lstm-train eval --model runs/airline/trained.json --core airline.lstm
  lstm-train eval --model runs/gunpoint/trained.json --metrics gunpoint-metrics.json --plot gunpoint.png

The data and splits are rebuilt from what trained.json records; the test
split is scored in original units next to the baselines (naive and
seasonal naive for forecasting, majority class for classification).")]
pub struct EvalArgs {
    /// The trained model (trained.json).
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Season length m of the seasonal-naive baseline (forecasting)
    /// [default: the --season given to `fit`, recorded in trained.json].
    #[arg(long)]
    pub season: Option<usize>,
    /// Write the evaluation as JSON to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Draw the test predictions against the truth to this .png / .svg.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Also score this exported model file, run by lstm-core in its own number format.
    #[arg(long)]
    pub core: Option<PathBuf>,
    /// lstm-core activations for --core (default: fast for fixed point, exact for f32).
    #[arg(long, value_enum, requires = "core")]
    pub activations: Option<ActivationArg>,
}

/// Runs `eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let model = TrainedModel::load(&args.model)
        .with_context(|| format!("loading the trained model `{}`", args.model.display()))?;
    let data = TaskData::load(&model.data).context("rebuilding the data recorded in the model")?;
    // The season given to `fit --season` is recorded in trained.json.
    let opts = EvalOptions {
        season: args.season.or(model.season),
    };
    // A model trained with `fit --difference` is fed the differenced series
    // and scored in original units.
    if let TaskData::Classify(d) = &data {
        if let Some(note) = &d.length_note {
            eprintln!("{note}");
        }
    }
    let eval = evaluate_model(&model, &data, &opts).context("evaluating on the test split")?;
    print!("{}", eval.table());
    for w in lstm_train::run::chance_warning(&eval)
        .into_iter()
        .chain(lstm_train::run::baseline_warning(&eval))
    {
        eprintln!("{w}");
    }
    if let Some(path) = &args.metrics {
        eval.write_json(path)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        plot_test_predictions(&model, &data, path)?;
        println!("wrote {}", path.display());
    }
    if let Some(core) = &args.core {
        let score = score_file(&model, core, args.activations.map(Activations::from))?;
        println!("trainer f32:                          {}", score.trainer);
        println!(
            "{} via lstm-core ({} activations): {} ({} vs the trainer)",
            core.display(),
            score.activations,
            score.core,
            score.trainer.change(&score.core)
        );
    }
    Ok(())
}
