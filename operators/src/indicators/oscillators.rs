//! Oscillators Backtrader builds from the bar's high, low and close: the awesome oscillator
//! (`AwesomeOscillator`) and its acceleration/deceleration (`AccDecOsc`), the ultimate
//! oscillator (`UltimateOscillator`), the vortex indicator (`Vortex`), Williams'
//! accumulation/distribution (`WilliamsAD`), the pretty good oscillator
//! (`PrettyGoodOscillator`) and Aroon (`AroonUpDown`, `AroonOscillator`). Sums are exactly rounded (`math.fsum`, as Backtrader's `SumN`).

use super::core::feed_valid;
use super::{fsum, Atr, Indicator, Ohlcv, Sma, Window};

/// The sum of the last `n` values, once there are `n`.
#[derive(Clone)]
struct SumN {
    w: Window,
}

impl SumN {
    fn new(n: usize) -> Self {
        SumN { w: Window::new(n) }
    }
    fn next(&mut self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        self.w.push(x);
        if self.w.full() {
            fsum(self.w.iter())
        } else {
            f64::NAN
        }
    }
}

/// AO(fast, slow) = SMA(median, fast) − SMA(median, slow), median = (high + low) ÷ 2. Lines: `ao`.
/// Min period: `max(fast, slow)`.
#[derive(Clone)]
pub struct AwesomeOscillator {
    fast: Sma,
    slow: Sma,
    min: usize,
}

impl AwesomeOscillator {
    /// AO of the bars' median price.
    pub fn new(fast: usize, slow: usize) -> Self {
        AwesomeOscillator { fast: Sma::new(fast), slow: Sma::new(slow), min: fast.max(slow) }
    }
    fn value(&mut self, bar: &Ohlcv) -> f64 {
        let median = (bar.high + bar.low) / 2.0;
        feed_valid(&mut self.fast, median) - feed_valid(&mut self.slow, median)
    }
}

impl Indicator for AwesomeOscillator {
    fn lines(&self) -> &'static [&'static str] {
        &["ao"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out[0] = self.value(bar);
    }
    fn min_period(&self) -> usize {
        self.min
    }
}

/// AccDecOsc(period) = AO − SMA(AO, period) (AO with its defaults 5 and 34). Lines: `accde`. Min
/// period: `34 + period − 1`.
#[derive(Clone)]
pub struct AccDecOscillator {
    ao: AwesomeOscillator,
    ma: Sma,
    period: usize,
}

impl AccDecOscillator {
    /// Acceleration/deceleration of the awesome oscillator.
    pub fn new(period: usize) -> Self {
        AccDecOscillator { ao: AwesomeOscillator::new(5, 34), ma: Sma::new(period), period }
    }
}

impl Indicator for AccDecOscillator {
    fn lines(&self) -> &'static [&'static str] {
        &["accde"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let ao = self.ao.value(bar);
        out[0] = ao - feed_valid(&mut self.ma, ao);
    }
    fn min_period(&self) -> usize {
        self.ao.min + self.period - 1
    }
}

/// The previous close, and the true low/high against it.
#[derive(Clone, Default)]
struct PrevClose(Option<f64>);

impl PrevClose {
    /// (true low, true high) of `bar`, then remembers its close; `None` on the first bar.
    fn range(&mut self, bar: &Ohlcv) -> Option<(f64, f64)> {
        let r = self.0.map(|c| (bar.low.min(c), bar.high.max(c)));
        self.0 = Some(bar.close);
        r
    }
}

/// UltimateOscillator(p1, p2, p3): `100/7 · (4·avg(p1) + 2·avg(p2) + avg(p3))` with `avg(n) =
/// Σ(close − true low) ÷ Σ(true range)` over `n` bars. Lines: `uo`. Min period: `max(p…) + 1`.
#[derive(Clone)]
pub struct UltimateOscillator {
    prev: PrevClose,
    sums: [(SumN, SumN); 3],
    min: usize,
}

impl UltimateOscillator {
    /// UO over three periods.
    pub fn new(p1: usize, p2: usize, p3: usize) -> Self {
        let s = |n| (SumN::new(n), SumN::new(n));
        UltimateOscillator { prev: PrevClose::default(), sums: [s(p1), s(p2), s(p3)], min: p1.max(p2).max(p3) + 1 }
    }
}

impl Indicator for UltimateOscillator {
    fn lines(&self) -> &'static [&'static str] {
        &["uo"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (bp, tr) = match self.prev.range(bar) {
            Some((tl, th)) => (bar.close - tl, th - tl),
            None => (f64::NAN, f64::NAN),
        };
        let mut av = [0.0; 3];
        for ((b, t), a) in self.sums.iter_mut().zip(av.iter_mut()) {
            *a = b.next(bp) / t.next(tr);
        }
        let factor = 100.0 / (4.0 + 2.0 + 1.0);
        out[0] = (4.0 * factor) * av[0] + (2.0 * factor) * av[1] + factor * av[2];
    }
    fn min_period(&self) -> usize {
        self.min
    }
}

/// Vortex(period): `vi_plus = Σ|high − low[−1]| ÷ Σ TR`, `vi_minus = Σ|low − high[−1]| ÷ Σ TR`,
/// TR = max(high − low, |high − close[−1]|, |low − close[−1]|). Lines: `vi_plus, vi_minus`. Min
/// period: `period + 1`.
#[derive(Clone)]
pub struct Vortex {
    prev: Option<Ohlcv>,
    plus: SumN,
    minus: SumN,
    tr: SumN,
    period: usize,
}

impl Vortex {
    /// The vortex indicator.
    pub fn new(period: usize) -> Self {
        Vortex { prev: None, plus: SumN::new(period), minus: SumN::new(period), tr: SumN::new(period), period }
    }
}

impl Indicator for Vortex {
    fn lines(&self) -> &'static [&'static str] {
        &["vi_plus", "vi_minus"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let (vp, vm, tr) = match self.prev {
            Some(p) => {
                let (h0c1, l0c1, h0l0) = ((bar.high - p.close).abs(), (bar.low - p.close).abs(), (bar.high - bar.low).abs());
                ((bar.high - p.low).abs(), (bar.low - p.high).abs(), h0l0.max(h0c1).max(l0c1))
            }
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        self.prev = Some(*bar);
        let (sp, sm, st) = (self.plus.next(vp), self.minus.next(vm), self.tr.next(tr));
        out[0] = sp / st;
        out[1] = sm / st;
    }
    fn min_period(&self) -> usize {
        self.period + 1
    }
}

/// WilliamsAD: the running sum of `close − true low` on up days and `close − true high` on down
/// days. Lines: `ad`. Min period: 2.
#[derive(Clone, Default)]
pub struct WilliamsAd {
    prev: PrevClose,
    acc: Option<f64>,
}

impl WilliamsAd {
    /// Williams' accumulation/distribution.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for WilliamsAd {
    fn lines(&self) -> &'static [&'static str] {
        &["ad"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let before = self.prev.0;
        let Some((tl, th)) = self.prev.range(bar) else {
            out[0] = f64::NAN;
            return;
        };
        let prev = before.unwrap_or(bar.close);
        let up = if (bar.close - prev).max(0.0) != 0.0 { bar.close - tl } else { 0.0 };
        let down = if (prev - bar.close).max(0.0) != 0.0 { bar.close - th } else { 0.0 };
        let acc = self.acc.unwrap_or(0.0) + (up + down);
        self.acc = Some(acc);
        out[0] = acc;
    }
    fn min_period(&self) -> usize {
        2
    }
}

/// PGO(period) = (close − SMA(close)) ÷ ATR. Lines: `pgo`. Min period: `period + 1`.
#[derive(Clone)]
pub struct PrettyGoodOscillator {
    ma: Sma,
    atr: Atr,
    period: usize,
}

impl PrettyGoodOscillator {
    /// The pretty good oscillator.
    pub fn new(period: usize) -> Self {
        PrettyGoodOscillator { ma: Sma::new(period), atr: Atr::new(period), period }
    }
}

impl Indicator for PrettyGoodOscillator {
    fn lines(&self) -> &'static [&'static str] {
        &["pgo"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let m = feed_valid(&mut self.ma, bar.close);
        let mut a = [f64::NAN];
        self.atr.next(bar, &mut a);
        out[0] = (bar.close - m) / a[0];
    }
    fn min_period(&self) -> usize {
        self.period + 1
    }
}

/// The index, counted back from the newest (0), of the newest occurrence of the window's
/// extreme (Backtrader's `FindFirstIndexHighest`/`Lowest`).
fn newest_index_of(w: &Window, extreme: f64) -> f64 {
    let n = w.len();
    (0..n).find(|&i| w.ago(i) == Some(extreme)).map_or(f64::NAN, |i| i as f64)
}

/// Aroon(period): `aroonup = 100/period · (period − bars since the highest high)`, `aroondown`
/// likewise for the lowest low, over `period + 1` bars. Lines: `aroonup, aroondown` (or
/// `aroonosc` = up − down). Min period: `period + 1`.
#[derive(Clone)]
pub struct Aroon {
    highs: Window,
    lows: Window,
    period: usize,
    oscillator: bool,
}

impl Aroon {
    /// Aroon up and down.
    pub fn up_down(period: usize) -> Self {
        Aroon { highs: Window::new(period + 1), lows: Window::new(period + 1), period, oscillator: false }
    }
    /// The Aroon oscillator.
    pub fn oscillator(period: usize) -> Self {
        Aroon { oscillator: true, ..Self::up_down(period) }
    }
}

impl Indicator for Aroon {
    fn lines(&self) -> &'static [&'static str] {
        if self.oscillator {
            &["aroonosc"]
        } else {
            &["aroonup", "aroondown"]
        }
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.highs.push(bar.high);
        self.lows.push(bar.low);
        let (up, down) = if self.highs.full() {
            let p = self.period as f64;
            let (hh, ll) = (newest_index_of(&self.highs, self.highs.max()), newest_index_of(&self.lows, self.lows.min()));
            ((100.0 / p) * (p - hh), (100.0 / p) * (p - ll))
        } else {
            (f64::NAN, f64::NAN)
        };
        if self.oscillator {
            out[0] = up - down;
        } else {
            out[0] = up;
            out[1] = down;
        }
    }
    fn min_period(&self) -> usize {
        self.period + 1
    }
}
