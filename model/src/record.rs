//! Versioned wire records: how trades and bars travel through Kafka topics (JSON, one record per
//! message). Each record carries its schema version `v`; the JSON Schemas are published under
//! `schemas/` at the repository root. Decimals are strings (exact), times epoch nanoseconds.
//!
//! ```json
//! {"v":1,"exchange":"binance","symbol":"XRP/ETH","trade_id":13519807,"ts":1570752011620000000,
//!  "ingest_ts":1700000000000000000,"price":"0.00141342","amount":"23","side":"sell"}
//! ```

use serde::{Deserialize, Serialize};

use crate::{Bar, BarKind, Decimal, Instrument, ModelError, Notional, Side, Timeframe, Trade, Ts};

/// Schema version written by this build.
pub const RECORD_VERSION: u32 = 1;

/// A trade on the wire (`trades` topic; key `exchange:symbol`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeRecord {
    /// Schema version.
    pub v: u32,
    /// Exchange id.
    pub exchange: String,
    /// CCXT symbol.
    pub symbol: String,
    /// Venue trade id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_id: Option<u64>,
    /// Event time, ns.
    pub ts: i64,
    /// Ingest time, ns (recorded once at the source, carried unchanged on replay).
    pub ingest_ts: i64,
    /// Price.
    pub price: Decimal,
    /// Amount.
    pub amount: Decimal,
    /// Taker side.
    pub side: Side,
}

impl From<&Trade> for TradeRecord {
    fn from(t: &Trade) -> Self {
        TradeRecord {
            v: RECORD_VERSION,
            exchange: t.instrument.exchange().to_string(),
            symbol: t.instrument.symbol().to_string(),
            trade_id: t.trade_id,
            ts: t.ts.0,
            ingest_ts: t.ingest_ts.0,
            price: t.price,
            amount: t.amount,
            side: t.side,
        }
    }
}

impl TradeRecord {
    /// The trade, checked by the one rule set of [`crate::validate`] (positive price and amount,
    /// a time after 1970 and at most [`DEFAULT_MAX_FUTURE`](crate::validate::DEFAULT_MAX_FUTURE)
    /// after its ingest time and the wall clock) and for a known version and a valid instrument.
    pub fn to_trade(&self) -> Result<Trade, ModelError> {
        self.to_trade_within(crate::validate::DEFAULT_MAX_FUTURE, Ts::now().0)
    }
    /// [`to_trade`](Self::to_trade) with an explicit bound and wall clock (`now`, ns).
    pub fn to_trade_within(&self, max_future: i64, now: i64) -> Result<Trade, ModelError> {
        if self.v != RECORD_VERSION {
            return Err(ModelError::Record(format!("trade record version {} (this build reads {RECORD_VERSION})", self.v)));
        }
        let reference = crate::validate::reference(self.ingest_ts, now);
        crate::validate::check_trade(self.price, self.amount, self.ts, reference, max_future).map_err(|e| ModelError::Record(e.to_string()))?;
        Ok(Trade {
            instrument: Instrument::new(&self.exchange, &self.symbol)?,
            trade_id: self.trade_id,
            ts: Ts(self.ts),
            ingest_ts: Ts(self.ingest_ts),
            price: self.price,
            amount: self.amount,
            side: self.side,
        })
    }
    /// The record key: `exchange:symbol`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.exchange, self.symbol)
    }
}

/// A funding event on the wire (`funding` topic; key `exchange:symbol:ts`, so a compacted topic
/// keeps one record per funding time and a refetch rewrites it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundingRecord {
    /// Schema version.
    pub v: u32,
    /// Exchange id.
    pub exchange: String,
    /// CCXT symbol of the perpetual.
    pub symbol: String,
    /// Funding time, ns.
    pub ts: i64,
    /// The rate (exact, up to 18 decimals; positive: longs pay shorts).
    pub funding_rate: Notional,
    /// The venue's mark price, when it publishes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_price: Option<Decimal>,
}

impl From<&crate::FundingRate> for FundingRecord {
    fn from(f: &crate::FundingRate) -> Self {
        FundingRecord {
            v: RECORD_VERSION,
            exchange: f.instrument.exchange().to_string(),
            symbol: f.instrument.symbol().to_string(),
            ts: f.ts.0,
            funding_rate: f.rate,
            mark_price: f.mark_price,
        }
    }
}

impl FundingRecord {
    /// The record key: `exchange:symbol:ts`.
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.exchange, self.symbol, self.ts)
    }
    /// The funding event.
    pub fn to_funding(&self) -> Result<crate::FundingRate, ModelError> {
        if self.v != RECORD_VERSION {
            return Err(ModelError::Record(format!("funding record version {} (this build reads {RECORD_VERSION})", self.v)));
        }
        Ok(crate::FundingRate {
            instrument: Instrument::new(&self.exchange, &self.symbol)?,
            ts: Ts(self.ts),
            rate: self.funding_rate,
            mark_price: self.mark_price,
        })
    }
}

/// A perpetual's mark- or index-price candle on the wire (`price_candles` topic; key
/// `exchange:symbol:timeframe:price:open_time`, so a compacted topic keeps one record per candle
/// and a refetch rewrites it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceCandleRecord {
    /// Schema version.
    pub v: u32,
    /// Exchange id.
    pub exchange: String,
    /// CCXT symbol of the contract.
    pub symbol: String,
    /// Candle length (`1m`, `1h`, …).
    pub timeframe: String,
    /// Which price: `mark` or `index`.
    pub price: String,
    /// Open time, ns.
    pub open_time: i64,
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
}

impl PriceCandleRecord {
    /// The record of `bar`'s prices, which follow `price` (`mark`, `index`).
    pub fn new(bar: &crate::Bar, price: &str) -> Self {
        PriceCandleRecord {
            v: RECORD_VERSION,
            exchange: bar.instrument.exchange().to_string(),
            symbol: bar.instrument.symbol().to_string(),
            timeframe: bar.timeframe.to_string(),
            price: price.to_string(),
            open_time: bar.open_time.0,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
        }
    }
    /// The record key: `exchange:symbol:timeframe:price:open_time`.
    pub fn key(&self) -> String {
        format!("{}:{}:{}:{}:{}", self.exchange, self.symbol, self.timeframe, self.price, self.open_time)
    }
}

/// A bar on the wire (`bars` topic; key `exchange:symbol:timeframe:open_time`, so a compacted
/// topic keeps each bar's latest revision).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarRecord {
    /// Schema version.
    pub v: u32,
    /// Exchange id.
    pub exchange: String,
    /// CCXT symbol.
    pub symbol: String,
    /// Timeframe (`1m`, …).
    pub timeframe: Timeframe,
    /// What closed the bar when not the clock (absent for time bars).
    #[serde(default, skip_serializing_if = "is_time_kind")]
    pub kind: BarKind,
    /// Window open, ns.
    pub open_time: i64,
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Base volume.
    pub volume: Decimal,
    /// Quote volume.
    pub quote_volume: Notional,
    /// Trade count.
    pub trades: u64,
    /// Taker-buy base volume.
    pub buy_volume: Decimal,
    /// Taker-sell base volume.
    pub sell_volume: Decimal,
    /// First trade id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_trade_id: Option<u64>,
    /// Last trade id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trade_id: Option<u64>,
    /// Revision (0 first emission; +1 per late-trade revision).
    pub revision: u32,
    /// Information-driven bars: the bar's number in its series (absent for time bars).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_time_kind(k: &BarKind) -> bool {
    *k == BarKind::Time
}

impl From<&Bar> for BarRecord {
    fn from(b: &Bar) -> Self {
        BarRecord {
            v: RECORD_VERSION,
            exchange: b.instrument.exchange().to_string(),
            symbol: b.instrument.symbol().to_string(),
            timeframe: b.timeframe,
            kind: b.kind,
            open_time: b.open_time.0,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            quote_volume: b.quote_volume,
            trades: b.trades,
            buy_volume: b.buy_volume,
            sell_volume: b.sell_volume,
            first_trade_id: b.first_trade_id,
            last_trade_id: b.last_trade_id,
            revision: b.revision,
            seq: b.seq,
        }
    }
}

impl BarRecord {
    /// The record key: `exchange:symbol:timeframe:open_time` — one key per bar, so a compacted
    /// topic keeps each bar's latest revision.
    ///
    /// Other bar kinds are their own series: `exchange:symbol:tick:1000:seq` (the bar's number:
    /// one trade may close several bars), `…:heikinashi:1m:open_time`.
    pub fn key(&self) -> String {
        let series = crate::Series { kind: self.kind, timeframe: self.timeframe };
        match self.kind {
            BarKind::Time | BarKind::HeikinAshi => format!("{}:{}:{series}:{}", self.exchange, self.symbol, self.open_time),
            _ => format!("{}:{}:{series}:{}", self.exchange, self.symbol, self.seq),
        }
    }
    /// The bar.
    pub fn to_bar(&self) -> Result<Bar, ModelError> {
        if self.v != RECORD_VERSION {
            return Err(ModelError::Record(format!("bar record version {} (this build reads {RECORD_VERSION})", self.v)));
        }
        Ok(Bar {
            instrument: Instrument::new(&self.exchange, &self.symbol)?,
            kind: self.kind,
            timeframe: self.timeframe,
            open_time: Ts(self.open_time),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            quote_volume: self.quote_volume,
            trades: self.trades,
            buy_volume: self.buy_volume,
            sell_volume: self.sell_volume,
            first_trade_id: self.first_trade_id,
            last_trade_id: self.last_trade_id,
            revision: self.revision,
            seq: self.seq,
        })
    }
}

/// A strategy output on the wire (`orders`, `fills` topics): the run it belongs to (strategy and
/// parameters, e.g. `sma_cross fast=10 slow=30`) and the item's own fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord<T> {
    /// Schema version.
    pub v: u32,
    /// The run.
    pub run: String,
    /// The order or fill.
    #[serde(flatten)]
    pub item: T,
}

impl<T> RunRecord<T> {
    /// Wraps `item` of `run`.
    pub fn new(run: &str, item: T) -> Self {
        RunRecord { v: RECORD_VERSION, run: run.to_string(), item }
    }
}

/// Account value at a bar close (`equity` topic; key = the run).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquityRecord {
    /// Schema version.
    pub v: u32,
    /// The run.
    pub run: String,
    /// Bar close, ns.
    pub ts: i64,
    /// Cash.
    pub cash: Decimal,
    /// Cash plus positions at the close.
    pub value: Decimal,
}

/// A late trade on the wire (`late` topic; key `exchange:symbol`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateRecord {
    /// Schema version.
    pub v: u32,
    /// The late trade, its watermark and what was done with it.
    #[serde(flatten)]
    pub late: crate::LateTrade,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_records_round_trip_exactly_and_reject_bad_values() {
        let t = Trade {
            instrument: Instrument::new("binance", "XRP/ETH").unwrap(),
            trade_id: Some(13_519_807),
            ts: Ts(1_570_752_011_620_000_000),
            ingest_ts: Ts(1_700_000_000_000_000_000),
            price: "0.00141342".parse().unwrap(),
            amount: "23".parse().unwrap(),
            side: Side::Sell,
        };
        let r = TradeRecord::from(&t);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"exchange":"binance","symbol":"XRP/ETH","trade_id":13519807,"ts":1570752011620000000,"ingest_ts":1700000000000000000,"price":"0.00141342","amount":"23","side":"sell"}"#
        );
        let back: TradeRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_trade().unwrap(), t);
        assert_eq!(r.key(), "binance:XRP/ETH");
        for bad in [
            json.replace(r#""v":1"#, r#""v":2"#),
            json.replace(r#""price":"0.00141342""#, r#""price":"0""#),
            json.replace(r#""symbol":"XRP/ETH""#, r#""symbol":"XRPETH""#),
            json.replace(r#""ts":1570752011620000000"#, r#""ts":-5"#),
            json.replace(r#""amount":"23""#, r#""amount":"0""#),
            json.replace(r#""amount":"23""#, r#""amount":"-23""#),
            // year 2100: far past its ingest time (2023) and the wall clock
            json.replace(r#""ts":1570752011620000000"#, r#""ts":4102444800000000000"#),
            // a forged ingest time does not lift the bound (the wall clock caps it)
            json.replace(r#""ts":1570752011620000000"#, r#""ts":4102444800000000000"#)
                .replace(r#""ingest_ts":1700000000000000000"#, r#""ingest_ts":4102444800000000000"#),
        ] {
            let rec: TradeRecord = serde_json::from_str(&bad).unwrap();
            assert!(rec.to_trade().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<TradeRecord>(&json.replace(r#""side":"sell""#, r#""side":"sell","extra":1"#)).is_err());
        // the bound is configurable: 1 s ahead of ingest passes 5 s, not 0
        let ahead: TradeRecord = serde_json::from_str(&json.replace(r#""ts":1570752011620000000"#, r#""ts":1700000001000000000"#)).unwrap();
        assert!(ahead.to_trade_within(5_000_000_000, i64::MAX).is_ok());
        assert!(ahead.to_trade_within(0, i64::MAX).is_err());
    }

    /// The published JSON Schemas name exactly the fields the records carry.
    #[test]
    fn published_schemas_match_the_records() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        let t = Trade {
            instrument: Instrument::new("kraken", "BTC/USD").unwrap(),
            trade_id: Some(1),
            ts: Ts(1),
            ingest_ts: Ts(2),
            price: "1.5".parse().unwrap(),
            amount: "2".parse().unwrap(),
            side: Side::Buy,
        };
        let tf: Timeframe = "1m".parse().unwrap();
        let mut b = Bar::from_candle(t.instrument, tf, Ts(0), [t.price; 4], t.amount, Notional::ZERO);
        b.first_trade_id = Some(1);
        b.last_trade_id = Some(1);
        let order = crate::Order {
            id: 1,
            instrument: t.instrument,
            side: crate::OrderSide::Buy,
            size: t.amount,
            kind: crate::OrderKind::Market,
            created: Ts(1),
            status: crate::OrderStatus::Filled,
            updated: Ts(2),
            group: Some(3),
        };
        let fill =
            crate::Fill { order_id: 1, instrument: t.instrument, side: crate::OrderSide::Buy, ts: Ts(2), price: t.price, size: t.amount, commission: t.price };
        let equity = EquityRecord { v: RECORD_VERSION, run: "r".into(), ts: 1, cash: t.price, value: t.price };
        let late = LateRecord { v: RECORD_VERSION, late: crate::LateTrade { trade: t, watermark: Ts(3), disposition: crate::LateDisposition::Revised } };
        for (file, value) in [
            ("trade.v1.json", serde_json::to_value(TradeRecord::from(&t)).unwrap()),
            // an information-driven bar has every field (a time bar omits `kind` and `seq`)
            ("bar.v1.json", serde_json::to_value(BarRecord::from(&Bar { kind: crate::BarKind::Tick(1000), seq: 7, ..b })).unwrap()),
            ("order.v1.json", serde_json::to_value(RunRecord::new("r", order)).unwrap()),
            ("fill.v1.json", serde_json::to_value(RunRecord::new("r", fill)).unwrap()),
            ("equity.v1.json", serde_json::to_value(equity).unwrap()),
            ("late.v1.json", serde_json::to_value(late).unwrap()),
            (
                "funding.v1.json",
                serde_json::to_value(FundingRecord::from(&crate::FundingRate {
                    instrument: Instrument::new("binance", "BTC/USDT:USDT").unwrap(),
                    ts: Ts(1),
                    rate: Notional::parse_bytes(b"0.0000983434362041").unwrap(),
                    mark_price: Some(t.price),
                }))
                .unwrap(),
            ),
            ("price_candle.v1.json", serde_json::to_value(PriceCandleRecord::new(&b, "mark")).unwrap()),
        ] {
            let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
            let props: std::collections::BTreeSet<&str> = schema["properties"].as_object().unwrap().keys().map(|k| k.as_str()).collect();
            let fields: std::collections::BTreeSet<&str> = value.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            assert_eq!(props, fields, "{file}");
            for r in schema["required"].as_array().unwrap() {
                assert!(fields.contains(r.as_str().unwrap()), "{file}: {r}");
            }
            assert_eq!(value["v"], schema["properties"]["v"]["const"], "{file}");
        }
        let time_bar = serde_json::to_value(BarRecord::from(&b)).unwrap();
        assert!(time_bar.get("kind").is_none() && time_bar.get("seq").is_none(), "{time_bar}");
        let back: BarRecord = serde_json::from_value(time_bar).unwrap();
        assert_eq!(back.to_bar().unwrap(), b);
        let info = Bar { kind: crate::BarKind::Volume(Decimal::from_int(50)), seq: 3, ..b };
        let rec = BarRecord::from(&info);
        assert_eq!(rec.key(), format!("{}:{}:volume:50:3", rec.exchange, rec.symbol));
        assert_eq!(serde_json::from_str::<BarRecord>(&serde_json::to_string(&rec).unwrap()).unwrap().to_bar().unwrap(), info);
    }
}
