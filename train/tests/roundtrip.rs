//! Train on synthetic data → weights file → the appliance's no_std
//! inference reproduces the trainer's probabilities.

use strategy::features::FeatureParams;
use strategy::model::Logistic;
use train::{dataset_from_csv, fit, synthetic_csv, FitOptions};

#[test]
fn no_std_inference_reproduces_trainer_probabilities() {
    let tick = 100;
    let csv = synthetic_csv(20_000, 7, tick);
    let data = dataset_from_csv(&csv, 1, FeatureParams::default_for_tick(tick), 20).unwrap();
    assert!(data.len() > 10_000, "{} rows", data.len());
    let (train_set, held_out) = data.split(0.8);
    let trained = fit(&train_set, FitOptions::default()).unwrap();

    // The signal is in the top-of-book imbalance (and the micro-price, which
    // is the imbalance times half the spread here).
    let m = &trained.model;
    assert!(m.weights()[0] + m.weights()[2] > 0.3, "{m:?}");
    let acc = trained.accuracy(&held_out);
    assert!(acc > 0.6, "held-out accuracy {acc}");

    let json = trained.to_json();
    let loaded = Logistic::from_json(json.as_bytes()).unwrap();
    assert_eq!(&loaded, m, "weights survive the file bit for bit");

    let expected = trained.predict(&held_out.rows);
    let mut worst = 0.0f64;
    for (row, want) in held_out.rows.iter().zip(&expected) {
        let got = loaded.probability(row);
        worst = worst.max((got - want).abs());
    }
    eprintln!(
        "held-out rows {}, accuracy {acc:.4}, max |Δp| {worst:e}",
        held_out.len()
    );
    assert!(worst <= 1e-9, "max |Δp| = {worst:e}");
}

#[test]
fn weights_file_names_every_feature() {
    let csv = synthetic_csv(3_000, 3, 100);
    let data = dataset_from_csv(&csv, 1, FeatureParams::default_for_tick(100), 20).unwrap();
    let trained = fit(&data, FitOptions::default()).unwrap();
    let json = trained.to_json();
    for name in strategy::features::FEATURE_NAMES {
        assert!(json.contains(&format!("\"{name}\"")), "{name}");
    }
    // A file with a renamed feature is refused by the appliance.
    let bad = json.replace("\"ofi\"", "\"flow\"");
    assert!(Logistic::from_json(bad.as_bytes()).is_err());
}
