//! Property tests (issue #14) of the connectors' parsers: the trade CSV reader, every venue's
//! live frame parser (arbitrary text, and recorded frames with their values replaced by
//! arbitrary ones) never panic; valid rows round-trip through the CSV writer and reader; every
//! trade a parser returns either passes the one rule set or is refused by the live session.
//! Cases per property: `PROPTEST_CASES` (default 256).

mod common;

use proptest::prelude::*;
use tickflow_connectors::{venues, TradeCsvOptions, TradeCsvReader, TradeCsvWriter};
use tickflow_model::{Decimal, Instrument, Side, Trade, Ts};

fn read(bytes: Vec<u8>, skip_bad: bool) -> Result<(Vec<Trade>, u64), tickflow_connectors::ConnectorError> {
    let opts = TradeCsvOptions { skip_bad, ingest_ts: Ts(1_800_000_000_000_000_000), max_line: 4096, ..Default::default() };
    let mut r = TradeCsvReader::from_reader("p.csv", Box::new(std::io::Cursor::new(bytes)), opts)?;
    let mut v = Vec::new();
    while r.read_batch(&mut v, 7)? {}
    Ok((v, r.bad_rows()))
}

/// Every recorded WebSocket frame of each venue with a live protocol (`<- ts: frame` lines of
/// cryptofeed captures and whole nautilus JSON files).
fn recorded_frames() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for v in venues::REGISTRY.iter().filter(|v| v.live().is_some()) {
        // venues without a public capture: their documentation's frames
        let documented = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws-documented").join(format!("{}.jsonl", v.id()));
        if let Ok(text) = std::fs::read_to_string(documented) {
            out.extend(text.lines().filter(|l| !l.trim().is_empty()).map(|l| (v.id(), l.to_string())));
        }
        let dir = common::data().join("ws-samples").join(v.id());
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if e.path().extension().is_some_and(|x| x == "json") {
                out.push((v.id(), text));
            } else {
                // received frames: `<ts>: <frame>` (sent ones carry ` <- `, the connection `<->`)
                let received = text.lines().filter(|l| !l.contains(" <- ") && !l.contains("<->"));
                out.extend(received.filter_map(|l| l.split_once(": ")).map(|(_, f)| (v.id(), f.to_string())).take(300));
            }
        }
    }
    out
}

/// A JSON value with every number and numeric string replaced by one of `subs` (cycled).
fn mutate(v: &mut serde_json::Value, subs: &[serde_json::Value], k: &mut usize) {
    match v {
        serde_json::Value::Number(_) => {
            *v = subs[*k % subs.len()].clone();
            *k += 1;
        }
        serde_json::Value::String(s) if s.parse::<f64>().is_ok() => {
            *v = subs[*k % subs.len()].clone();
            *k += 1;
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| mutate(x, subs, k)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| mutate(x, subs, k)),
        _ => {}
    }
}

fn hostile_number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        "[-+]?[0-9]{0,30}(\\.[0-9]{0,30})?(e[-+]?[0-9]{1,3})?".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("0")),
        Just(serde_json::Value::from("-1")),
        Just(serde_json::Value::from(i64::MAX)),
        Just(serde_json::Value::from(u64::MAX)),
    ]
}

proptest! {
    /// Arbitrary bytes after a valid header: rows or errors, never a panic, and with
    /// `skip_bad` every line is either a trade or a counted bad row.
    #[test]
    fn csv_reader_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut bytes = b"timestamp,exchange,symbol,trade_id,price,amount,side,ingest_ts\n".to_vec();
        bytes.extend(&body);
        let _ = read(bytes.clone(), false);
        if let Ok((v, bad)) = read(bytes, true) {
            let lines = body.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count() as u64;
            prop_assert!(v.len() as u64 + bad <= lines, "{} trades + {} bad > {} lines", v.len(), bad, lines);
        }
    }

    /// CSV-shaped rows with hostile field values: never a panic; every trade read passes the
    /// one rule set.
    #[test]
    fn csv_rows_with_hostile_values_are_read_or_refused(
        rows in proptest::collection::vec((
            "-?[0-9]{0,22}|2[0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})",
            "[A-Z]{1,5}/[A-Z]{1,5}|[^,\n]{0,50}",
            "-?[0-9]{0,25}(\\.[0-9]{0,12})?",
            "-?[0-9]{0,25}(\\.[0-9]{0,12})?",
            "[0-9]{0,21}",
        ), 1..20),
    ) {
        let mut text = "timestamp,symbol,price,amount,trade_id\n".to_string();
        for (ts, sym, px, qty, id) in &rows {
            text.push_str(&format!("{ts},{sym},{px},{qty},{id}\n"));
        }
        if let Ok((v, bad)) = read(text.into_bytes(), true) {
            prop_assert_eq!(v.len() as u64 + bad, rows.len() as u64);
            for t in &v {
                prop_assert!(t.price.mantissa() > 0 && t.amount.mantissa() > 0 && t.ts.0 >= 0);
            }
        }
    }

    /// Valid trades round-trip exactly through the writer and the reader.
    #[test]
    fn valid_trades_round_trip_through_csv(
        trades in proptest::collection::vec((0i64..1_790_000_000_000_000_000, 1i128..1_000_000_000_000_000, 1i128..1_000_000_000_000_000, proptest::option::of(0u64..u64::MAX), 0u8..3), 1..30),
    ) {
        let inst = Instrument::new("kraken", "BTC/USDT").unwrap();
        let want: Vec<Trade> = trades
            .iter()
            .map(|&(ts, p, q, id, side)| Trade {
                instrument: inst,
                trade_id: id,
                ts: Ts(ts),
                ingest_ts: Ts(1_790_000_000_000_000_000),
                price: Decimal::from_mantissa(p),
                amount: Decimal::from_mantissa(q),
                side: [Side::Buy, Side::Sell, Side::Unknown][side as usize],
            })
            .collect();
        let mut w = TradeCsvWriter::new("w", Vec::new()).unwrap();
        for t in &want {
            w.write(t).unwrap();
        }
        let bytes = w.finish().unwrap();
        let (got, bad) = read(bytes, false).unwrap();
        prop_assert_eq!(bad, 0);
        prop_assert_eq!(got, want);
    }

    /// Arbitrary text into every venue's live frame parser: trades or an error, never a panic.
    #[test]
    fn venue_frame_parsers_never_panic_on_arbitrary_text(text in ".{0,300}") {
        for v in venues::REGISTRY.iter() {
            if let Some(live) = v.live() {
                let _ = live.parse(&text, v.id(), Ts(1_800_000_000_000_000_000));
            }
        }
    }

    /// Recorded frames of every venue with each number replaced by a hostile one (huge, zero,
    /// negative, fractional): never a panic, and the session's rule set decides the rest.
    #[test]
    fn recorded_frames_with_hostile_numbers_never_panic(subs in proptest::collection::vec(hostile_number(), 1..6), pick in any::<proptest::sample::Index>()) {
        let frames = recorded_frames();
        prop_assume!(!frames.is_empty());
        let (venue, frame) = &frames[pick.index(frames.len())];
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(frame) else { return Ok(()) };
        let mut k = 0;
        mutate(&mut v, &subs, &mut k);
        let live = venues::get(venue).and_then(|x| x.live()).unwrap();
        let _ = live.parse(&v.to_string(), venue, Ts(1_800_000_000_000_000_000));
    }
}

/// Every live venue's parser is fuzzed on real frames: recorded captures, or (Kraken Futures, no
/// public capture) its documentation's frames in `tests/fixtures/ws-documented/`.
#[test]
fn there_are_recorded_frames_for_every_live_venue() {
    let frames = recorded_frames();
    for v in venues::REGISTRY.iter().filter(|v| v.live().is_some() && v.id() != "cryptocompare") {
        assert!(frames.iter().any(|(id, _)| *id == v.id()), "no recorded frames for {}", v.id());
    }
}
