//! Bar CSV input: tickflow's own bar files and Backtrader/Yahoo daily or intraday files.
//!
//! Formats, detected from the header:
//!
//! * tickflow (`symbol,timeframe,open_time,open,high,low,close,volume,trades,exchange,…,revision`):
//!   the latest revision of each key wins.
//! * Backtrader (`Date,Open,High,Low,Close,Volume,OpenInterest`, optionally `Time` after `Date`;
//!   rows with one more field than the header carry a time, as in Backtrader's
//!   `2006-01-02-volume-min-001.txt`), e.g.
//!   ```text
//!   Date,Open,High,Low,Close,Volume,OpenInterest
//!   2006-01-02,3578.73,3605.95,3578.73,3604.33,0,0
//!   ```
//! * Yahoo (`Date,Open,High,Low,Close,Adj Close,Volume`): raw (unadjusted) OHLC, like
//!   Backtrader's `GenericCSVData`.
//!
//! Backtrader/Yahoo rows get the instrument from the caller (`exchange`, `symbol`), `open_time`
//! from `Date` (+ `Time`) in UTC, and the timeframe from the smallest spacing between rows.
//! Prices are exact decimals. Bad rows are errors naming `file:line`.

use std::collections::BTreeMap;

use tickflow_model::{Bar, BarKind, Decimal, Instrument, Notional, Timeframe, Ts};

use crate::ConnectorError;

/// Reads every bar of `path` (CSV, or Parquet with the same columns, told by its magic bytes),
/// sorted by (instrument, timeframe, open time).
pub fn read_bars(path: &str, exchange: &str, symbol: &str) -> Result<Vec<Bar>, ConnectorError> {
    let text = super::parquet::read_text(path)?;
    parse_bars(path, &text, exchange, symbol)
}

/// Parses bar CSV text (see the module documentation).
pub fn parse_bars(path: &str, text: &str, exchange: &str, symbol: &str) -> Result<Vec<Bar>, ConnectorError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return Err(ConnectorError::Header { path: path.into(), message: "empty file".into() }) };
    if super::parquet::looks_binary(header.as_bytes()) {
        return Err(super::parquet::not_text(path));
    }
    let names: Vec<String> = header.split(',').map(|h| h.trim().to_ascii_lowercase()).collect();
    let row_err = |line: usize, message: String| ConnectorError::Row { path: path.into(), line: line as u64 + 1, message };
    if names.len() >= 9 && names[..3] == ["symbol", "timeframe", "open_time"] {
        return parse_tickflow(&names, lines, row_err);
    }
    if names.first().map(String::as_str) != Some("date") {
        return Err(ConnectorError::Header {
            path: path.into(),
            message: format!("unknown bar format; expected tickflow's bar header or Date,Open,High,Low,Close,…; got {names:?}"),
        });
    }
    let instrument = Instrument::new(exchange, symbol).map_err(|e| ConnectorError::Header { path: path.into(), message: e.to_string() })?;
    let col = |n: &str| names.iter().position(|x| x == n);
    let need = |n: &str| col(n).ok_or_else(|| ConnectorError::Header { path: path.into(), message: format!("no {n} column") });
    let (o, h, l, c) = (need("open")?, need("high")?, need("low")?, need("close")?);
    let v = col("volume");
    let has_time_col = col("time").is_some();
    let mut rows: Vec<(Ts, [Decimal; 4], Decimal)> = Vec::new();
    for (ln, line) in lines {
        let mut f: Vec<&str> = line.split(',').map(str::trim).collect();
        // a time field the header does not name
        let shift = if !has_time_col && f.len() == names.len() + 1 && f[1].contains(':') { 1 } else { 0 };
        if f.len() < names.len() + shift {
            return Err(row_err(ln, format!("expected {} fields, found {}", names.len() + shift, f.len())));
        }
        let time = if has_time_col {
            Some(f[1])
        } else if shift == 1 {
            Some(f.remove(1))
        } else {
            None
        };
        let stamp = match time {
            Some(t) => format!("{}T{}Z", f[0], t),
            None => f[0].to_string(),
        };
        let ts = Ts::parse_bytes(stamp.as_bytes()).map_err(|e| row_err(ln, e.to_string()))?;
        let d = |i: usize, what: &str| Decimal::parse_bytes(f[i].as_bytes()).map_err(|e| row_err(ln, format!("{what}: {e}")));
        let ohlc = [d(o, "open")?, d(h, "high")?, d(l, "low")?, d(c, "close")?];
        if ohlc[1] < ohlc[2] {
            return Err(row_err(ln, format!("high {} is below low {}", ohlc[1], ohlc[2])));
        }
        let vol = match v {
            Some(i) => d(i, "volume")?,
            None => Decimal::ZERO,
        };
        rows.push((ts, ohlc, vol));
    }
    rows.sort_by_key(|r| r.0);
    let step = rows.windows(2).map(|w| w[1].0 .0 - w[0].0 .0).filter(|d| *d > 0).min().unwrap_or(86_400_000_000_000);
    let tf = Timeframe::from_secs((step / 1_000_000_000).max(1)).map_err(|e| ConnectorError::Header { path: path.into(), message: e.to_string() })?;
    let tf = if tf.secs() > 86_400 { Timeframe::from_secs(86_400).unwrap_or(tf) } else { tf };
    Ok(rows.into_iter().map(|(ts, ohlc, volume)| Bar::from_candle(instrument, tf, ts, ohlc, volume, Notional::ZERO)).collect())
}

fn parse_tickflow<'a>(
    names: &[String],
    lines: impl Iterator<Item = (usize, &'a str)>,
    row_err: impl Fn(usize, String) -> ConnectorError,
) -> Result<Vec<Bar>, ConnectorError> {
    let col = |n: &str| names.iter().position(|x| x == n);
    let (ex, rev, qv, bv, sv, fid, lid) =
        (col("exchange"), col("revision"), col("quote_volume"), col("buy_volume"), col("sell_volume"), col("first_trade_id"), col("last_trade_id"));
    let ct = col("close_time");
    let mut latest: BTreeMap<(Instrument, BarKind, Timeframe, Ts, u64), Bar> = BTreeMap::new();
    let mut seqs: BTreeMap<(Instrument, BarKind), u64> = BTreeMap::new();
    for (ln, line) in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < names.len() {
            return Err(row_err(ln, format!("expected {} fields, found {}", names.len(), f.len())));
        }
        let d = |i: usize| Decimal::parse_bytes(f[i].as_bytes()).map_err(|e| row_err(ln, format!("{}: {e}", names[i])));
        let opt_d = |i: Option<usize>| i.filter(|&i| !f[i].is_empty()).map(d).transpose().map(|x| x.unwrap_or(Decimal::ZERO));
        let opt_u = |i: Option<usize>| -> Result<Option<u64>, ConnectorError> {
            match i.filter(|&i| !f[i].is_empty()) {
                Some(i) => f[i].parse().map(Some).map_err(|_| row_err(ln, format!("{}: not an integer", names[i]))),
                None => Ok(None),
            }
        };
        let instrument = Instrument::new(ex.map(|i| f[i]).unwrap_or("unknown"), f[0]).map_err(|e| row_err(ln, e.to_string()))?;
        // the series: a timeframe (`1m`), or another bar kind (`tick:1000`, `heikinashi:1m`)
        let (kind, timeframe) = Bar::parse_series(f[1]).map_err(|e| row_err(ln, e.to_string()))?;
        let open_ms: i64 = f[2].parse().map_err(|_| row_err(ln, format!("open_time {:?} is not epoch milliseconds", tickflow_model::clip(f[2].as_bytes()))))?;
        let timeframe = match timeframe {
            Some(tf) => tf,
            // an information-driven bar's span: whole seconds to its close time
            None => {
                let close_ms: i64 = ct.and_then(|i| f[i].parse().ok()).unwrap_or(open_ms);
                let secs = ((close_ms - open_ms).max(0) + 999) / 1000;
                Timeframe::from_secs(secs.max(1)).map_err(|e| row_err(ln, e.to_string()))?
            }
        };
        let bar = Bar {
            instrument,
            kind,
            timeframe,
            open_time: Ts::checked_from_millis(open_ms).ok_or_else(|| row_err(ln, format!("open_time {open_ms} is out of range")))?,
            open: d(3)?,
            high: d(4)?,
            low: d(5)?,
            close: d(6)?,
            volume: d(7)?,
            trades: f[8].parse().map_err(|_| row_err(ln, "trades: not an integer".into()))?,
            quote_volume: match qv.filter(|&i| !f[i].is_empty()) {
                Some(i) => Notional::parse_bytes(f[i].as_bytes()).map_err(|e| row_err(ln, format!("quote_volume: {e}")))?,
                None => Notional::ZERO,
            },
            buy_volume: opt_d(bv)?,
            sell_volume: opt_d(sv)?,
            first_trade_id: opt_u(fid)?,
            last_trade_id: opt_u(lid)?,
            revision: opt_u(rev)?.unwrap_or(0) as u32,
            // information-driven bars: their number in the series, in file order (the writer
            // wrote each series in order)
            seq: if kind.is_time() {
                0
            } else {
                let n = seqs.entry((instrument, kind)).or_insert(0);
                *n += 1;
                *n - 1
            },
        };
        let key = (bar.instrument, bar.kind, bar.timeframe, bar.open_time, bar.seq);
        match latest.get(&key) {
            Some(prev) if prev.revision > bar.revision => {}
            _ => {
                latest.insert(key, bar);
            }
        }
    }
    Ok(latest.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtrader_daily_and_intraday_with_header_mismatch() {
        let b = parse_bars(
            "d.txt",
            "Date,Open,High,Low,Close,Volume,OpenInterest\n2006-01-03,3604.08,3638.42,3601.84,3614.34,0,0\n2006-01-02,3578.73,3605.95,3578.73,3604.33,0,0\n",
            "file",
            "IDX/USD",
        )
        .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].open_time, "2006-01-02".parse().unwrap());
        assert_eq!(b[0].timeframe.to_string(), "1d");
        assert_eq!(b[1].close.to_string(), "3614.34");
        let m = parse_bars("m.txt", "Date,Open,High,Low,Close,Volume,OpenInterest\n2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0\n2006-01-02,09:02:00,3600.00,3601.00,3598.00,3599.00,894,0\n", "file", "IDX/USD").unwrap();
        assert_eq!(m[1].open_time, "2006-01-02T09:02:00Z".parse().unwrap());
        assert_eq!(m[0].timeframe.to_string(), "1m");
        assert_eq!(m[0].volume.to_string(), "5699");
    }

    #[test]
    fn tickflow_format_keeps_the_latest_revision() {
        let h = "symbol,timeframe,open_time,open,high,low,close,volume,trades,exchange,close_time,quote_volume,vwap,buy_volume,sell_volume,first_trade_id,last_trade_id,revision";
        let text = format!("{h}\nBTC/USDT,1m,60000,1,2,1,2,3,2,kraken,120000,4,1.3,1,2,5,6,0\nBTC/USDT,1m,60000,1,2,0.5,0.5,4,3,kraken,120000,4.5,1.1,1,3,5,7,1\nBTC/USDT,1m,0,1,1,1,1,1,1,kraken,60000,1,1,,,,,0\n");
        let b = parse_bars("t.csv", &text, "x", "A/B").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].revision, 1);
        assert_eq!(b[1].low.to_string(), "0.5");
        assert_eq!(b[1].last_trade_id, Some(7));
        assert_eq!(b[0].instrument.key(), "kraken:BTC/USDT");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse_bars("x.txt", "Date,Open,High,Low,Close\n2006-01-02,1,2,1,1\n2006-01-03,1,zz,1,1\n", "f", "A/B").unwrap_err().to_string();
        assert!(e.starts_with("x.txt:3: high"), "{e}");
        let e = parse_bars("x.txt", "Date,Open,High,Low,Close\n2006-01-02,1,1,2,1\n", "f", "A/B").unwrap_err().to_string();
        assert!(e.contains("below low"), "{e}");
        assert!(parse_bars("x.txt", "", "f", "A/B").is_err());
        assert!(parse_bars("x.txt", "a,b\n1,2\n", "f", "A/B").unwrap_err().to_string().contains("unknown bar format"));
    }
}
