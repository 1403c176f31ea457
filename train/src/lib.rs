//! Host-side training of the strategy crate's next-move model.
//!
//! The pipeline is: book events (from a CSV of snapshots and trades here;
//! from the ITCH replay and the real book later, through
//! [`DatasetBuilder::push`]) → the appliance's own feature code
//! ([`strategy::features::FeatureState`]) → labelled rows → standardisation →
//! logistic regression fitted with `linfa-logistic` → a weights file that
//! [`strategy::model::Logistic::from_json`] loads on the appliance.
//!
//! # Labels
//!
//! A row is taken after every two-sided BBO update (after the update has
//! been applied to the features, exactly as the signal strategy does). Its
//! label is the direction of the *next change* of the mid price: `true` for
//! up. Rows after the last mid change have no label and are dropped.

use std::fmt;

use linfa::prelude::*;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use ndarray::{Array1, Array2};
use serde::Serialize;
use strategy::depth::SnapshotDepth;
use strategy::features::{
    FeatureParams, FeatureState, FeatureVector, FEATURE_COUNT, FEATURE_NAMES,
};
use strategy::model::{Logistic, WEIGHTS_FORMAT};
use types::{BookEvent, DepthView, Level, Nanos, Price, Side, StockLocate};

/// Labelled feature rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub rows: Vec<FeatureVector>,
    /// `true` when the next mid move was up.
    pub labels: Vec<bool>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// First `fraction` of the rows (in time order) and the rest.
    pub fn split(&self, fraction: f64) -> (Dataset, Dataset) {
        let cut = ((self.len() as f64) * fraction).round() as usize;
        let cut = cut.min(self.len());
        (
            Dataset {
                rows: self.rows[..cut].to_vec(),
                labels: self.labels[..cut].to_vec(),
            },
            Dataset {
                rows: self.rows[cut..].to_vec(),
                labels: self.labels[cut..].to_vec(),
            },
        )
    }
}

/// Turns a stream of book events for one instrument into labelled rows.
#[derive(Debug, Clone)]
pub struct DatasetBuilder {
    features: FeatureState,
    warmup: u64,
    /// Rows waiting for the next mid change, all taken at `pending_mid2`.
    pending: Vec<FeatureVector>,
    pending_mid2: Option<i64>,
    out: Dataset,
}

impl DatasetBuilder {
    /// `warmup`: BBO updates to skip before taking rows (EWMAs start at 0).
    pub fn new(
        locate: StockLocate,
        params: FeatureParams,
        warmup: u64,
    ) -> Result<Self, strategy::ParamError> {
        Ok(DatasetBuilder {
            features: FeatureState::new(locate, params)?,
            warmup,
            pending: Vec::new(),
            pending_mid2: None,
            out: Dataset::default(),
        })
    }

    /// Applies one event; `depth` must already reflect it.
    pub fn push(&mut self, event: &BookEvent, depth: &dyn DepthView) {
        self.features.on_event(event);
        let BookEvent::Bbo { locate, bbo, .. } = *event else {
            return;
        };
        if locate != self.features.locate() {
            return;
        }
        let Some((b, a)) = strategy::tick::two_sided(&bbo) else {
            return;
        };
        let mid2 = b.price.0 + a.price.0;
        if let Some(prev) = self.pending_mid2 {
            if mid2 != prev {
                let up = mid2 > prev;
                for row in self.pending.drain(..) {
                    self.out.rows.push(row);
                    self.out.labels.push(up);
                }
            }
        }
        self.pending_mid2 = Some(mid2);
        if self.features.bbo_updates() <= self.warmup {
            return;
        }
        if let Some(v) = self.features.vector(depth) {
            self.pending.push(v);
        }
    }

    /// The labelled rows; unlabelled trailing rows are dropped.
    pub fn finish(self) -> Dataset {
        self.out
    }
}

/// Builds a dataset from `(event, depth after the event)` pairs.
pub fn build_dataset<'a, I>(
    locate: StockLocate,
    params: FeatureParams,
    warmup: u64,
    events: I,
) -> Result<Dataset, strategy::ParamError>
where
    I: IntoIterator<Item = (BookEvent, &'a dyn DepthView)>,
{
    let mut b = DatasetBuilder::new(locate, params, warmup)?;
    for (e, d) in events {
        b.push(&e, d);
    }
    Ok(b.finish())
}

/// Per-feature mean and standard deviation (population) of a dataset; a
/// constant feature gets scale 1 so it standardises to 0, not NaN.
pub fn standardizer(data: &Dataset) -> (FeatureVector, FeatureVector) {
    let n = data.len().max(1) as f64;
    let mut mean = [0.0; FEATURE_COUNT];
    for r in &data.rows {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += x / n;
        }
    }
    let mut var = [0.0; FEATURE_COUNT];
    for r in &data.rows {
        for ((v, x), m) in var.iter_mut().zip(r).zip(&mean) {
            *v += (x - m) * (x - m) / n;
        }
    }
    let scale = var.map(|v| if v > 1e-24 { v.sqrt() } else { 1.0 });
    (mean, scale)
}

/// Standardises rows exactly as [`Logistic::logit`] does: `(x − mean)/scale`.
pub fn standardize(
    rows: &[FeatureVector],
    mean: &FeatureVector,
    scale: &FeatureVector,
) -> Array2<f64> {
    let mut m = Array2::zeros((rows.len(), FEATURE_COUNT));
    for (i, r) in rows.iter().enumerate() {
        for j in 0..FEATURE_COUNT {
            m[[i, j]] = (r[j] - mean[j]) / scale[j];
        }
    }
    m
}

/// Why training failed.
#[derive(Debug)]
pub enum TrainError {
    /// Both labels are needed.
    OneClass,
    Linfa(linfa_logistic::error::Error),
    /// The fit produced a model the appliance would refuse (non-finite).
    Model(strategy::model::ModelError),
    Csv {
        line: usize,
        reason: String,
    },
    Io(std::io::Error),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::OneClass => write!(f, "training data has only one label"),
            TrainError::Linfa(e) => write!(f, "logistic regression failed: {e}"),
            TrainError::Model(e) => write!(f, "fitted model is invalid: {e:?}"),
            TrainError::Csv { line, reason } => write!(f, "line {line}: {reason}"),
            TrainError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TrainError {}

/// A fitted model: the linfa fit, and the same model as the appliance sees it.
pub struct Trained {
    fitted: FittedLogisticRegression<f64, bool>,
    /// linfa's positive class is the majority label; when that is `false`
    /// the weights are negated so the file always predicts P(up).
    flipped: bool,
    pub model: Logistic,
}

/// Training options.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// L2 penalty (linfa `alpha`).
    pub l2: f64,
    pub max_iterations: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            l2: 1e-4,
            max_iterations: 200,
        }
    }
}

/// Fits a logistic regression with linfa on standardised features.
pub fn fit(data: &Dataset, opts: FitOptions) -> Result<Trained, TrainError> {
    if !data.labels.iter().any(|&l| l) || data.labels.iter().all(|&l| l) {
        return Err(TrainError::OneClass);
    }
    let (mean, scale) = standardizer(data);
    let x = standardize(&data.rows, &mean, &scale);
    let y = Array1::from(data.labels.clone());
    let ds = linfa::Dataset::new(x, y);
    let fitted = LogisticRegression::default()
        .alpha(opts.l2)
        .max_iterations(opts.max_iterations)
        .fit(&ds)
        .map_err(TrainError::Linfa)?;
    let flipped = !fitted.labels().pos.class;
    let sign = if flipped { -1.0 } else { 1.0 };
    let mut weights = [0.0; FEATURE_COUNT];
    for (w, p) in weights.iter_mut().zip(fitted.params().iter()) {
        *w = sign * p;
    }
    let model = Logistic::new(mean, scale, weights, sign * fitted.intercept())
        .map_err(TrainError::Model)?;
    Ok(Trained {
        fitted,
        flipped,
        model,
    })
}

impl Trained {
    /// linfa's P(up) for raw (unstandardised) rows.
    pub fn predict(&self, rows: &[FeatureVector]) -> Vec<f64> {
        let x = standardize(rows, self.model.mean(), self.model.scale());
        let p = self.fitted.predict_probabilities(&x);
        p.iter()
            .map(|&p| if self.flipped { 1.0 - p } else { p })
            .collect()
    }

    /// Share of rows whose predicted direction matches the label.
    pub fn accuracy(&self, data: &Dataset) -> f64 {
        let p = self.predict(&data.rows);
        let hits = p
            .iter()
            .zip(&data.labels)
            .filter(|(p, &l)| (**p >= 0.5) == l)
            .count();
        hits as f64 / data.len().max(1) as f64
    }

    /// The weights file.
    pub fn to_json(&self) -> String {
        weights_json(&self.model)
    }
}

#[derive(Serialize)]
struct WeightsFile<'a> {
    format: &'a str,
    features: &'a [&'a str],
    mean: &'a [f64],
    scale: &'a [f64],
    weights: &'a [f64],
    intercept: f64,
}

/// Serialises a model in the format [`Logistic::from_json`] reads. Floats
/// are written in shortest round-trip form, so they load back bit for bit.
pub fn weights_json(m: &Logistic) -> String {
    let file = WeightsFile {
        format: WEIGHTS_FORMAT,
        features: &FEATURE_NAMES,
        mean: m.mean(),
        scale: m.scale(),
        weights: m.weights(),
        intercept: m.intercept(),
    };
    // Serialising plain numbers and strings cannot fail.
    serde_json::to_string_pretty(&file).unwrap_or_default()
}

/// Most levels a CSV snapshot row may carry per side.
pub const CSV_MAX_LEVELS: usize = 10;

/// Replays a CSV of book snapshots and trades for one instrument.
///
/// Lines (after an optional header starting with `kind`; `#` lines and
/// blank lines are skipped), prices as price4 integers:
///
/// ```text
/// Q,<ts_ns>,<levels>,<bid_px_1>,<bid_qty_1>,…,<bid_px_n>,<bid_qty_n>,<ask_px_1>,<ask_qty_1>,…
/// T,<ts_ns>,<price>,<qty>,<resting side: B, S or ->
/// ```
///
/// Each `Q` row replaces the book and yields a BBO event; each `T` row a
/// trade event. `visit` sees every event with the book as it stands after it.
pub fn replay_csv(
    text: &str,
    locate: StockLocate,
    mut visit: impl FnMut(&BookEvent, &dyn DepthView),
) -> Result<usize, TrainError> {
    let mut depth: SnapshotDepth<1, CSV_MAX_LEVELS> = SnapshotDepth::new();
    let mut events = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("kind") {
            continue;
        }
        let bad = |reason: &str| TrainError::Csv {
            line: line_no,
            reason: reason.to_string(),
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let int = |k: usize, what: &str| -> Result<i64, TrainError> {
            f.get(k)
                .ok_or_else(|| bad(&format!("missing {what}")))?
                .parse::<i64>()
                .map_err(|_| bad(&format!("{what} is not an integer")))
        };
        let ts = Nanos(u64::try_from(int(1, "timestamp")?).map_err(|_| bad("negative timestamp"))?);
        let event = match f.first().copied() {
            Some("Q") => {
                let n =
                    usize::try_from(int(2, "level count")?).map_err(|_| bad("bad level count"))?;
                if n == 0 || n > CSV_MAX_LEVELS {
                    return Err(bad("level count must be 1..=10"));
                }
                if f.len() != 3 + 4 * n {
                    return Err(bad("field count does not match the level count"));
                }
                let side_levels = |start: usize| -> Result<Vec<Level>, TrainError> {
                    let mut v = Vec::with_capacity(n);
                    for k in 0..n {
                        let px = int(start + 2 * k, "price")?;
                        let qty = int(start + 2 * k + 1, "quantity")?;
                        if px <= 0 || px > Price::ITCH_MAX.0 || qty < 0 {
                            return Err(bad(
                                "prices must be in 1..=4294967295 and quantities >= 0",
                            ));
                        }
                        if qty > 0 {
                            v.push(Level {
                                price: Price(px),
                                qty: qty as u64,
                                orders: 1,
                            });
                        }
                    }
                    Ok(v)
                };
                let bids = side_levels(3)?;
                let asks = side_levels(3 + 2 * n)?;
                depth
                    .set_side(locate, Side::Buy, &bids)
                    .and_then(|_| depth.set_side(locate, Side::Sell, &asks))
                    .map_err(|_| bad("book table full"))?;
                BookEvent::Bbo {
                    locate,
                    bbo: depth.bbo(locate),
                    ts,
                }
            }
            Some("T") => {
                let price = int(2, "price")?;
                if price <= 0 || price > Price::ITCH_MAX.0 {
                    return Err(bad("price must be in 1..=4294967295"));
                }
                let qty = u32::try_from(int(3, "quantity")?).map_err(|_| bad("bad quantity"))?;
                let resting_side = match f.get(4).copied() {
                    Some("B") => Some(Side::Buy),
                    Some("S") => Some(Side::Sell),
                    Some("-") => None,
                    _ => return Err(bad("resting side must be B, S or -")),
                };
                BookEvent::Trade {
                    locate,
                    price: Price(price),
                    qty,
                    resting_side,
                    ts,
                }
            }
            _ => return Err(bad("row kind must be Q or T")),
        };
        visit(&event, &depth);
        events += 1;
    }
    Ok(events)
}

/// Builds a dataset from CSV text (see [`replay_csv`]).
pub fn dataset_from_csv(
    text: &str,
    locate: StockLocate,
    params: FeatureParams,
    warmup: u64,
) -> Result<Dataset, TrainError> {
    let mut b = DatasetBuilder::new(locate, params, warmup).map_err(|e| TrainError::Csv {
        line: 0,
        reason: e.to_string(),
    })?;
    replay_csv(text, locate, |e, d| b.push(e, d))?;
    Ok(b.finish())
}

/// A synthetic two-level book whose next mid move depends on the top-level
/// imbalance: each step redraws the sizes, then the mid moves one tick with
/// probability 1/2, up with probability σ(4·imbalance). Deterministic in
/// `seed`. Prices in price4 on a `tick` grid.
pub fn synthetic_csv(steps: usize, seed: u64, tick: i64) -> String {
    let mut rng = seed.max(1);
    let mut uniform = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = String::from("kind,ts_ns,fields...\n");
    let mut bid = 1_000_000 - 1_000_000 % tick;
    let mut ts = 0u64;
    for _ in 0..steps {
        ts += 1_000_000;
        let bq = 100 + (uniform() * 900.0) as i64;
        let aq = 100 + (uniform() * 900.0) as i64;
        let bq2 = 100 + (uniform() * 900.0) as i64;
        let aq2 = 100 + (uniform() * 900.0) as i64;
        let ask = bid + tick;
        out.push_str(&format!(
            "Q,{ts},2,{bid},{bq},{},{bq2},{ask},{aq},{},{aq2}\n",
            bid - tick,
            ask + tick
        ));
        if uniform() < 0.2 {
            let side = if uniform() < 0.5 { "B" } else { "S" };
            let px = if side == "B" { bid } else { ask };
            out.push_str(&format!(
                "T,{ts},{px},{},{side}\n",
                1 + (uniform() * 200.0) as u32
            ));
        }
        if uniform() < 0.5 {
            let imb = (bq - aq) as f64 / (bq + aq) as f64;
            let p_up = 1.0 / (1.0 + (-4.0 * imb).exp());
            bid += if uniform() < p_up { tick } else { -tick };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_next_mid_change() {
        let csv = "kind\n\
            Q,1,1,100,10,102,10\n\
            Q,2,1,100,30,102,10\n\
            Q,3,1,101,30,102,10\n\
            Q,4,1,100,30,101,10\n\
            Q,5,1,100,30,101,50\n";
        let d = dataset_from_csv(csv, 1, FeatureParams::default_for_tick(1), 0).unwrap();
        // Rows at mids 101, 101 (→ 101.5 up), 101.5 (→ 100.5 down); the
        // last two rows (mid 100.5) have no next change.
        assert_eq!(d.labels, vec![true, true, false]);
        assert_eq!(d.rows[0][0], 0.0);
        assert_eq!(d.rows[1][0], 0.5);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = dataset_from_csv("Q,1,1,100,10\n", 1, FeatureParams::default_for_tick(1), 0);
        assert!(matches!(e, Err(TrainError::Csv { line: 1, .. })), "{e:?}");
        let e = dataset_from_csv(
            "Q,1,1,100,10,101,10\nT,2,100,5,X\n",
            1,
            FeatureParams::default_for_tick(1),
            0,
        );
        assert!(matches!(e, Err(TrainError::Csv { line: 2, .. })));
        let e = dataset_from_csv("Z,1\n", 1, FeatureParams::default_for_tick(1), 0);
        assert!(matches!(e, Err(TrainError::Csv { line: 1, .. })));
        let e = dataset_from_csv(
            "Q,1,1,-5,10,101,10\n",
            1,
            FeatureParams::default_for_tick(1),
            0,
        );
        assert!(matches!(e, Err(TrainError::Csv { .. })));
        let e = dataset_from_csv(
            "Q,1,1,9223372036854775807,10,9223372036854775807,10\nT,2,-1,5,B\n",
            1,
            FeatureParams::default_for_tick(1),
            0,
        );
        assert!(matches!(e, Err(TrainError::Csv { line: 1, .. })));
        let e = dataset_from_csv("T,2,-1,5,B\n", 1, FeatureParams::default_for_tick(1), 0);
        assert!(matches!(e, Err(TrainError::Csv { line: 1, .. })));
    }

    #[test]
    fn one_class_is_refused() {
        let d = Dataset {
            rows: vec![[0.0; FEATURE_COUNT]; 3],
            labels: vec![true; 3],
        };
        assert!(matches!(
            fit(&d, FitOptions::default()),
            Err(TrainError::OneClass)
        ));
    }

    proptest::proptest! {
        #[test]
        fn garbled_csv_is_an_error_not_a_panic(text in "[QT0-9,\\-BS \n]{0,300}") {
            let _ = dataset_from_csv(&text, 1, FeatureParams::default_for_tick(1), 0);
        }

        #[test]
        fn mutated_synthetic_csv_never_panics(pos in 0usize..4000, byte in proptest::prelude::any::<u8>()) {
            let mut b = synthetic_csv(60, 5, 100).into_bytes();
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(text) = std::str::from_utf8(&b) {
                let _ = dataset_from_csv(text, 1, FeatureParams::default_for_tick(100), 0);
            }
        }
    }
}
