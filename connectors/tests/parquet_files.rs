//! Parquet in and out: tickflow's files round-trip exactly, users' column types read like their
//! CSV, and a file that is neither CSV nor Parquet is refused without echoing its bytes.

mod common;

use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, Float64Builder, Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampMillisecondBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, BinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use tickflow_connectors::{read_bars, BarWriter, ConnectorError, TradeCsvOptions, TradeCsvReader, TradeWriter};
use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

fn opts() -> TradeCsvOptions {
    TradeCsvOptions { ingest_ts: Ts(1_800_000_000_000_000_000), ..Default::default() }
}

fn read_trades(path: &str, o: TradeCsvOptions) -> Result<Vec<Trade>, ConnectorError> {
    let mut r = TradeCsvReader::open(path, o)?;
    let mut v = Vec::new();
    while r.read_batch(&mut v, 1000)? {}
    Ok(v)
}

fn write_batch(path: &std::path::Path, fields: Vec<Field>, cols: Vec<ArrayRef>) {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn real_trades_round_trip_through_parquet_exactly() {
    // freqtrade's Binance XRP/ETH tape: CSV in, Parquet out, Parquet in
    let dir = tempfile::tempdir().unwrap();
    let src = common::data().join("trades/freqtrade/XRP_ETH-trades.csv");
    let o = TradeCsvOptions { default_symbol: Some("XRP/ETH".into()), exchange: "binance".into(), ..opts() };
    let csv = read_trades(src.to_str().unwrap(), o.clone()).unwrap();
    assert!(csv.len() > 1000, "{}", csv.len());
    let pq = dir.path().join("t.parquet");
    let mut w = TradeWriter::create(pq.to_str().unwrap(), false).unwrap();
    for t in &csv {
        w.write(t).unwrap();
    }
    w.flush().unwrap();
    // not published before it is finished: a reader never sees a file without its footer
    assert!(!pq.exists());
    assert!(dir.path().join("t.parquet.part").exists());
    w.finish().unwrap();
    assert!(pq.exists() && !dir.path().join("t.parquet.part").exists());
    assert!(tickflow_connectors::is_parquet(pq.to_str().unwrap()).unwrap());
    let back = read_trades(pq.to_str().unwrap(), opts()).unwrap();
    assert_eq!(back, csv, "every field, ingest time included");
}

fn bar(i: i64, rev: u32) -> Bar {
    let inst = Instrument::new("kraken", "BTC/USD").unwrap();
    let mut b = Bar::from_candle(
        inst,
        Timeframe::from_secs(60).unwrap(),
        Ts::from_millis(1_762_795_440_000 + i * 60_000),
        [Decimal::from_int(100 + i), Decimal::from_int(110 + i), Decimal::from_int(90), Decimal::from_mantissa(105_123_456_789)],
        Decimal::from_mantissa(1_500_000_001),
        Notional::from_mantissa(157_685_185_183_500_000_000_001),
    );
    b.trades = 7;
    b.revision = rev;
    if i % 2 == 0 {
        b.first_trade_id = Some(10 + i as u64);
        b.last_trade_id = Some(u64::MAX - 1);
        b.buy_volume = Decimal::from_mantissa(1);
        b.sell_volume = Decimal::from_mantissa(1_500_000_000);
    }
    b
}

#[test]
fn bars_round_trip_through_parquet_exactly_and_resume_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (pq, csv) = (dir.path().join("b.parquet"), dir.path().join("b.csv"));
    let bars: Vec<Bar> = (0..5).map(|i| bar(i, (i % 3) as u32)).collect();
    for p in [&pq, &csv] {
        let mut w = BarWriter::create(p.to_str().unwrap()).unwrap();
        w.write_all(&bars).unwrap();
        w.finish().unwrap();
    }
    let from_pq = read_bars(pq.to_str().unwrap(), "x", "X/Y").unwrap();
    assert_eq!(from_pq, bars);
    assert_eq!(from_pq, read_bars(csv.to_str().unwrap(), "x", "X/Y").unwrap());
    // --resume on a Parquet file: the old bars, then the new ones
    let more: Vec<Bar> = (5..8).map(|i| bar(i, 0)).collect();
    let mut w = BarWriter::append(pq.to_str().unwrap()).unwrap();
    w.write_all(&more).unwrap();
    w.finish().unwrap();
    let all = read_bars(pq.to_str().unwrap(), "x", "X/Y").unwrap();
    assert_eq!(all, bars.iter().chain(&more).copied().collect::<Vec<_>>());
}

#[test]
fn users_column_types_read_like_their_csv() {
    // what pandas/polars files hold: ms timestamps, float prices, a dictionary-encoded symbol,
    // a Decimal128 amount at another scale, integer ids, Binance's buyer-maker flag, nulls
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("user.parquet");
    let mut ts = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut px = Float64Builder::new();
    let mut sym = StringDictionaryBuilder::<Int32Type>::new();
    let mut qty = Decimal128Builder::new().with_data_type(DataType::Decimal128(18, 8));
    let mut id = Int64Builder::new();
    let mut maker = StringBuilder::new();
    // (ms, price, pair, quantity mantissa at scale 8, id, is_buyer_maker)
    type Row<'a> = (i64, f64, &'a str, i128, Option<i64>, &'a str);
    let rows: [Row; 3] = [
        (1_610_064_000_278, 39432.48, "BTC/USDT", 26_300, Some(553_287_559), "True"),
        (1_610_064_000_310, 0.1 + 0.2, "ETH/USDT", 437_600_000, None, "False"),
        (1_610_064_000_368, 0.000311 * 1.0000000000000001, "BTC/USDT", 31_100, Some(553_287_561), ""),
    ];
    for (t, p, s, q, i, m) in rows {
        ts.append_value(t);
        px.append_value(p);
        sym.append_value(s);
        qty.append_value(q);
        id.append_option(i);
        maker.append_value(m);
    }
    write_batch(
        &p,
        vec![
            Field::new("time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
            Field::new("price", DataType::Float64, false),
            Field::new("pair", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
            Field::new("quantity", DataType::Decimal128(18, 8), false),
            Field::new("id", DataType::Int64, true),
            Field::new("is_buyer_maker", DataType::Utf8, false),
        ],
        vec![Arc::new(ts.finish()), Arc::new(px.finish()), Arc::new(sym.finish()), Arc::new(qty.finish()), Arc::new(id.finish()), Arc::new(maker.finish())],
    );
    let o = TradeCsvOptions { exchange: "binance".into(), ..opts() };
    let got = read_trades(p.to_str().unwrap(), o.clone()).unwrap();
    // the same rows as CSV text, read by the same reader
    let csv = dir.path().join("user.csv");
    std::fs::write(
        &csv,
        "time,price,pair,quantity,id,is_buyer_maker\n1610064000278,39432.48,BTC/USDT,0.000263,553287559,True\n1610064000310,0.3,ETH/USDT,4.376,,False\n1610064000368,0.000311,BTC/USDT,0.000311,553287561,\n",
    )
    .unwrap();
    let want = read_trades(csv.to_str().unwrap(), o).unwrap();
    assert_eq!(got, want);
    assert_eq!(got[1].price.to_string(), "0.3", "0.1 + 0.2 = 0.30000000000000004 is rounded at the ninth decimal");
    assert_eq!((got[0].side, got[1].side, got[2].side), (Side::Sell, Side::Buy, Side::Unknown));
    assert_eq!(got[1].instrument.key(), "binance:ETH/USDT");
    assert_eq!(got[0].ts, Ts::from_millis(1_610_064_000_278));
}

#[test]
fn an_unreadable_column_type_is_a_bad_row_naming_it_and_unused_ones_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bin.parquet");
    let ts: ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![1_610_064_000_278i64]));
    let blob: ArrayRef = Arc::new(BinaryArray::from(vec![b"\x00\x01".as_ref()]));
    let amount: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.5]));
    write_batch(
        &p,
        vec![Field::new("timestamp", DataType::Int64, false), Field::new("price", DataType::Binary, false), Field::new("amount", DataType::Float64, false)],
        vec![ts.clone(), blob.clone(), amount.clone()],
    );
    let o = TradeCsvOptions { default_symbol: Some("BTC/USDT".into()), ..opts() };
    let e = read_trades(p.to_str().unwrap(), o.clone()).unwrap_err().to_string();
    assert!(e.contains("bin.parquet:2") && e.contains("unsupported Parquet type Binary"), "{e}");
    // the same type in a column nobody reads is harmless
    let p2 = dir.path().join("extra.parquet");
    let price: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![100.25]));
    write_batch(
        &p2,
        vec![
            Field::new("timestamp", DataType::Int64, false),
            Field::new("price", DataType::Float64, false),
            Field::new("amount", DataType::Float64, false),
            Field::new("raw", DataType::Binary, false),
        ],
        vec![ts, price, amount, blob],
    );
    let v = read_trades(p2.to_str().unwrap(), o).unwrap();
    assert_eq!((v[0].price.to_string().as_str(), v[0].amount.to_string().as_str()), ("100.25", "1.5"));
}

#[test]
fn neither_csv_nor_parquet_is_refused_without_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trades.csv");
    // a gzip file named .csv
    std::fs::write(&p, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xcd\xef,price\n").unwrap();
    let e = read_trades(p.to_str().unwrap(), opts()).unwrap_err().to_string();
    assert!(e.contains("neither CSV") && e.contains("Parquet"), "{e}");
    assert!(!e.contains('\u{fffd}') && !e.contains("\\x") && !e.contains("price"), "no bytes echoed: {e}");
    let e = read_bars(p.to_str().unwrap(), "x", "X/Y").unwrap_err().to_string();
    assert!(e.contains("neither CSV"), "{e}");
    // a truncated Parquet file (magic, no footer) is a Parquet error, not text
    std::fs::write(&p, b"PAR1\x15\x04\x15\x10").unwrap();
    let e = read_trades(p.to_str().unwrap(), opts()).unwrap_err().to_string();
    assert!(e.contains("Parquet"), "{e}");
}

#[test]
fn values_beyond_decimal128_are_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.parquet");
    let mut w = TradeWriter::create(p.to_str().unwrap(), false).unwrap();
    let t = Trade {
        instrument: Instrument::new("x", "BTC/USD").unwrap(),
        trade_id: None,
        ts: Ts(1_700_000_000_000_000_000),
        ingest_ts: Ts(1_700_000_000_000_000_000),
        price: Decimal::from_mantissa(i128::MAX),
        amount: Decimal::ONE,
        side: Side::Buy,
    };
    let e = w.write(&t).unwrap_err().to_string();
    assert!(e.contains("price") && e.contains("Decimal128"), "{e}");
}
