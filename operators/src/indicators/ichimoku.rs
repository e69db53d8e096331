//! Hosoda's Ichimoku cloud (Backtrader `Ichimoku`).
//!
//! `tenkan_sen = (HH(high, tenkan) + LL(low, tenkan)) / 2`, `kijun_sen` likewise over `kijun`;
//! `senkou_span_a = (tenkan_sen + kijun_sen) / 2` and `senkou_span_b = (HH(high, senkou) +
//! LL(low, senkou)) / 2`, both pushed `senkou_lead` bars forward (the value on bar *t* was
//! computed on bar *t − senkou_lead*), so they are causal as they stand.
//!
//! **Causal form of `chikou_span`.** Backtrader's `chikou_span` is the close pushed `chikou` bars
//! into the past: on bar *t* it holds the close of bar *t + chikou*, which no stream knows yet.
//! Here `chikou_span` on bar *t* is the close of bar *t*, which is Backtrader's `chikou_span` of
//! bar *t − chikou* (NaN for the first `chikou` bars, which have no such bar); plot it `chikou`
//! bars back to draw Backtrader's line. Lines: `tenkan_sen, kijun_sen, senkou_span_a,
//! senkou_span_b, chikou_span`. Min period: `max(senkou, kijun, tenkan) + senkou_lead`.

use super::{Indicator, Ohlcv, Window};

/// Ichimoku(tenkan, kijun, senkou, senkou_lead, chikou).
#[derive(Clone)]
pub struct Ichimoku {
    highs: Window,
    lows: Window,
    tenkan: usize,
    kijun: usize,
    senkou: usize,
    lead_a: Window,
    lead_b: Window,
    chikou: usize,
    seen: usize,
}

impl Ichimoku {
    /// The cloud with Backtrader's parameters (9, 26, 52, 26, 26 by default).
    pub fn new(tenkan: usize, kijun: usize, senkou: usize, senkou_lead: usize, chikou: usize) -> Self {
        let longest = tenkan.max(kijun).max(senkou);
        Ichimoku {
            highs: Window::new(longest),
            lows: Window::new(longest),
            tenkan,
            kijun,
            senkou,
            lead_a: Window::new(senkou_lead + 1),
            lead_b: Window::new(senkou_lead + 1),
            chikou,
            seen: 0,
        }
    }
    /// The midpoint of the last `n` bars' extremes, once there are `n`.
    fn mid(&self, n: usize) -> f64 {
        if self.seen < n {
            return f64::NAN;
        }
        let hh = self.highs.iter().rev().take(n).fold(f64::NEG_INFINITY, f64::max);
        let ll = self.lows.iter().rev().take(n).fold(f64::INFINITY, f64::min);
        (hh + ll) / 2.0
    }
}

impl Indicator for Ichimoku {
    fn lines(&self) -> &'static [&'static str] {
        &["tenkan_sen", "kijun_sen", "senkou_span_a", "senkou_span_b", "chikou_span"]
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        self.seen += 1;
        self.highs.push(bar.high);
        self.lows.push(bar.low);
        let (t, k) = (self.mid(self.tenkan), self.mid(self.kijun));
        self.lead_a.push((t + k) / 2.0);
        self.lead_b.push(self.mid(self.senkou));
        let lagged = |w: &Window| if w.full() { w.ago(w.len() - 1).unwrap_or(f64::NAN) } else { f64::NAN };
        out[0] = t;
        out[1] = k;
        out[2] = lagged(&self.lead_a);
        out[3] = lagged(&self.lead_b);
        out[4] = if self.seen > self.chikou { bar.close } else { f64::NAN };
    }
    fn min_period(&self) -> usize {
        self.tenkan.max(self.kijun).max(self.senkou) + self.lead_a.len() - 1
    }
}
