//! An indicator's input line (Backtrader's `data` argument): the close by default, another
//! price line (`open`, `high`, `low`, `volume`, `hl2`, `hlc3`, `ohlc4`), or another indicator's
//! line — `SMA(RSI(close, 14), 10)` is `sma` with `period=10, source=rsi(period=14)`.
//!
//! Syntax of the `source` parameter: a line name, or `NAME(k=v;k=v…)[.line]` (`,` also separates
//! the inner parameters; the inner indicator may itself take a `source`, so compositions nest).
//! The inner indicator's first line is used unless `.line` names another.
//!
//! [`Sourced`] feeds the outer indicator a bar whose open, high, low and close are the source
//! value (volume kept) and only once the source has a value, so the outer indicator warms up
//! after it: min period = source's + outer's − 1, as in Backtrader.
//!
//! ```
//! use tickflow_operators::indicators::{build, Ohlcv, Params};
//! let mut sma_of_sma = build("sma", &Params::parse(["period=2", "source=sma(period=2)"]).unwrap()).unwrap();
//! assert_eq!(sma_of_sma.min_period(), 3);
//! let mut out = [0.0];
//! let mut got = Vec::new();
//! for c in [1.0, 3.0, 5.0, 7.0] {
//!     sma_of_sma.next(&Ohlcv { open: c, high: c, low: c, close: c, volume: 1.0 }, &mut out);
//!     got.push(out[0]);
//! }
//! // inner: NaN, 2, 4, 6 → outer: NaN, NaN, 3, 5
//! assert!(got[0].is_nan() && got[1].is_nan());
//! assert_eq!(&got[2..], &[3.0, 5.0]);
//! ```

use super::{Indicator, Ohlcv};
use crate::{OperatorError, ParamProblem};

/// A price line of the bar.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// Open.
    Open,
    /// High.
    High,
    /// Low.
    Low,
    /// Close (the default).
    Close,
    /// Volume.
    Volume,
    /// (high + low) / 2.
    Hl2,
    /// (high + low + close) / 3.
    Hlc3,
    /// (open + high + low + close) / 4.
    Ohlc4,
}

impl Line {
    /// Every line, in help order.
    pub const ALL: [Line; 8] = [Line::Close, Line::Open, Line::High, Line::Low, Line::Volume, Line::Hl2, Line::Hlc3, Line::Ohlc4];

    /// Its name in `source=`.
    pub fn name(self) -> &'static str {
        match self {
            Line::Open => "open",
            Line::High => "high",
            Line::Low => "low",
            Line::Close => "close",
            Line::Volume => "volume",
            Line::Hl2 => "hl2",
            Line::Hlc3 => "hlc3",
            Line::Ohlc4 => "ohlc4",
        }
    }

    /// The line's value on `b` (left-to-right sums, as Backtrader's line arithmetic).
    pub fn of(self, b: &Ohlcv) -> f64 {
        match self {
            Line::Open => b.open,
            Line::High => b.high,
            Line::Low => b.low,
            Line::Close => b.close,
            Line::Volume => b.volume,
            Line::Hl2 => (b.high + b.low) / 2.0,
            Line::Hlc3 => (b.high + b.low + b.close) / 3.0,
            Line::Ohlc4 => (b.open + b.high + b.low + b.close) / 4.0,
        }
    }
}

/// A parsed `source=` value.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A price line.
    Line(Line),
    /// Another indicator's line: its name, its `k=v` parameters, and which output line.
    Indicator {
        /// Registry name.
        name: String,
        /// Its parameters, `k=v`.
        params: Vec<String>,
        /// The output line (default: the first).
        line: Option<String>,
    },
}

fn bad(value: &str) -> OperatorError {
    OperatorError::BadParam { indicator: None, param: "source".into(), problem: ParamProblem::BadSource { value: value.to_string() } }
}

impl Source {
    /// Parses a `source=` value (see the module documentation).
    pub fn parse(text: &str) -> Result<Source, OperatorError> {
        let t = text.trim();
        if let Some(l) = Line::ALL.iter().find(|l| l.name() == t) {
            return Ok(Source::Line(*l));
        }
        let (name, rest) = t.split_once('(').ok_or_else(|| bad(text))?;
        // the matching close of the first parenthesis (inner sources nest)
        let mut depth = 1usize;
        let close = rest
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .ok_or_else(|| bad(text))?;
        let (inner, after) = (&rest[..close], &rest[close + 1..]);
        let line = match after {
            "" => None,
            l => Some(l.strip_prefix('.').filter(|l| !l.is_empty()).ok_or_else(|| bad(text))?.to_string()),
        };
        // split the inner parameters at top-level `;` or `,`
        let (mut params, mut depth, mut start) = (Vec::new(), 0usize, 0usize);
        for (i, c) in inner.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ';' | ',' if depth == 0 => {
                    params.push(inner[start..i].trim().to_string());
                    start = i + 1;
                }
                _ => {}
            }
        }
        params.push(inner[start..].trim().to_string());
        params.retain(|p| !p.is_empty());
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad(text));
        }
        Ok(Source::Indicator { name: name.to_string(), params, line })
    }
}

/// What feeds a [`Sourced`] indicator.
#[derive(Clone)]
enum Input {
    Line(Line),
    Indicator { ind: Box<dyn Indicator>, line: usize, out: Vec<f64> },
}

/// An indicator fed from a source (see the module documentation).
#[derive(Clone)]
pub struct Sourced {
    input: Input,
    inner: Box<dyn Indicator>,
    min: usize,
}

impl Sourced {
    /// `inner` fed from the price line `line`.
    pub fn line(line: Line, inner: Box<dyn Indicator>) -> Self {
        let min = inner.min_period();
        Sourced { input: Input::Line(line), inner, min }
    }
    /// `inner` fed from line `line` of `source`.
    pub fn indicator(source: Box<dyn Indicator>, line: usize, inner: Box<dyn Indicator>) -> Self {
        let min = source.min_period() + inner.min_period() - 1;
        let out = vec![0.0; source.lines().len()];
        Sourced { input: Input::Indicator { ind: source, line, out }, inner, min }
    }
}

impl Indicator for Sourced {
    fn lines(&self) -> &'static [&'static str] {
        self.inner.lines()
    }
    fn next(&mut self, bar: &Ohlcv, out: &mut [f64]) {
        let v = match &mut self.input {
            Input::Line(l) => l.of(bar),
            Input::Indicator { ind, line, out: o } => {
                ind.next(bar, o);
                o[*line]
            }
        };
        if v.is_nan() {
            out.iter_mut().for_each(|x| *x = f64::NAN);
            return;
        }
        self.inner.next(&Ohlcv { open: v, high: v, low: v, close: v, volume: bar.volume }, out);
    }
    fn min_period(&self) -> usize {
        self.min
    }
}
