//! Logistic model of the next mid move, loaded from a JSON weights file.
//!
//! The trainer (`train` crate) writes, and the appliance reads:
//!
//! ```json
//! {"format":"strategy-logistic-v1",
//!  "features":["imbalance_l1", ... in FEATURE_NAMES order ...],
//!  "mean":[...], "scale":[...], "weights":[...], "intercept":-0.01}
//! ```
//!
//! `p(up) = 1 / (1 + exp(−(intercept + Σ wᵢ·(xᵢ − meanᵢ)/scaleᵢ)))`.
//!
//! Loading checks the format tag, that the feature names are exactly
//! [`FEATURE_NAMES`] in order (a model trained on other features, or on the
//! same ones in another order, is refused rather than silently misapplied),
//! that every array has one entry per feature, that every number is finite
//! and that scales are positive. Parsing is `serde-json-core`: no allocation,
//! floats parsed with `core`'s correctly rounded `f64::from_str`, so the
//! values written by the trainer (shortest round-trip form) come back bit
//! for bit.

use serde::Deserialize;

use crate::features::{FeatureVector, FEATURE_COUNT, FEATURE_NAMES};

/// Value of the `format` field this reader understands.
pub const WEIGHTS_FORMAT: &str = "strategy-logistic-v1";

/// Arrays longer than this are refused by the parser itself.
const MAX_LEN: usize = 32;

/// Why a weights file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelError {
    /// Not valid JSON for the schema (missing field, wrong type, too long).
    Json,
    /// `format` is not [`WEIGHTS_FORMAT`].
    Format,
    /// `features` has the wrong number of entries.
    FeatureCount { expected: usize, got: usize },
    /// `features[index]` is not the name this build computes at that index.
    FeatureName { index: usize },
    /// An array (named) does not have one entry per feature.
    Dimension { field: &'static str },
    /// A number (in the named field) is NaN or infinite.
    NotFinite { field: &'static str },
    /// `scale[index]` is zero or negative.
    Scale { index: usize },
}

#[derive(Deserialize)]
struct WeightsFile<'a> {
    format: &'a str,
    #[serde(borrow)]
    features: heapless::Vec<&'a str, MAX_LEN>,
    mean: heapless::Vec<f64, MAX_LEN>,
    scale: heapless::Vec<f64, MAX_LEN>,
    weights: heapless::Vec<f64, MAX_LEN>,
    intercept: f64,
}

/// A validated logistic model over [`FEATURE_NAMES`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logistic {
    mean: FeatureVector,
    scale: FeatureVector,
    /// `1/scale`, so inference multiplies instead of dividing.
    inv_scale: FeatureVector,
    weights: FeatureVector,
    intercept: f64,
}

fn array(field: &'static str, v: &[f64]) -> Result<FeatureVector, ModelError> {
    v.try_into().map_err(|_| ModelError::Dimension { field })
}

impl Logistic {
    /// Parses and validates a weights file.
    pub fn from_json(bytes: &[u8]) -> Result<Logistic, ModelError> {
        let (file, _) =
            serde_json_core::from_slice::<WeightsFile<'_>>(bytes).map_err(|_| ModelError::Json)?;
        if file.format != WEIGHTS_FORMAT {
            return Err(ModelError::Format);
        }
        if file.features.len() != FEATURE_COUNT {
            return Err(ModelError::FeatureCount {
                expected: FEATURE_COUNT,
                got: file.features.len(),
            });
        }
        if let Some(index) = file
            .features
            .iter()
            .zip(FEATURE_NAMES.iter())
            .position(|(got, want)| got != want)
        {
            return Err(ModelError::FeatureName { index });
        }
        Logistic::new(
            array("mean", &file.mean)?,
            array("scale", &file.scale)?,
            array("weights", &file.weights)?,
            file.intercept,
        )
    }

    /// A model from its parts, with the same checks as a weights file.
    pub fn new(
        mean: FeatureVector,
        scale: FeatureVector,
        weights: FeatureVector,
        intercept: f64,
    ) -> Result<Logistic, ModelError> {
        for (field, v) in [("mean", &mean), ("scale", &scale), ("weights", &weights)] {
            if !v.iter().all(|x| x.is_finite()) {
                return Err(ModelError::NotFinite { field });
            }
        }
        if !intercept.is_finite() {
            return Err(ModelError::NotFinite { field: "intercept" });
        }
        if let Some(index) = scale.iter().position(|&s| s <= 0.0) {
            return Err(ModelError::Scale { index });
        }
        Ok(Logistic {
            mean,
            scale,
            inv_scale: scale.map(|s| 1.0 / s),
            weights,
            intercept,
        })
    }

    /// A model that ignores the features: the probability
    /// `sigmoid(intercept)` whatever the market (a fixed opinion, for tests
    /// and as a placeholder until a trained model is loaded).
    pub fn constant(intercept: f64) -> Result<Logistic, ModelError> {
        Logistic::new(
            [0.0; FEATURE_COUNT],
            [1.0; FEATURE_COUNT],
            [0.0; FEATURE_COUNT],
            intercept,
        )
    }

    pub fn mean(&self) -> &FeatureVector {
        &self.mean
    }

    pub fn scale(&self) -> &FeatureVector {
        &self.scale
    }

    pub fn weights(&self) -> &FeatureVector {
        &self.weights
    }

    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// `intercept + Σ wᵢ·(xᵢ − meanᵢ)/scaleᵢ`, summed in feature order (the
    /// division is a multiplication by the precomputed reciprocal; the
    /// difference is within an ulp per term).
    #[inline]
    pub fn logit(&self, x: &FeatureVector) -> f64 {
        let mut z = 0.0;
        for (((w, x), m), r) in self
            .weights
            .iter()
            .zip(x)
            .zip(&self.mean)
            .zip(&self.inv_scale)
        {
            z += w * ((x - m) * r);
        }
        z + self.intercept
    }

    /// Probability that the next mid move is up.
    #[inline]
    pub fn probability(&self, x: &FeatureVector) -> f64 {
        sigmoid(self.logit(x))
    }
}

/// `1 / (1 + e^(−z))`.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-z))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"format":"strategy-logistic-v1",
        "features":["imbalance_l1","imbalance_depth","microprice_dev","ofi","trade_imbalance","spread","volatility"],
        "mean":[0,0,0,0,0,1.5,0.25],
        "scale":[1,1,1,1,1,0.5,0.5],
        "weights":[2.0,0,0,0,0,-1.0,0],
        "intercept":0.1}"#;

    #[test]
    fn parses_and_predicts() {
        let m = Logistic::from_json(GOOD.as_bytes()).unwrap();
        let x = [0.5, 0.3, 0.0, 0.0, 0.0, 2.0, 0.25];
        // z = 0.1 + 2·0.5 − 1·(2 − 1.5)/0.5 = 0.1
        assert!((m.logit(&x) - 0.1).abs() < 1e-15);
        assert!((m.probability(&x) - 1.0 / (1.0 + (-0.1f64).exp())).abs() < 1e-15);
        assert_eq!(sigmoid(0.0), 0.5);
    }

    #[test]
    fn a_constant_model_ignores_the_market() {
        let m = Logistic::constant(5.0).unwrap();
        for x in [[0.0; FEATURE_COUNT], [3.0, -2.0, 1.0, 9.0, -7.0, 0.5, 4.0]] {
            assert_eq!(m.logit(&x), 5.0);
            assert_eq!(m.probability(&x), sigmoid(5.0));
        }
        assert_eq!(
            Logistic::constant(f64::NAN).unwrap_err(),
            ModelError::NotFinite { field: "intercept" }
        );
    }

    #[test]
    fn floats_round_trip_exactly() {
        let v = 0.1f64 + 0.2; // 0.30000000000000004
        let text = GOOD.replace("\"intercept\":0.1", "\"intercept\":0.30000000000000004");
        let m = Logistic::from_json(text.as_bytes()).unwrap();
        assert_eq!(m.intercept.to_bits(), v.to_bits());
    }

    #[test]
    fn refuses_mismatched_files() {
        let err = |s: &str| Logistic::from_json(s.as_bytes()).unwrap_err();
        assert_eq!(err(&GOOD.replace("-v1", "-v2")), ModelError::Format);
        assert_eq!(
            err(&GOOD.replace("\"ofi\",", "")),
            ModelError::FeatureCount {
                expected: 7,
                got: 6
            }
        );
        assert_eq!(
            err(&GOOD.replace("\"ofi\"", "\"order_flow\"")),
            ModelError::FeatureName { index: 3 }
        );
        assert_eq!(
            err(&GOOD.replace(
                "\"imbalance_l1\",\"imbalance_depth\"",
                "\"imbalance_depth\",\"imbalance_l1\""
            )),
            ModelError::FeatureName { index: 0 }
        );
        assert_eq!(
            err(&GOOD.replace("[2.0,0,0,0,0,-1.0,0]", "[2.0,0,0,0,0,-1.0]")),
            ModelError::Dimension { field: "weights" }
        );
        assert_eq!(
            err(&GOOD.replace("[1,1,1,1,1,0.5,0.5]", "[1,1,1,1,0,0.5,0.5]")),
            ModelError::Scale { index: 4 }
        );
        assert_eq!(
            err(&GOOD.replace("\"intercept\":0.1", "\"intercept\":null")),
            ModelError::NotFinite { field: "intercept" }
        );
        assert_eq!(
            err(&GOOD.replace("[0,0,0,0,0,1.5,0.25]", "[0,0,0,null,0,1.5,0.25]")),
            ModelError::NotFinite { field: "mean" }
        );
        assert_eq!(err(&GOOD[..GOOD.len() - 5]), ModelError::Json);
        assert_eq!(err("garbage"), ModelError::Json);
        assert_eq!(err(""), ModelError::Json);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let _ = Logistic::from_json(&bytes);
            }

            #[test]
            fn mutated_good_file_never_panics(pos in 0usize..400, byte in any::<u8>()) {
                let mut b = GOOD.as_bytes().to_vec();
                let i = pos % b.len();
                b[i] = byte;
                let _ = Logistic::from_json(&b);
            }
        }
    }
}
