//! `train synth --steps N --seed S --tick T --out data.csv`
//! `train fit --input data.csv --out weights.json [--tick T] [--warmup N] [--holdout F] [--l2 A]`

use std::process::ExitCode;

use strategy::features::FeatureParams;
use train::{dataset_from_csv, fit, synthetic_csv, FitOptions};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: Option<T>) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name}: invalid value")),
        None => default.ok_or(format!("{name} is required")),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("synth") => {
            let steps: usize = arg(args, "--steps", Some(100_000))?;
            let seed: u64 = arg(args, "--seed", Some(1))?;
            let tick: i64 = arg(args, "--tick", Some(100))?;
            let out: String = arg(args, "--out", None)?;
            std::fs::write(&out, synthetic_csv(steps, seed, tick)).map_err(|e| e.to_string())?;
            println!("wrote {steps} steps to {out}");
            Ok(())
        }
        Some("fit") => {
            let input: String = arg(args, "--input", None)?;
            let out: String = arg(args, "--out", None)?;
            let tick: i64 = arg(args, "--tick", Some(100))?;
            let warmup: u64 = arg(args, "--warmup", Some(20))?;
            let holdout: f64 = arg(args, "--holdout", Some(0.2))?;
            let l2: f64 = arg(args, "--l2", Some(FitOptions::default().l2))?;
            if !(0.0..1.0).contains(&holdout) {
                return Err("--holdout must be in [0, 1)".into());
            }
            let text = std::fs::read_to_string(&input).map_err(|e| format!("{input}: {e}"))?;
            let data = dataset_from_csv(&text, 1, FeatureParams::default_for_tick(tick), warmup)
                .map_err(|e| format!("{input}: {e}"))?;
            let (train_set, test_set) = data.split(1.0 - holdout);
            let trained = fit(
                &train_set,
                FitOptions {
                    l2,
                    ..FitOptions::default()
                },
            )
            .map_err(|e| e.to_string())?;
            std::fs::write(&out, trained.to_json()).map_err(|e| format!("{out}: {e}"))?;
            println!(
                "rows: {} train, {} held out; accuracy {:.4} train, {:.4} held out; weights → {out}",
                train_set.len(),
                test_set.len(),
                trained.accuracy(&train_set),
                if test_set.is_empty() { f64::NAN } else { trained.accuracy(&test_set) },
            );
            Ok(())
        }
        _ => Err("usage: train synth --out FILE [--steps N --seed S --tick T]\n       train fit --input CSV --out JSON [--tick T --warmup N --holdout F --l2 A]".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
