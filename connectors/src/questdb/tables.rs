//! The tables tickflow writes, their DDL, and one ILP row writer per record type.
//!
//! Every table is a WAL table partitioned by day whose designated timestamp is the record's
//! **event time**, with `DEDUP UPSERT KEYS` on the natural key: replays and restarts rewrite
//! the same rows instead of adding new ones, and a bar revision (same open time, exchange,
//! symbol, timeframe) overwrites its bar. Prices and sizes are `DOUBLE` (the nearest double to
//! the exact decimal; the exact values travel in Kafka records and files).

use questdb::ingress::{Buffer, TimestampNanos};
use tickflow_model::{Bar, Fill, FundingRate, LateDisposition, LateTrade, Order, OrderKind, OrderSide, OrderStatus, Side, Trade};

/// A table tickflow writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Trades as ingested.
    Trades,
    /// Bars of every timeframe, revisions overwriting.
    Bars,
    /// Strategy orders, latest status per order.
    Orders,
    /// Strategy fills.
    Fills,
    /// Strategy equity curve.
    Equity,
    /// Late trades with their watermark and disposition.
    LateTrades,
    /// Funding events of perpetuals.
    Funding,
    /// Mark- and index-price candles of perpetuals and futures.
    PriceCandles,
}

impl Table {
    /// Every table, in creation order.
    pub const ALL: [Table; Table::COUNT] =
        [Table::Trades, Table::Bars, Table::Orders, Table::Fills, Table::Equity, Table::LateTrades, Table::Funding, Table::PriceCandles];
    /// How many tables there are.
    pub const COUNT: usize = 8;

    /// Base name (before the prefix).
    pub fn base_name(self) -> &'static str {
        match self {
            Table::Trades => "trades",
            Table::Bars => "bars",
            Table::Orders => "orders",
            Table::Fills => "fills",
            Table::Equity => "equity",
            Table::LateTrades => "late_trades",
            Table::Funding => "funding",
            Table::PriceCandles => "price_candles",
        }
    }

    /// Index into per-table arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Column list, designated timestamp and dedup keys.
    fn shape(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Table::Trades => (
                "ts TIMESTAMP, exchange SYMBOL, symbol SYMBOL, trade_id LONG, side SYMBOL, price DOUBLE, amount DOUBLE, ingest_ts TIMESTAMP",
                "ts",
                "ts, exchange, symbol, trade_id, side, price, amount",
            ),
            Table::Bars => (
                "open_time TIMESTAMP, exchange SYMBOL, symbol SYMBOL, timeframe SYMBOL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, \
                 volume DOUBLE, quote_volume DOUBLE, trades LONG, buy_volume DOUBLE, sell_volume DOUBLE, first_trade_id LONG, last_trade_id LONG, revision INT, \
                 seq LONG",
                "open_time",
                "open_time, exchange, symbol, timeframe, seq",
            ),
            Table::Orders => (
                "created TIMESTAMP, run SYMBOL, order_id LONG, exchange SYMBOL, symbol SYMBOL, side SYMBOL, size DOUBLE, kind SYMBOL, price DOUBLE, \
                 stop_price DOUBLE, status SYMBOL, updated TIMESTAMP, group_id LONG",
                "created",
                "created, run, order_id",
            ),
            Table::Fills => (
                "ts TIMESTAMP, run SYMBOL, order_id LONG, exchange SYMBOL, symbol SYMBOL, side SYMBOL, price DOUBLE, size DOUBLE, commission DOUBLE",
                "ts",
                "ts, run, order_id",
            ),
            Table::Equity => ("ts TIMESTAMP, run SYMBOL, cash DOUBLE, value DOUBLE", "ts", "ts, run"),
            Table::LateTrades => (
                "ts TIMESTAMP, exchange SYMBOL, symbol SYMBOL, trade_id LONG, side SYMBOL, price DOUBLE, amount DOUBLE, ingest_ts TIMESTAMP, \
                 watermark TIMESTAMP, disposition SYMBOL",
                "ts",
                "ts, exchange, symbol, trade_id, side, price, amount",
            ),
            Table::Funding => ("ts TIMESTAMP, exchange SYMBOL, symbol SYMBOL, funding_rate DOUBLE, mark_price DOUBLE", "ts", "ts, exchange, symbol"),
            Table::PriceCandles => (
                "open_time TIMESTAMP, exchange SYMBOL, symbol SYMBOL, timeframe SYMBOL, price SYMBOL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE",
                "open_time",
                "open_time, exchange, symbol, timeframe, price",
            ),
        }
    }

    /// `CREATE TABLE IF NOT EXISTS ...` for this table under `prefix`.
    pub fn ddl(self, prefix: &str) -> String {
        let (cols, ts, keys) = self.shape();
        format!("CREATE TABLE IF NOT EXISTS {prefix}{} ({cols}) TIMESTAMP({ts}) PARTITION BY DAY WAL DEDUP UPSERT KEYS({keys})", self.base_name())
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
        Side::Unknown => "unknown",
    }
}

fn order_side(s: OrderSide) -> &'static str {
    match s {
        OrderSide::Buy => "buy",
        OrderSide::Sell => "sell",
    }
}

fn status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Accepted => "accepted",
        OrderStatus::Filled => "filled",
        OrderStatus::Canceled => "canceled",
        OrderStatus::Rejected => "rejected",
        OrderStatus::Expired => "expired",
    }
}

fn disposition(d: LateDisposition) -> &'static str {
    match d {
        LateDisposition::Dropped => "dropped",
        LateDisposition::Revised => "revised",
        LateDisposition::TooLate => "too_late",
    }
}

type R = questdb::Result<()>;

fn id(v: Option<u64>) -> Option<i64> {
    v.and_then(|v| i64::try_from(v).ok())
}

/// Appends one `trades` row.
pub fn trade_row(buf: &mut Buffer, table: &str, t: &Trade) -> R {
    buf.table(table)?
        .symbol("exchange", t.instrument.exchange())?
        .symbol("symbol", t.instrument.symbol())?
        .symbol("side", side(t.side))?
        .column_i64_opt("trade_id", id(t.trade_id))?
        .column_f64("price", t.price.to_f64())?
        .column_f64("amount", t.amount.to_f64())?
        .column_ts("ingest_ts", TimestampNanos::new(t.ingest_ts.0))?
        .at(TimestampNanos::new(t.ts.0))
}

/// Appends one `bars` row (a revision has the same key as its bar and overwrites it).
pub fn bar_row(buf: &mut Buffer, table: &str, b: &Bar) -> R {
    // the series label: the timeframe of time bars, `tick:1000`, `heikinashi:1m`, … otherwise
    let tf = b.series().to_string();
    buf.table(table)?
        .symbol("exchange", b.instrument.exchange())?
        .symbol("symbol", b.instrument.symbol())?
        .symbol("timeframe", tf.as_str())?
        .column_f64("open", b.open.to_f64())?
        .column_f64("high", b.high.to_f64())?
        .column_f64("low", b.low.to_f64())?
        .column_f64("close", b.close.to_f64())?
        .column_f64("volume", b.volume.to_f64())?
        .column_f64("quote_volume", b.quote_volume.to_f64())?
        .column_i64("trades", b.trades as i64)?
        .column_f64("buy_volume", b.buy_volume.to_f64())?
        .column_f64("sell_volume", b.sell_volume.to_f64())?
        .column_i64_opt("first_trade_id", id(b.first_trade_id))?
        .column_i64_opt("last_trade_id", id(b.last_trade_id))?
        .column_i64("revision", i64::from(b.revision))?
        .column_i64("seq", b.seq.min(i64::MAX as u64) as i64)?
        .at(TimestampNanos::new(b.open_time.0))
}

/// Appends one `price_candles` row (`price`: `mark`, `index`; a refetch rewrites the same key).
pub fn price_candle_row(buf: &mut Buffer, table: &str, b: &Bar, price: &str) -> R {
    let tf = b.timeframe.to_string();
    buf.table(table)?
        .symbol("exchange", b.instrument.exchange())?
        .symbol("symbol", b.instrument.symbol())?
        .symbol("timeframe", tf.as_str())?
        .symbol("price", price)?
        .column_f64("open", b.open.to_f64())?
        .column_f64("high", b.high.to_f64())?
        .column_f64("low", b.low.to_f64())?
        .column_f64("close", b.close.to_f64())?
        .at(TimestampNanos::new(b.open_time.0))
}

/// Appends one `funding` row (a refetch rewrites the same key).
pub fn funding_row(buf: &mut Buffer, table: &str, f: &FundingRate) -> R {
    let b =
        buf.table(table)?.symbol("exchange", f.instrument.exchange())?.symbol("symbol", f.instrument.symbol())?.column_f64("funding_rate", f.rate.to_f64())?;
    let b = match f.mark_price {
        Some(m) => b.column_f64("mark_price", m.to_f64())?,
        None => b,
    };
    b.at(TimestampNanos::new(f.ts.0))
}

/// Appends one `late_trades` row.
pub fn late_row(buf: &mut Buffer, table: &str, l: &LateTrade) -> R {
    let t = &l.trade;
    buf.table(table)?
        .symbol("exchange", t.instrument.exchange())?
        .symbol("symbol", t.instrument.symbol())?
        .symbol("side", side(t.side))?
        .symbol("disposition", disposition(l.disposition))?
        .column_i64_opt("trade_id", id(t.trade_id))?
        .column_f64("price", t.price.to_f64())?
        .column_f64("amount", t.amount.to_f64())?
        .column_ts("ingest_ts", TimestampNanos::new(t.ingest_ts.0))?
        .column_ts("watermark", TimestampNanos::new(l.watermark.0))?
        .at(TimestampNanos::new(t.ts.0))
}

/// Appends one `orders` row (its latest status: the key is creation time, run and id).
pub fn order_row(buf: &mut Buffer, table: &str, run: &str, o: &Order) -> R {
    let (kind, price, stop) = match o.kind {
        OrderKind::Market => ("market", None, None),
        OrderKind::Limit { price } => ("limit", Some(price.to_f64()), None),
        OrderKind::Stop { price } => ("stop", None, Some(price.to_f64())),
        OrderKind::StopLimit { stop, limit } => ("stop_limit", Some(limit.to_f64()), Some(stop.to_f64())),
        OrderKind::StopTrail { .. } => ("stop_trail", None, None),
    };
    buf.table(table)?
        .symbol("run", run)?
        .symbol("exchange", o.instrument.exchange())?
        .symbol("symbol", o.instrument.symbol())?
        .symbol("side", order_side(o.side))?
        .symbol("kind", kind)?
        .symbol("status", status(o.status))?
        .column_i64("order_id", o.id as i64)?
        .column_f64("size", o.size.to_f64())?
        .column_f64_opt("price", price)?
        .column_f64_opt("stop_price", stop)?
        .column_ts("updated", TimestampNanos::new(o.updated.0))?
        .column_i64_opt("group_id", id(o.group))?
        .at(TimestampNanos::new(o.created.0))
}

/// Appends one `fills` row.
pub fn fill_row(buf: &mut Buffer, table: &str, run: &str, f: &Fill) -> R {
    buf.table(table)?
        .symbol("run", run)?
        .symbol("exchange", f.instrument.exchange())?
        .symbol("symbol", f.instrument.symbol())?
        .symbol("side", order_side(f.side))?
        .column_i64("order_id", f.order_id as i64)?
        .column_f64("price", f.price.to_f64())?
        .column_f64("size", f.size.to_f64())?
        .column_f64("commission", f.commission.to_f64())?
        .at(TimestampNanos::new(f.ts.0))
}

/// Appends one `equity` row.
pub fn equity_row(buf: &mut Buffer, table: &str, run: &str, ts: i64, cash: f64, value: f64) -> R {
    buf.table(table)?.symbol("run", run)?.column_f64("cash", cash)?.column_f64("value", value)?.at(TimestampNanos::new(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_names_the_designated_timestamp_first_in_the_dedup_keys() {
        for t in Table::ALL {
            let d = t.ddl("tf_");
            let (_, ts, keys) = t.shape();
            assert!(d.starts_with(&format!("CREATE TABLE IF NOT EXISTS tf_{} (", t.base_name())), "{d}");
            assert!(d.contains(&format!("TIMESTAMP({ts}) PARTITION BY DAY WAL DEDUP UPSERT KEYS({ts},")) || d.ends_with(&format!("KEYS({ts}, run)")), "{d}");
            // every key is a declared column
            let (cols, _, _) = t.shape();
            for k in keys.split(", ") {
                assert!(cols.split(", ").any(|c| c.split_whitespace().next() == Some(k)), "{t:?}: key {k} not a column");
            }
        }
    }
}
