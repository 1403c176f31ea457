//! Streaming statistics used by the strategies. All `f64`, all fixed size.

/// Variance rate of a price process, in price² per second, as an
/// exponentially weighted ratio of summed squared changes to elapsed time:
///
/// σ² ≈ Σ wᵢ·Δpᵢ² / Σ wᵢ·Δtᵢ, with weights decaying by `1 − alpha` per update.
///
/// Dividing the sums (rather than averaging Δp²/Δt per update) keeps the
/// estimate unbiased when updates arrive at irregular intervals: a quiet
/// second followed by one tick counts as one tick per second, not as one tick
/// per nanosecond.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VarianceRate {
    alpha: f64,
    sum_sq: f64,
    sum_dt: f64,
    last: Option<(f64, u64)>,
    updates: u32,
}

impl VarianceRate {
    /// `alpha` in (0, 1]: weight of the newest change.
    pub const fn new(alpha: f64) -> Self {
        VarianceRate {
            alpha,
            sum_sq: 0.0,
            sum_dt: 0.0,
            last: None,
            updates: 0,
        }
    }

    pub fn set_alpha(&mut self, alpha: f64) {
        self.alpha = alpha;
    }

    /// Observes the price `p` at `ts_ns`. Only call when the price changed
    /// (or periodically); unchanged prices just add elapsed time.
    #[inline]
    pub fn update(&mut self, p: f64, ts_ns: u64) {
        if let Some((last_p, last_ts)) = self.last {
            let dt = ts_ns.saturating_sub(last_ts) as f64 * 1e-9;
            let dp = p - last_p;
            let keep = 1.0 - self.alpha;
            self.sum_sq = keep * self.sum_sq + dp * dp;
            self.sum_dt = keep * self.sum_dt + dt;
            self.updates = self.updates.saturating_add(1);
        }
        self.last = Some((p, ts_ns));
    }

    /// Like [`VarianceRate::update`], but a change larger than `max_dp` in
    /// size counts as `±max_dp` (winsorised): one jump of the observed
    /// price (a thin book, a gap in the feed) cannot blow the estimate up
    /// for the next thousands of updates. `max_dp ≤ 0` disables the clip.
    #[inline]
    pub fn update_clipped(&mut self, p: f64, ts_ns: u64, max_dp: f64) {
        if let (Some((last_p, _)), true) = (self.last, max_dp > 0.0) {
            let dp = (p - last_p).clamp(-max_dp, max_dp);
            self.update(last_p + dp, ts_ns);
            // The next change is measured from the real price.
            self.last = Some((p, ts_ns));
        } else {
            self.update(p, ts_ns);
        }
    }

    /// σ² per second; `None` before two observations or when no time passed.
    pub fn variance_per_sec(&self) -> Option<f64> {
        if self.updates == 0 || self.sum_dt <= 0.0 {
            None
        } else {
            Some(self.sum_sq / self.sum_dt)
        }
    }

    pub fn updates(&self) -> u32 {
        self.updates
    }
}

/// Plain exponentially weighted moving average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ewma {
    alpha: f64,
    value: f64,
}

impl Ewma {
    pub const fn new(alpha: f64) -> Self {
        Ewma { alpha, value: 0.0 }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> f64 {
        self.value += self.alpha * (x - self.value);
        self.value
    }

    pub fn value(&self) -> f64 {
        self.value
    }
}

/// Ordinary least squares of `y` on `x` over the last `window` pairs, kept in
/// a ring buffer of capacity `W` with running sums (O(1) per push). The sums
/// are recomputed from the buffer every `window` pushes so rounding drift
/// cannot accumulate.
#[derive(Debug, Clone)]
pub struct RollingOls<const W: usize> {
    xs: [f64; W],
    ys: [f64; W],
    head: usize,
    len: usize,
    window: usize,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
    pushes_since_resum: usize,
}

/// OLS fit `y = alpha + beta·x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    pub alpha: f64,
    pub beta: f64,
}

impl<const W: usize> RollingOls<W> {
    /// `window` is clamped to `1..=W`.
    pub fn new(window: usize) -> Self {
        RollingOls {
            xs: [0.0; W],
            ys: [0.0; W],
            head: 0,
            len: 0,
            window: window.clamp(1, W),
            sx: 0.0,
            sy: 0.0,
            sxx: 0.0,
            sxy: 0.0,
            pushes_since_resum: 0,
        }
    }

    pub fn window(&self) -> usize {
        self.window
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.window
    }

    /// Changes the window; keeps the newest pairs that still fit.
    pub fn set_window(&mut self, window: usize) {
        let window = window.clamp(1, W);
        if window == self.window {
            return;
        }
        let mut xs = [0.0; W];
        let mut ys = [0.0; W];
        let keep = self.len.min(window);
        let skip = self.len - keep;
        for (i, (x, y)) in self.iter().skip(skip).enumerate() {
            xs[i] = x;
            ys[i] = y;
        }
        self.xs = xs;
        self.ys = ys;
        self.window = window;
        self.len = keep;
        self.head = keep % window;
        self.resum();
    }

    /// Adds a pair, evicting the oldest when the window is full.
    pub fn push(&mut self, x: f64, y: f64) {
        if self.len == self.window {
            let (ox, oy) = (self.xs[self.head], self.ys[self.head]);
            self.sx -= ox;
            self.sy -= oy;
            self.sxx -= ox * ox;
            self.sxy -= ox * oy;
        } else {
            self.len += 1;
        }
        self.xs[self.head] = x;
        self.ys[self.head] = y;
        self.head = (self.head + 1) % self.window;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.sxy += x * y;
        self.pushes_since_resum += 1;
        if self.pushes_since_resum >= self.window {
            self.resum();
        }
    }

    fn resum(&mut self) {
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for (x, y) in self.iter() {
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        self.sx = sx;
        self.sy = sy;
        self.sxx = sxx;
        self.sxy = sxy;
        self.pushes_since_resum = 0;
    }

    /// Pairs oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (f64, f64)> + Clone + '_ {
        let start = if self.len == self.window {
            self.head
        } else {
            0
        };
        (0..self.len).map(move |i| {
            let k = (start + i) % self.window;
            (self.xs[k], self.ys[k])
        })
    }

    /// The fit, `None` with fewer than 2 pairs or no variation in `x`.
    pub fn fit(&self) -> Option<LineFit> {
        if self.len < 2 {
            return None;
        }
        let n = self.len as f64;
        let var_x = self.sxx - self.sx * self.sx / n;
        // Relative guard: var_x is a difference of large sums.
        if var_x <= 1e-12 * self.sxx.abs().max(1e-300) {
            return None;
        }
        let cov = self.sxy - self.sx * self.sy / n;
        let beta = cov / var_x;
        let alpha = (self.sy - beta * self.sx) / n;
        Some(LineFit { alpha, beta })
    }
}

/// Multiple regression `y = α + Σⱼ βⱼ·xⱼ` over the last `window` rows, kept
/// in a ring buffer of capacity `W`. Each row is `[y, x₁, …, x_{L−1}]`.
///
/// The fit is recomputed from the buffer (O(window·L²)) on demand: it runs
/// once per sample, not per event, and needs no running sums that could
/// drift. Cross-products are taken about the means (centred), which keeps
/// the normal equations well conditioned for log prices that vary little
/// around a large level; the (L−1)×(L−1) system is solved by Gaussian
/// elimination with partial pivoting.
#[derive(Debug, Clone)]
pub struct RollingRegression<const W: usize, const L: usize> {
    rows: [[f64; L]; W],
    head: usize,
    len: usize,
    window: usize,
}

/// `y = alpha + Σⱼ beta[j]·x[j]` for `j ≥ 1`; `beta[0]` is unused (0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultiFit<const L: usize> {
    pub alpha: f64,
    pub beta: [f64; L],
}

impl<const L: usize> MultiFit<L> {
    /// Residual `y − α − Σ βⱼ·xⱼ` of a row.
    #[inline]
    #[allow(clippy::needless_range_loop)] // index j names the same leg in both arrays
    pub fn residual(&self, row: &[f64; L]) -> f64 {
        let mut r = row[0] - self.alpha;
        for j in 1..L {
            r -= self.beta[j] * row[j];
        }
        r
    }
}

impl<const W: usize, const L: usize> RollingRegression<W, L> {
    /// `window` is clamped to `1..=W`.
    pub fn new(window: usize) -> Self {
        const { assert!(L >= 2, "a regression needs y and at least one x") };
        RollingRegression {
            rows: [[0.0; L]; W],
            head: 0,
            len: 0,
            window: window.clamp(1, W),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Adds a row, evicting the oldest when the window is full.
    pub fn push(&mut self, row: [f64; L]) {
        self.rows[self.head] = row;
        self.head = (self.head + 1) % self.window;
        if self.len < self.window {
            self.len += 1;
        }
    }

    /// Rows oldest first.
    pub fn iter(&self) -> impl Iterator<Item = [f64; L]> + Clone + '_ {
        let start = if self.len == self.window {
            self.head
        } else {
            0
        };
        (0..self.len).map(move |i| self.rows[(start + i) % self.window])
    }

    /// Changes the window; keeps the newest rows that still fit.
    pub fn set_window(&mut self, window: usize) {
        let window = window.clamp(1, W);
        if window == self.window {
            return;
        }
        let mut rows = [[0.0; L]; W];
        let keep = self.len.min(window);
        for (dst, src) in rows.iter_mut().zip(self.iter().skip(self.len - keep)) {
            *dst = src;
        }
        self.rows = rows;
        self.window = window;
        self.len = keep;
        self.head = keep % window;
    }

    /// The least-squares fit; `None` with no more rows than coefficients or
    /// when the regressors are (numerically) collinear or constant.
    #[allow(clippy::needless_range_loop)] // matrix code reads best with indices
    pub fn fit(&self) -> Option<MultiFit<L>> {
        if self.len <= L {
            return None;
        }
        let n = self.len as f64;
        let mut mean = [0.0; L];
        for row in self.iter() {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        for m in mean.iter_mut() {
            *m /= n;
        }
        // cov[i][j] over the centred columns; column 0 is y.
        let mut cov = [[0.0; L]; L];
        for row in self.iter() {
            for i in 0..L {
                let di = row[i] - mean[i];
                for j in i..L {
                    cov[i][j] += di * (row[j] - mean[j]);
                }
            }
        }
        // Augmented system A·β = b for the x columns 1..L: a[i-1] =
        // [cov[i][1..L] | cov[i][0]].
        let k = L - 1;
        let mut a = [[0.0; L]; L];
        for i in 1..L {
            for j in 1..L {
                a[i - 1][j - 1] = if i <= j { cov[i][j] } else { cov[j][i] };
            }
            a[i - 1][k] = cov[0][i];
        }
        let scale = (1..L).map(|i| cov[i][i]).fold(0.0f64, f64::max);
        if scale <= 0.0 {
            return None;
        }
        for col in 0..k {
            let pivot = (col..k).max_by(|&r, &s| {
                libm::fabs(a[r][col])
                    .partial_cmp(&libm::fabs(a[s][col]))
                    .unwrap_or(core::cmp::Ordering::Equal)
            })?;
            if libm::fabs(a[pivot][col]) <= 1e-12 * scale {
                return None;
            }
            a.swap(col, pivot);
            for r in 0..k {
                if r != col {
                    let f = a[r][col] / a[col][col];
                    for c in col..=k {
                        a[r][c] -= f * a[col][c];
                    }
                }
            }
        }
        let mut beta = [0.0; L];
        for i in 0..k {
            beta[i + 1] = a[i][k] / a[i][i];
        }
        let mut alpha = mean[0];
        for j in 1..L {
            alpha -= beta[j] * mean[j];
        }
        if !alpha.is_finite() || beta.iter().any(|b| !b.is_finite()) {
            return None;
        }
        Some(MultiFit { alpha, beta })
    }
}

/// Ornstein–Uhlenbeck parameters from an AR(1) fit
/// `X[k+1] = a + b·X[k] + ζ` on equally spaced observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OuFit {
    pub a: f64,
    pub b: f64,
    /// Variance of the AR(1) residual ζ (population, divided by the number
    /// of pairs).
    pub residual_var: f64,
}

impl OuFit {
    /// Equilibrium mean `m = a / (1 − b)`.
    pub fn mean(&self) -> f64 {
        self.a / (1.0 - self.b)
    }

    /// Equilibrium standard deviation `σ_eq = sqrt(var(ζ) / (1 − b²))`.
    pub fn sigma_eq(&self) -> f64 {
        libm::sqrt(self.residual_var / (1.0 - self.b * self.b))
    }

    /// Mean-reversion time in observation steps, `1/κ = −1/ln b`.
    pub fn reversion_steps(&self) -> f64 {
        -1.0 / libm::log(self.b)
    }

    /// s-score of observation `x`: `(x − m) / σ_eq`.
    pub fn s_score(&self, x: f64) -> f64 {
        (x - self.mean()) / self.sigma_eq()
    }

    /// Fits the AR(1) on a series given oldest first. `None` for fewer than
    /// three points, a flat series, or `b` outside (0, 1), where the process
    /// is not mean reverting and neither `m` nor `σ_eq` exist.
    pub fn fit(series: impl Iterator<Item = f64> + Clone) -> Option<OuFit> {
        let mut prev: Option<f64> = None;
        let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
        for x in series.clone() {
            if let Some(p) = prev {
                n += 1.0;
                sx += p;
                sy += x;
                sxx += p * p;
                sxy += p * x;
            }
            prev = Some(x);
        }
        if n < 2.0 {
            return None;
        }
        let var_x = sxx - sx * sx / n;
        if var_x <= 0.0 {
            return None;
        }
        let b = (sxy - sx * sy / n) / var_x;
        let a = (sy - b * sx) / n;
        if !(b > 0.0 && b < 1.0) {
            return None;
        }
        let mut sse = 0.0;
        let mut prev: Option<f64> = None;
        for x in series {
            if let Some(p) = prev {
                let e = x - a - b * p;
                sse += e * e;
            }
            prev = Some(x);
        }
        let residual_var = sse / n;
        if residual_var <= 0.0 {
            return None;
        }
        Some(OuFit { a, b, residual_var })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn variance_rate_divides_summed_squares_by_time() {
        let mut v = VarianceRate::new(0.5);
        v.update(10.0, 0);
        assert_eq!(v.variance_per_sec(), None);
        v.update(10.02, 1_000_000_000); // +0.02 in 1 s
                                        // sum_sq = 0.0004, sum_dt = 1
        assert!(close(v.variance_per_sec().unwrap(), 0.0004, 1e-15));
        v.update(10.00, 2_000_000_000); // −0.02 in 1 s
                                        // sum_sq = 0.5*0.0004 + 0.0004 = 0.0006; sum_dt = 0.5 + 1 = 1.5
        assert!(close(v.variance_per_sec().unwrap(), 0.0004, 1e-15));
        v.update(10.00, 4_000_000_000); // no move for 2 s
                                        // sum_sq = 0.0003; sum_dt = 0.75 + 2 = 2.75
        assert!(close(v.variance_per_sec().unwrap(), 0.0003 / 2.75, 1e-15));
    }

    #[test]
    fn clipped_variance_ignores_the_size_of_a_jump() {
        let mut v = VarianceRate::new(0.5);
        v.update_clipped(10.0, 0, 0.03);
        v.update_clipped(10.02, 1_000_000_000, 0.03);
        assert!(close(v.variance_per_sec().unwrap(), 0.0004, 1e-15));
        // A $5 jump counts as 3 cents; the next move is from the new price.
        v.update_clipped(15.02, 2_000_000_000, 0.03);
        // sum_sq = 0.5·0.0004 + 0.0009 = 0.0011; sum_dt = 1.5
        assert!(close(v.variance_per_sec().unwrap(), 0.0011 / 1.5, 1e-12));
        v.update_clipped(15.03, 3_000_000_000, 0.03);
        // sum_sq = 0.00055 + 0.0001; sum_dt = 1.75
        assert!(close(v.variance_per_sec().unwrap(), 0.00065 / 1.75, 1e-12));
    }

    #[test]
    fn ols_hand_computed() {
        // y = 1 + 2x exactly, then a noisy point evicts the first.
        let mut ols: RollingOls<8> = RollingOls::new(3);
        ols.push(1.0, 3.0);
        assert!(ols.fit().is_none());
        ols.push(2.0, 5.0);
        ols.push(3.0, 7.0);
        let f = ols.fit().unwrap();
        assert!(close(f.beta, 2.0, 1e-12) && close(f.alpha, 1.0, 1e-12));
        // Window now (2,5),(3,7),(4,10): x̄=3, ȳ=22/3,
        // Sxy = (−1)(5−22/3)+(0)+(1)(10−22/3) = 5, Sxx = 2 → β = 2.5,
        // α = 22/3 − 7.5 = −1/6.
        ols.push(4.0, 10.0);
        let f = ols.fit().unwrap();
        assert!(close(f.beta, 2.5, 1e-12), "{f:?}");
        assert!(close(f.alpha, -1.0 / 6.0, 1e-12), "{f:?}");
        let pairs: heapless::Vec<(f64, f64), 8> = ols.iter().collect();
        assert_eq!(&pairs[..], &[(2.0, 5.0), (3.0, 7.0), (4.0, 10.0)]);
    }

    #[test]
    fn ols_flat_x_has_no_fit_and_window_shrinks() {
        let mut ols: RollingOls<8> = RollingOls::new(8);
        for _ in 0..5 {
            ols.push(2.0, 1.0);
        }
        assert!(ols.fit().is_none());
        for i in 0..8 {
            ols.push(i as f64, 3.0 * i as f64);
        }
        ols.set_window(4);
        assert_eq!(ols.len(), 4);
        let pairs: heapless::Vec<(f64, f64), 8> = ols.iter().collect();
        assert_eq!(pairs[0], (4.0, 12.0));
        assert!(close(ols.fit().unwrap().beta, 3.0, 1e-12));
        ols.push(8.0, 24.0);
        assert_eq!(ols.iter().next(), Some((5.0, 15.0)));
    }

    #[test]
    fn rolling_sums_match_recompute_over_many_pushes() {
        let mut ols: RollingOls<16> = RollingOls::new(10);
        let mut reference: heapless::Deque<(f64, f64), 10> = heapless::Deque::new();
        for i in 0..1000u32 {
            let x = 100.0 + libm::sin(i as f64 * 0.37) * 5.0;
            let y = 0.7 * x + libm::cos(i as f64 * 1.3);
            ols.push(x, y);
            if reference.is_full() {
                reference.pop_front();
            }
            reference.push_back((x, y)).unwrap();
        }
        let n = reference.len() as f64;
        let mx = reference.iter().map(|p| p.0).sum::<f64>() / n;
        let my = reference.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = reference.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = reference.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        let f = ols.fit().unwrap();
        assert!(
            close(f.beta, sxy / sxx, 1e-9),
            "{} vs {}",
            f.beta,
            sxy / sxx
        );
    }

    #[test]
    fn multiple_regression_matches_pairs_ols_and_recovers_a_basket() {
        let mut ols: RollingOls<16> = RollingOls::new(10);
        let mut reg: RollingRegression<16, 2> = RollingRegression::new(10);
        let mut basket: RollingRegression<16, 3> = RollingRegression::new(12);
        for i in 0..40u32 {
            let a = 4.0 + 0.1 * libm::sin(i as f64 * 0.7);
            let b = 3.0 + 0.1 * libm::cos(i as f64 * 1.9);
            let y = 0.5 * a + libm::sin(i as f64 * 2.3) * 0.01;
            ols.push(a, y);
            reg.push([y, a]);
            basket.push([1.0 + 2.0 * a - 3.0 * b, a, b]);
        }
        let (f1, f2) = (ols.fit().unwrap(), reg.fit().unwrap());
        assert!(close(f1.beta, f2.beta[1], 1e-9) && close(f1.alpha, f2.alpha, 1e-9));
        let f = basket.fit().unwrap();
        assert!(close(f.alpha, 1.0, 1e-9), "{f:?}");
        assert!(
            close(f.beta[1], 2.0, 1e-9) && close(f.beta[2], -3.0, 1e-9),
            "{f:?}"
        );
        assert!(close(
            f.residual(&[1.0 + 2.0 * 4.0 - 3.0 * 3.0, 4.0, 3.0]),
            0.0,
            1e-9
        ));
        // Collinear regressors have no unique fit.
        let mut col: RollingRegression<16, 3> = RollingRegression::new(8);
        for i in 0..8 {
            let a = i as f64;
            col.push([a, a, 2.0 * a]);
        }
        assert!(col.fit().is_none());
        // Window change keeps the newest rows.
        basket.set_window(5);
        assert_eq!(basket.len(), 5);
        assert!(basket.fit().is_some());
    }

    #[test]
    fn ou_fit_and_s_score_hand_computed() {
        // Series 0, 2, 1, 1.5: pairs (0,2), (2,1), (1,1.5).
        // x̄ = 1, ȳ = 1.5; Sxy = (−1)(0.5) + (1)(−0.5) + 0 = −1 → b < 0: rejected.
        assert!(OuFit::fit([0.0, 2.0, 1.0, 1.5].into_iter()).is_none());
        // Series 4, 2, 1.5, 0.5: pairs (4,2), (2,1.5), (1.5,0.5).
        // x̄ = 2.5, ȳ = 4/3; Sxx = 2.25+0.25+1 = 3.5;
        // Sxy = 1.5·(2/3) + (−0.5)(1/6) + (−1)(−5/6) = 1 − 1/12 + 5/6 = 1.75
        // b = 0.5, a = 4/3 − 1.25 = 1/12.
        // residuals: 2 − 1/12 − 2 = −1/12; 1.5 − 1/12 − 1 = 5/12; 0.5 − 1/12 − 0.75 = −1/3
        // var(ζ) = (1/144 + 25/144 + 16/144)/3 = 42/432 = 7/72.
        let f = OuFit::fit([4.0, 2.0, 1.5, 0.5].into_iter()).unwrap();
        assert!(close(f.b, 0.5, 1e-12));
        assert!(close(f.a, 1.0 / 12.0, 1e-12));
        assert!(close(f.residual_var, 7.0 / 72.0, 1e-12));
        // m = (1/12)/0.5 = 1/6; σ_eq = sqrt((7/72)/0.75) = sqrt(7/54).
        assert!(close(f.mean(), 1.0 / 6.0, 1e-12));
        let sigma = (7.0f64 / 54.0).sqrt();
        assert!(close(f.sigma_eq(), sigma, 1e-12));
        // s of the last point 0.5: (0.5 − 1/6)/σ_eq.
        assert!(close(f.s_score(0.5), (1.0 / 3.0) / sigma, 1e-12));
        assert!(close(f.reversion_steps(), 1.0 / 2f64.ln(), 1e-12));
    }
}
