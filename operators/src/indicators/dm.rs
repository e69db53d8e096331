//! Directional movement (Backtrader `DirectionalMovement`): Wilder's +DI, −DI, ADX and ADXR.
//!
//! `upmove = high − high[−1]`, `downmove = low[−1] − low`; `+dm = upmove` if it is larger than
//! `downmove` and positive (else 0), `−dm` likewise; `±di = 100 · SMMA(±dm) / ATR`;
//! `dx = |+di − −di| / (+di + −di)`; `adx = 100 · SMMA(dx)`; `adxr = (adx + adx[−period]) / 2`.

use super::{Atr, ExpSmoothing, Indicator, Ohlcv, Window};

/// DirectionalMovement(period). Lines: `adx, adxr, plusDI, minusDI`.
/// Min period: `3 · period` (ADXR).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct DirectionalMovement {
    atr: Atr,
    plus: ExpSmoothing,
    minus: ExpSmoothing,
    adx: ExpSmoothing,
    adx_hist: Window,
    prev: Option<(f64, f64)>,
    period: usize,
}

impl DirectionalMovement {
    /// DMI/ADX.
    pub fn new(period: usize) -> Self {
        DirectionalMovement {
            atr: Atr::new(period),
            plus: ExpSmoothing::smma(period),
            minus: ExpSmoothing::smma(period),
            adx: ExpSmoothing::smma(period),
            adx_hist: Window::new(period + 1),
            prev: None,
            period,
        }
    }
}

impl Indicator for DirectionalMovement {
    fn lines(&self) -> &'static [&'static str] {
        &["adx", "adxr", "plusDI", "minusDI"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = f64::NAN);
        let atr = self.atr.push(bar);
        let Some((ph, pl)) = self.prev.replace((bar.high, bar.low)) else { return };
        let up = bar.high - ph;
        let down = pl - bar.low;
        let pdm = if up > down && up > 0.0 { up } else { 0.0 };
        let mdm = if down > up && down > 0.0 { down } else { 0.0 };
        let (p, m) = (self.plus.next(pdm), self.minus.next(mdm));
        let (Some(p), Some(m), Some(atr)) = (p, m, atr) else { return };
        let pdi = 100.0 * p / atr;
        let mdi = 100.0 * m / atr;
        out[2] = pdi;
        out[3] = mdi;
        let dx = (pdi - mdi).abs() / (pdi + mdi);
        if let Some(a) = self.adx.next(dx) {
            let adx = 100.0 * a;
            out[0] = adx;
            self.adx_hist.push(adx);
            if self.adx_hist.full() {
                if let Some(old) = self.adx_hist.ago(self.period) {
                    out[1] = (adx + old) / 2.0;
                }
            }
        }
    }
    fn min_period(&self) -> usize {
        3 * self.period
    }
}

/// Which lines of [`DirectionalMovement`] a single Backtrader indicator shows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DmPart {
    /// `DirectionalIndicator` (`DI`): `plusDI, minusDI`; min period `period + 1`.
    Di,
    /// `PlusDirectionalIndicator`: `plusDI`.
    PlusDi,
    /// `MinusDirectionalIndicator`: `minusDI`.
    MinusDi,
    /// `AverageDirectionalMovementIndex` (`ADX`): `adx`; min period `2 · period`.
    Adx,
    /// `AverageDirectionalMovementIndexRating` (`ADXR`): `adx, adxr`; min period `3 · period`.
    Adxr,
}

/// One of Backtrader's single directional indicators: the lines of [`DmPart`] of a
/// [`DirectionalMovement`].
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct DirectionalPart {
    dm: DirectionalMovement,
    part: DmPart,
    #[serde(skip)]
    all: [f64; 4],
}

impl DirectionalPart {
    /// The `part` lines of DM(period).
    pub fn new(part: DmPart, period: usize) -> Self {
        DirectionalPart { dm: DirectionalMovement::new(period), part, all: [f64::NAN; 4] }
    }
    fn picks(&self) -> &'static [usize] {
        match self.part {
            DmPart::Di => &[2, 3],
            DmPart::PlusDi => &[2],
            DmPart::MinusDi => &[3],
            DmPart::Adx => &[0],
            DmPart::Adxr => &[0, 1],
        }
    }
}

impl Indicator for DirectionalPart {
    fn lines(&self) -> &'static [&'static str] {
        match self.part {
            DmPart::Di => &["plusDI", "minusDI"],
            DmPart::PlusDi => &["plusDI"],
            DmPart::MinusDi => &["minusDI"],
            DmPart::Adx => &["adx"],
            DmPart::Adxr => &["adx", "adxr"],
        }
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.dm.next(bar, &mut self.all);
        for (o, &i) in out.iter_mut().zip(self.picks()) {
            *o = self.all[i];
        }
    }
    fn min_period(&self) -> usize {
        let p = self.dm.period;
        match self.part {
            DmPart::Di | DmPart::PlusDi | DmPart::MinusDi => p + 1,
            DmPart::Adx => 2 * p,
            DmPart::Adxr => 3 * p,
        }
    }
}
