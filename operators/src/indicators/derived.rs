//! Indicators Backtrader builds from averages of the input (one line each): Hull
//! (`HMA`), zero-lag EMA (`ZLEMA`), `TRIX`, mean deviation (`MeanDev`), detrended price
//! oscillator (`DPO`), the percentage price oscillator (`PPO`, with signal and histogram), the
//! true strength index (`TSI`), Know Sure Thing (`KST`), Kaufman's adaptive moving average
//! (`KAMA`), the SMA envelope (`SMAEnvelope`), the momentum oscillator (`MomentumOscillator`) and
//! the Laguerre RSI (`LaguerreRSI`), the envelope of any line (`Envelope`) and `DV2`.
//! Each folds its parts in Backtrader's order of operations from the same cores as the plain
//! averages ([`Sma`], [`Ema`], [`Wma`]).

use super::core::{feed, feed_valid};
use super::{fsum, Ema, Indicator, Ohlcv, RateOfChange100, Sma, Window, Wma};

/// HMA(period) = WMA(2·WMA(period ÷ 2) − WMA(period), ⌊√period⌋). Lines: `hma`. Min period:
/// `period + ⌊√period⌋ − 1`.
#[derive(Clone)]
pub struct Hma {
    half: Wma,
    full: Wma,
    outer: Wma,
    min: usize,
}

impl Hma {
    /// HMA of the input (`period` ≥ 2).
    pub fn new(period: usize) -> Self {
        let root = ((period as f64).powf(0.5) as usize).max(1);
        Hma { half: Wma::new((period / 2).max(1)), full: Wma::new(period), outer: Wma::new(root), min: period + root - 1 }
    }
}

impl Indicator for Hma {
    fn lines(&self) -> &'static [&'static str] {
        &["hma"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (h, f) = (feed(&mut self.half, bar.close), feed(&mut self.full, bar.close));
        out[0] = feed_valid(&mut self.outer, 2.0 * h - f);
    }
    fn min_period(&self) -> usize {
        self.min
    }
}

/// ZLEMA(period) = EMA(2·x − x[−lag]), `lag = (period − 1) ÷ 2`. Lines: `zlema`. Min period:
/// `period + lag`.
#[derive(Clone)]
pub struct Zlema {
    w: Window,
    ema: Ema,
    period: usize,
}

impl Zlema {
    /// ZLEMA of the input.
    pub fn new(period: usize) -> Self {
        Zlema { w: Window::new((period - 1) / 2 + 1), ema: Ema::new(period), period }
    }
}

impl Indicator for Zlema {
    fn lines(&self) -> &'static [&'static str] {
        &["zlema"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.w.push(bar.close);
        let x = match (self.w.full(), self.w.ago(self.w.len() - 1)) {
            (true, Some(old)) => 2.0 * bar.close - old,
            _ => f64::NAN,
        };
        out[0] = feed_valid(&mut self.ema, x);
    }
    fn min_period(&self) -> usize {
        self.period + self.w.len() - 1
    }
}

/// TRIX(period) = 100·(ema3 ÷ ema3[−1] − 1), `ema3` the EMA of the EMA of the EMA. Lines:
/// `trix`. Min period: `3·period − 1`.
#[derive(Clone)]
pub struct Trix {
    emas: [Ema; 3],
    prev: Option<f64>,
    period: usize,
}

impl Trix {
    /// TRIX of the input.
    pub fn new(period: usize) -> Self {
        Trix { emas: [Ema::new(period), Ema::new(period), Ema::new(period)], prev: None, period }
    }
}

impl Indicator for Trix {
    fn lines(&self) -> &'static [&'static str] {
        &["trix"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let [a, b, c] = &mut self.emas;
        let e3 = feed_valid(c, feed_valid(b, feed(a, bar.close)));
        out[0] = match self.prev {
            Some(p) if !e3.is_nan() => 100.0 * (e3 / p - 1.0),
            _ => f64::NAN,
        };
        if !e3.is_nan() {
            self.prev = Some(e3);
        }
    }
    fn min_period(&self) -> usize {
        3 * self.period - 1
    }
}

/// MeanDev(period) = SMA(|x − SMA(x)|). Lines: `meandev`. Min period: `2·period − 1`.
#[derive(Clone)]
pub struct MeanDev {
    mean: Sma,
    dev: Sma,
    period: usize,
}

impl MeanDev {
    /// Mean absolute deviation of the input around its average.
    pub fn new(period: usize) -> Self {
        MeanDev { mean: Sma::new(period), dev: Sma::new(period), period }
    }
}

impl Indicator for MeanDev {
    fn lines(&self) -> &'static [&'static str] {
        &["meandev"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let m = feed(&mut self.mean, bar.close);
        out[0] = feed_valid(&mut self.dev, (bar.close - m).abs());
    }
    fn min_period(&self) -> usize {
        2 * self.period - 1
    }
}

/// DPO(period) = x − SMA(x)[−(period ÷ 2 − 1)] (Backtrader's `ma(-period // 2 + 1)`: the
/// average `⌈period ÷ 2⌉ − 1` bars ago). Lines: `dpo`. Min period: `period + that lag`.
#[derive(Clone)]
pub struct Dpo {
    ma: Sma,
    past: Window,
    period: usize,
}

impl Dpo {
    /// DPO of the input.
    pub fn new(period: usize) -> Self {
        // Python: -period // 2 + 1 (floor division of the negative period)
        let lag = (-(period as i64)).div_euclid(2) + 1;
        let lag = (-lag).max(0) as usize;
        Dpo { ma: Sma::new(period), past: Window::new(lag + 1), period }
    }
}

impl Indicator for Dpo {
    fn lines(&self) -> &'static [&'static str] {
        &["dpo"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let m = feed(&mut self.ma, bar.close);
        if m.is_nan() {
            out[0] = f64::NAN;
            return;
        }
        self.past.push(m);
        out[0] = match (self.past.full(), self.past.ago(self.past.len() - 1)) {
            (true, Some(old)) => bar.close - old,
            _ => f64::NAN,
        };
    }
    fn min_period(&self) -> usize {
        self.period + self.past.len() - 1
    }
}

/// PPO(period1, period2, period_signal): `ppo = 100·(EMA1 − EMA2) ÷ EMA2`, `signal =
/// EMA(ppo)`, `histo = ppo − signal`. Lines: `ppo, signal, histo`. Min period:
/// `max(period1, period2) + period_signal − 1`.
#[derive(Clone)]
pub struct Ppo {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    min: usize,
    short: bool,
}

impl Ppo {
    /// PPO of the input.
    pub fn new(period1: usize, period2: usize, period_signal: usize) -> Self {
        Ppo { fast: Ema::new(period1), slow: Ema::new(period2), signal: Ema::new(period_signal), min: period1.max(period2) + period_signal - 1, short: false }
    }
    /// Backtrader's `PPOShort`: the difference over the *fast* EMA (as MetaStock).
    pub fn short(period1: usize, period2: usize, period_signal: usize) -> Self {
        Ppo { short: true, ..Self::new(period1, period2, period_signal) }
    }
}

impl Indicator for Ppo {
    fn lines(&self) -> &'static [&'static str] {
        &["ppo", "signal", "histo"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (a, b) = (feed(&mut self.fast, bar.close), feed(&mut self.slow, bar.close));
        let den = if self.short { a } else { b };
        let ppo = if a.is_nan() || b.is_nan() { f64::NAN } else { 100.0 * (a - b) / den };
        let signal = feed_valid(&mut self.signal, ppo);
        out[0] = ppo;
        out[1] = signal;
        out[2] = ppo - signal;
    }
    fn min_period(&self) -> usize {
        self.min
    }
}

/// PriceOscillator(period1, period2) = EMA(period1) − EMA(period2), in points (Backtrader's
/// `PriceOsc`, `APO`). Lines: `po`. Min period: `max(period1, period2)`.
#[derive(Clone)]
pub struct PriceOsc {
    fast: Ema,
    slow: Ema,
}

impl PriceOsc {
    /// The absolute price oscillator of the input.
    pub fn new(period1: usize, period2: usize) -> Self {
        PriceOsc { fast: Ema::new(period1), slow: Ema::new(period2) }
    }
}

impl Indicator for PriceOsc {
    fn lines(&self) -> &'static [&'static str] {
        &["po"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = feed(&mut self.fast, bar.close) - feed(&mut self.slow, bar.close);
    }
    fn min_period(&self) -> usize {
        self.fast.min_period().max(self.slow.min_period())
    }
}

/// TSI(period1, period2, pchange) = 100·EMA(EMA(Δ, period1), period2) ÷ EMA(EMA(|Δ|, period1),
/// period2), Δ = x − x[−pchange]. Lines: `tsi`. Min period: `pchange + period1 + period2 − 1`.
#[derive(Clone)]
pub struct Tsi {
    past: Window,
    num: [Ema; 2],
    den: [Ema; 2],
    min: usize,
}

impl Tsi {
    /// TSI of the input.
    pub fn new(period1: usize, period2: usize, pchange: usize) -> Self {
        Tsi {
            past: Window::new(pchange + 1),
            num: [Ema::new(period1), Ema::new(period2)],
            den: [Ema::new(period1), Ema::new(period2)],
            min: pchange + period1 + period2 - 1,
        }
    }
}

impl Indicator for Tsi {
    fn lines(&self) -> &'static [&'static str] {
        &["tsi"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.past.push(bar.close);
        let pc = match (self.past.full(), self.past.ago(self.past.len() - 1)) {
            (true, Some(old)) => bar.close - old,
            _ => f64::NAN,
        };
        let [n1, n2] = &mut self.num;
        let [d1, d2] = &mut self.den;
        let num = feed_valid(n2, feed_valid(n1, pc));
        let den = feed_valid(d2, feed_valid(d1, pc.abs()));
        out[0] = 100.0 * (num / den);
    }
    fn min_period(&self) -> usize {
        self.min
    }
}

/// KST: `kst = 1·SMA(ROC100(10), 10) + 2·SMA(ROC100(15), 10) + 3·SMA(ROC100(20), 10) +
/// 4·SMA(ROC100(30), 10)` (Backtrader's defaults, parameters `rp1…rp4`, `rma1…rma4`), `signal =
/// SMA(kst, rsignal)`. Lines: `kst, signal`.
#[derive(Clone)]
pub struct Kst {
    parts: Vec<(RateOfChange100, Sma, f64)>,
    signal: Sma,
    min: (usize, usize),
}

impl Kst {
    /// KST of the input: four (ROC period, SMA period) pairs and the signal's period.
    pub fn new(rp: [usize; 4], rma: [usize; 4], rsignal: usize) -> Self {
        let parts: Vec<_> = rp.iter().zip(rma).zip([1.0, 2.0, 3.0, 4.0]).map(|((r, m), f)| (RateOfChange100::new(*r), Sma::new(m), f)).collect();
        let kst_min = rp.iter().zip(rma).map(|(r, m)| r + m).max().unwrap_or(1);
        Kst { parts, signal: Sma::new(rsignal), min: (kst_min, kst_min + rsignal - 1) }
    }
}

impl Indicator for Kst {
    fn lines(&self) -> &'static [&'static str] {
        &["kst", "signal"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        // Python's sum(): 0 + f1·r1 + f2·r2 + …, left to right
        let mut kst = 0.0;
        for (roc, ma, f) in &mut self.parts {
            let r = feed(roc, bar.close);
            kst += *f * feed_valid(ma, r);
        }
        out[0] = kst;
        out[1] = feed_valid(&mut self.signal, kst);
    }
    fn min_period(&self) -> usize {
        self.min.1
    }
}

/// KAMA(period, fast, slow): exponential smoothing with the dynamic factor `sc = (er·(2/(fast+1) −
/// 2/(slow+1)) + 2/(slow+1))²`, `er = |x − x[−period]| ÷ Σ|x − x[−1]|` over `period` moves;
/// seeded, as Backtrader's `ExponentialSmoothingDynamic`, with the average of the `period`
/// inputs up to the first bar the factor exists. Lines: `kama`. Min period: `period + 1`.
#[derive(Clone)]
pub struct Kama {
    w: Window,
    moves: Window,
    fast: f64,
    slow: f64,
    value: Option<f64>,
    period: usize,
}

impl Kama {
    /// KAMA of the input.
    pub fn new(period: usize, fast: usize, slow: usize) -> Self {
        Kama { w: Window::new(period + 1), moves: Window::new(period), fast: 2.0 / (fast as f64 + 1.0), slow: 2.0 / (slow as f64 + 1.0), value: None, period }
    }
}

impl Indicator for Kama {
    fn lines(&self) -> &'static [&'static str] {
        &["kama"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let x = bar.close;
        if let Some(prev) = self.w.ago(0) {
            self.moves.push((x - prev).abs());
        }
        self.w.push(x);
        out[0] = f64::NAN;
        let Some(old) = self.w.ago(self.period).filter(|_| self.w.full() && self.moves.full()) else { return };
        let er = ((x - old) / fsum(self.moves.iter())).abs();
        let sc = (er * (self.fast - self.slow) + self.slow).powi(2);
        let v = match self.value {
            // the seed: the average of the last `period` inputs
            None => fsum((0..self.period).filter_map(|i| self.w.ago(i))) / self.period as f64,
            Some(prev) => prev * (1.0 - sc) + x * sc,
        };
        self.value = Some(v);
        out[0] = v;
    }
    fn min_period(&self) -> usize {
        self.period + 1
    }
}

/// MomentumOscillator(period) = 100·(x ÷ x[−period]). Lines: `momosc`. Min period: `period + 1`.
#[derive(Clone)]
pub struct MomentumOscillator {
    w: Window,
}

impl MomentumOscillator {
    /// The momentum oscillator of the input.
    pub fn new(period: usize) -> Self {
        MomentumOscillator { w: Window::new(period + 1) }
    }
}

impl Indicator for MomentumOscillator {
    fn lines(&self) -> &'static [&'static str] {
        &["momosc"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = super::momentum::ago(&mut self.w, bar.close).map_or(f64::NAN, |old| 100.0 * (bar.close / old));
    }
    fn min_period(&self) -> usize {
        self.w.len()
    }
}

/// LaguerreRSI(gamma, period): Ehlers' four-stage Laguerre filter of the input, `lrsi = cu ÷ (cu
/// + cd)` over its stages (1 when flat). As Backtrader's (a `PeriodN`), the filter starts on bar
/// `period` from zero state. Lines: `lrsi`. Min period: `period`.
#[derive(Clone)]
pub struct LaguerreRsi {
    gamma: f64,
    l: [f64; 4],
    seen: usize,
    period: usize,
}

impl LaguerreRsi {
    /// The Laguerre RSI of the input.
    pub fn new(gamma: f64, period: usize) -> Self {
        LaguerreRsi { gamma, l: [0.0; 4], seen: 0, period }
    }
}

impl Indicator for LaguerreRsi {
    fn lines(&self) -> &'static [&'static str] {
        &["lrsi"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.seen += 1;
        if self.seen < self.period {
            out[0] = f64::NAN;
            return;
        }
        let g = self.gamma;
        let [l0_1, l1_1, l2_1, l3_1] = self.l;
        let l0 = (1.0 - g) * bar.close + g * l0_1;
        let l1 = -g * l0 + l0_1 + g * l1_1;
        let l2 = -g * l1 + l1_1 + g * l2_1;
        let l3 = -g * l2 + l2_1 + g * l3_1;
        self.l = [l0, l1, l2, l3];
        let (mut cu, mut cd) = (0.0, 0.0);
        for (a, b) in [(l0, l1), (l1, l2), (l2, l3)] {
            if a >= b {
                cu += a - b;
            } else {
                cd += b - a;
            }
        }
        let den = cu + cd;
        out[0] = if den == 0.0 { 1.0 } else { cu / den };
    }
    fn min_period(&self) -> usize {
        self.period
    }
}

/// Envelope(perc): the input with bands `perc` percent above and below (`source=` makes it the
/// envelope of an average: `source=ema(period=30)` is Backtrader's `EMAEnvelope`). Lines: `src,
/// top, bot`. Min period: 1.
#[derive(Clone)]
pub struct Envelope {
    perc: f64,
}

impl Envelope {
    /// The envelope of the input.
    pub fn new(perc: f64) -> Self {
        Envelope { perc: perc / 100.0 }
    }
}

impl Indicator for Envelope {
    fn lines(&self) -> &'static [&'static str] {
        &["src", "top", "bot"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let x = bar.close;
        out[0] = x;
        out[1] = x * (1.0 + self.perc);
        out[2] = x * (1.0 - self.perc);
    }
    fn min_period(&self) -> usize {
        1
    }
}

/// DV2(period, maperiod): `100 · PercentRank(SMA(close ÷ ((high + low) ÷ 2), maperiod), period)`,
/// the percent rank being the share of the window's values below its newest. Lines: `dv2`. Min
/// period: `maperiod + period − 1`.
#[derive(Clone)]
pub struct Dv2 {
    ma: Sma,
    w: Window,
    min: usize,
}

impl Dv2 {
    /// DV2 of the bars.
    pub fn new(period: usize, maperiod: usize) -> Self {
        Dv2 { ma: Sma::new(maperiod), w: Window::new(period), min: maperiod + period - 1 }
    }
}

impl Indicator for Dv2 {
    fn lines(&self) -> &'static [&'static str] {
        &["dv2"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let chl = bar.close / ((bar.high + bar.low) / 2.0);
        let dvu = feed(&mut self.ma, chl);
        out[0] = f64::NAN;
        if dvu.is_nan() {
            return;
        }
        self.w.push(dvu);
        if self.w.full() {
            let below = fsum(self.w.iter().map(|x| if x < dvu { 1.0 } else { 0.0 }));
            out[0] = below / self.w.len() as f64 * 100.0;
        }
    }
    fn min_period(&self) -> usize {
        self.min
    }
}
