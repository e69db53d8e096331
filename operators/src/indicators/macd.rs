//! MACD (Backtrader `MACDHisto`): `macd = ema(me1) - ema(me2)`, `signal = ema(macd, signal)`,
//! `histo = macd - signal`.

use super::{ExpSmoothing, Indicator, Ohlcv};

/// MACD(period_me1, period_me2, period_signal). Lines: `macd, signal, histo`.
/// Min period: `max(me1, me2) + signal - 1`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Macd {
    me1: ExpSmoothing,
    me2: ExpSmoothing,
    signal: ExpSmoothing,
    min: usize,
}

impl Macd {
    /// MACD over closes.
    pub fn new(me1: usize, me2: usize, signal: usize) -> Self {
        Macd { me1: ExpSmoothing::ema(me1), me2: ExpSmoothing::ema(me2), signal: ExpSmoothing::ema(signal), min: me1.max(me2) + signal.max(1) - 1 }
    }
}

impl Indicator for Macd {
    fn lines(&self) -> &'static [&'static str] {
        &["macd", "signal", "histo"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = f64::NAN);
        if let (Some(a), Some(b)) = (self.me1.next(bar.close), self.me2.next(bar.close)) {
            let macd = a - b;
            out[0] = macd;
            if let Some(s) = self.signal.next(macd) {
                out[1] = s;
                out[2] = macd - s;
            }
        }
    }
    fn min_period(&self) -> usize {
        self.min
    }
}
