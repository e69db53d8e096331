//! OHLCV bars and late-trade records.

use serde::{Deserialize, Serialize};

use crate::{BarKind, Decimal, Instrument, Notional, Timeframe, Trade, Ts};

/// One OHLCV bar: the trades of one instrument in the window `[open_time, open_time + timeframe)`.
///
/// The key of a bar is `(instrument, timeframe, open_time)`. A bar is first emitted when the
/// watermark passes its end (`revision` 0); a late trade folded in afterwards re-emits the same
/// key with `revision` + 1, so downstream stores upsert on the key and keep the highest revision.
/// A bar with `trades == 0` is a carried (forward-filled) bar: O=H=L=C = previous close.
///
/// Information-driven bars ([`BarKind`] other than `Time`) share the type: their key is
/// `(instrument, kind, seq)`, `open_time` being the first trade's event
/// time and `timeframe` the whole seconds from it that cover the bar's last trade (so
/// [`Bar::close_time`] is an exclusive upper bound of the bar's trades, not a calendar window).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Exchange and symbol.
    pub instrument: Instrument,
    /// What closed the bar (`Time` for calendar windows; absent in older records).
    #[serde(default)]
    pub kind: BarKind,
    /// Window length.
    pub timeframe: Timeframe,
    /// Window start (inclusive), epoch-aligned.
    pub open_time: Ts,
    /// Price of the first trade (by event time, then trade id).
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Price of the last trade.
    pub close: Decimal,
    /// Σ amount.
    pub volume: Decimal,
    /// Σ price·amount, exact.
    pub quote_volume: Notional,
    /// Number of trades.
    pub trades: u64,
    /// Σ amount of taker buys.
    pub buy_volume: Decimal,
    /// Σ amount of taker sells.
    pub sell_volume: Decimal,
    /// Id of the first trade.
    pub first_trade_id: Option<u64>,
    /// Id of the last trade.
    pub last_trade_id: Option<u64>,
    /// 0 for the first emission of this key, +1 for each revision.
    pub revision: u32,
    /// Information-driven bars: the bar's number in its series (0, 1, …, per instrument and
    /// kind) — part of their key, as one trade may close several identical bars (a split
    /// volume or value bar). 0 for time bars.
    #[serde(default)]
    pub seq: u64,
}

impl Bar {
    /// Window end (exclusive).
    pub fn close_time(&self) -> Ts {
        Ts(self.open_time.0.saturating_add(self.timeframe.nanos()))
    }
    /// Volume-weighted average price, truncated toward zero to 9 decimals; `None` for carried
    /// bars, and when a sum saturated (never a wrong value).
    pub fn vwap(&self) -> Option<Decimal> {
        let q = self.quote_volume.mantissa();
        let v = self.volume.mantissa();
        if q == i128::MAX || q == i128::MIN || v == i128::MAX || v == i128::MIN {
            return None;
        }
        self.quote_volume.div_to_decimal(self.volume)
    }
    /// True for a forward-filled bar with no trades.
    pub fn is_carried(&self) -> bool {
        self.trades == 0
    }
    /// A venue's own candle: prices and volumes as reported, no trade count, taker split or trade
    /// ids (the venue does not say), revision 0.
    pub fn from_candle(instrument: Instrument, timeframe: Timeframe, open_time: Ts, ohlc: [Decimal; 4], volume: Decimal, quote_volume: Notional) -> Bar {
        let [open, high, low, close] = ohlc;
        Bar {
            instrument,
            kind: BarKind::Time,
            timeframe,
            open_time,
            open,
            high,
            low,
            close,
            volume,
            quote_volume,
            trades: 0,
            buy_volume: Decimal::ZERO,
            sell_volume: Decimal::ZERO,
            first_trade_id: None,
            last_trade_id: None,
            revision: 0,
            seq: 0,
        }
    }
    /// A carried bar at `open_time`: O=H=L=C=`close`, zero volume.
    pub fn carried(instrument: Instrument, timeframe: Timeframe, open_time: Ts, close: Decimal) -> Bar {
        Bar::from_candle(instrument, timeframe, open_time, [close; 4], Decimal::ZERO, Notional::ZERO)
    }
    /// The bar's series as one label: the timeframe for time bars (`1m`), the kind for
    /// information-driven bars (`tick:1000`), `heikinashi:1m` for Heikin-Ashi bars. Stores use it
    /// where they keep the timeframe (CSV and Parquet `timeframe` column, QuestDB `timeframe`
    /// symbol, Kafka key), so every kind is its own series there; [`Bar::parse_series`] reads it.
    pub fn series(&self) -> Series {
        Series { kind: self.kind, timeframe: self.timeframe }
    }
    /// Reads a [`Bar::series`] label: the kind and, for time and Heikin-Ashi bars, the timeframe
    /// (`None` for information-driven bars, whose span is their own).
    pub fn parse_series(s: &str) -> Result<(BarKind, Option<Timeframe>), crate::ModelError> {
        if let Some(tf) = s.strip_prefix("heikinashi:") {
            return Ok((BarKind::HeikinAshi, Some(tf.parse()?)));
        }
        if let Ok(tf) = s.parse::<Timeframe>() {
            return Ok((BarKind::Time, Some(tf)));
        }
        match s.parse::<BarKind>()? {
            BarKind::Time | BarKind::HeikinAshi => Err(crate::ModelError::BarKind { input: s.to_string(), reason: "needs a timeframe" }),
            k => Ok((k, None)),
        }
    }
    /// The series the bar belongs to: instrument, kind and — for time and Heikin-Ashi bars — the
    /// timeframe (an information-driven bar's timeframe is its own span, not its series').
    pub fn series_key(&self) -> (Instrument, BarKind, Option<Timeframe>) {
        (self.instrument, self.kind, if self.kind.is_time() { Some(self.timeframe) } else { None })
    }
    /// Deterministic output order: instrument, kind, timeframe (time and Heikin-Ashi bars), open
    /// time, sequence number (information-driven bars), revision — a total order on keys.
    pub fn sort_key(&self) -> (Instrument, BarKind, Option<Timeframe>, Ts, u64, u32) {
        let tf = if self.kind.is_time() { Some(self.timeframe) } else { None };
        (self.instrument, self.kind, tf, self.open_time, self.seq, self.revision)
    }
}

/// A bar's series label ([`Bar::series`]): displays as `1m`, `tick:1000` or `heikinashi:1m`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Series {
    /// The bar kind.
    pub kind: BarKind,
    /// The timeframe (read for time and Heikin-Ashi bars).
    pub timeframe: Timeframe,
}

impl std::fmt::Display for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            BarKind::Time => std::fmt::Display::fmt(&self.timeframe, f),
            BarKind::HeikinAshi => write!(f, "heikinashi:{}", self.timeframe),
            k => std::fmt::Display::fmt(&k, f),
        }
    }
}

/// What happened to a trade that arrived below the watermark.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateDisposition {
    /// Policy `drop`: counted and reported, bars unchanged.
    Dropped,
    /// Policy `revise`: folded into the closed bar(s), which were re-emitted as revisions.
    Revised,
    /// Older than the allowed lateness: counted and reported, bars unchanged.
    TooLate,
}

/// A trade that arrived after the watermark passed it (the late stream).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateTrade {
    /// The trade as received.
    pub trade: Trade,
    /// The watermark it arrived under.
    pub watermark: Ts,
    /// What was done with it.
    pub disposition: LateDisposition,
}
