//! Parquet in and out.
//!
//! **Out.** Trades and bars are written with the column names of the CSV layouts
//! ([`TRADE_CSV_HEADER`](super::trade_csv::TRADE_CSV_HEADER),
//! [`BAR_CSV_HEADER`](super::bar_out::BAR_CSV_HEADER)) and exact types:
//!
//! | values | Parquet/Arrow type |
//! |---|---|
//! | prices, amounts, volumes, VWAP | `Decimal128(38, 9)` (tickflow's nine fractional digits, exact) |
//! | `quote_volume` | `Decimal128(38, 18)` |
//! | `timestamp`, `ingest_ts`, `open_time`, `close_time` | `Timestamp(ns, "UTC")` |
//! | `trade_id`, `first_trade_id`, `last_trade_id`, `trades` | `UInt64` (ids nullable) |
//! | `revision` | `UInt32` |
//! | `exchange`, `symbol`, `side`, `timeframe` | `Utf8` |
//!
//! Files are Snappy-compressed and written to `<name>.part`, renamed to `<name>` when complete:
//! a Parquet file that exists is whole (a Parquet file is unreadable without its footer, so an
//! interrupted job leaves only the `.part`).
//!
//! **In.** A Parquet file is recognised by its magic bytes (`PAR1`), whatever its name, and read
//! through the same readers as CSV — same column names and aliases, same validation, same
//! errors (`file:row`, counting the header as line 1). Accepted column types: `Decimal128`
//! (exact), `float64`/`float32` (taken through their shortest text, rounded at the ninth
//! decimal, as the CCXT path does),
//! signed and unsigned integers, strings (also dictionary-encoded and views), booleans,
//! `Timestamp` in any unit and `Date32`/`Date64` (UTC). A column of another type reads as a
//! marker that makes a row using it a bad row naming the type. A file that is neither Parquet
//! nor text is refused with [`not_text`].

use std::fs::File;
use std::io::{Read, Write};
use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, StringBuilder, TimestampNanosecondBuilder, UInt32Builder, UInt64Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tickflow_model::{Bar, Trade};

use crate::ConnectorError;

/// The first bytes of every Parquet file.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// Rows per record batch, read or written.
const BATCH: usize = 8192;

/// Whether `path` is a Parquet file (by its magic bytes, not its name).
pub fn is_parquet(path: &str) -> Result<bool, ConnectorError> {
    let mut f = File::open(path).map_err(|e| ConnectorError::io(path, e))?;
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ConnectorError::io(path, e)),
        }
    }
    Ok(n == 4 && &head == PARQUET_MAGIC)
}

/// Whether an output named `path` is written as Parquet (`.parquet` or `.pq`).
pub fn wants_parquet(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.ends_with(".parquet") || p.ends_with(".pq")
}

/// The error for an input whose first line is not text (a binary file that is not Parquet):
/// it says what was expected and shows no bytes.
pub fn not_text(path: &str) -> ConnectorError {
    ConnectorError::Header { path: path.into(), message: "neither CSV (text with a header line) nor Parquet (magic PAR1): a binary file".into() }
}

/// Whether a header line looks like binary data rather than CSV text: not UTF-8, or a control
/// character other than tab.
pub(crate) fn looks_binary(line: &[u8]) -> bool {
    std::str::from_utf8(line).is_err() || line.iter().any(|&b| b < 0x20 && b != b'\t' && b != b'\r')
}

fn parquet_err(path: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Header { path: path.into(), message: format!("Parquet: {e}") }
}

/// How a Parquet timestamp is rendered for the text readers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum TsText {
    /// Epoch nanoseconds (from 1973 on, where the magnitude rule reads them as ns), otherwise
    /// decimal epoch seconds: exact either way.
    Nanos,
    /// Epoch milliseconds when whole (the bar files' `open_time`), otherwise as [`TsText::Nanos`].
    Millis,
}

/// A Parquet file rendered as CSV text, one record batch at a time (memory is bounded by the
/// batch, not the file): what lets Parquet input use the CSV readers' rules unchanged.
pub(crate) struct ParquetText {
    path: String,
    reader: ParquetRecordBatchReader,
    style: TsText,
    buf: Vec<u8>,
    pos: usize,
}

impl ParquetText {
    /// Opens `path`; the header line (the column names) is ready to read.
    pub(crate) fn open(path: &str, style: TsText) -> Result<Self, ConnectorError> {
        let f = File::open(path).map_err(|e| ConnectorError::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| parquet_err(path, e))?;
        let schema = builder.schema().clone();
        let reader = builder.with_batch_size(BATCH).build().map_err(|e| parquet_err(path, e))?;
        let mut buf = Vec::with_capacity(1 << 16);
        for (i, field) in schema.fields().iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            quoted(&mut buf, field.name().as_bytes());
        }
        buf.push(b'\n');
        Ok(ParquetText { path: path.into(), reader, style, buf, pos: 0 })
    }

    /// Renders the next batch; `false` at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.buf.clear();
        self.pos = 0;
        let Some(batch) = self.reader.next() else { return Ok(false) };
        let batch = batch.map_err(|e| std::io::Error::other(format!("Parquet: {e}")))?;
        let cols: Vec<Cell> = batch.columns().iter().map(|c| Cell::of(c, self.style)).collect::<Result<_, _>>().map_err(std::io::Error::other)?;
        for row in 0..batch.num_rows() {
            for (i, c) in cols.iter().enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                c.render(row, &mut self.buf);
            }
            self.buf.push(b'\n');
        }
        Ok(true)
    }

    /// The whole file as text (bar files: small).
    pub(crate) fn read_all(path: &str, style: TsText) -> Result<String, ConnectorError> {
        let mut t = ParquetText::open(path, style)?;
        let mut out = String::new();
        t.read_to_string(&mut out).map_err(|e| ConnectorError::io(path, e))?;
        Ok(out)
    }
}

/// The whole of a small table file as CSV text: a Parquet file rendered (timestamps as epoch
/// ms when whole), a text file as is; anything else is [`not_text`].
pub(crate) fn read_text(path: &str) -> Result<String, ConnectorError> {
    if is_parquet(path)? {
        return ParquetText::read_all(path, TsText::Millis);
    }
    let bytes = std::fs::read(path).map_err(|e| ConnectorError::io(path, e))?;
    String::from_utf8(bytes).map_err(|_| not_text(path))
}

impl Read for ParquetText {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl std::fmt::Debug for ParquetText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParquetText({})", self.path)
    }
}

/// Writes `s` as one CSV field, quoted when it holds a comma, quote or line break.
fn quoted(buf: &mut Vec<u8>, s: &[u8]) {
    if s.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        buf.push(b'"');
        for &b in s {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s);
    }
}

/// One column of a batch, typed for rendering.
enum Cell {
    Str(ArrayRef),
    Signed(ArrayRef),
    Unsigned(ArrayRef),
    F64(ArrayRef),
    F32(ArrayRef),
    Bool(ArrayRef),
    Dec(ArrayRef, i8),
    /// Values are `unit`s of nanoseconds since the epoch.
    Time(ArrayRef, i128, TsText),
    /// A type the readers do not take: rows using it are bad rows naming it.
    Other(ArrayRef, Vec<u8>),
}

impl Cell {
    fn of(a: &ArrayRef, style: TsText) -> Result<Cell, String> {
        let cast = |to: &DataType| arrow_cast::cast(a, to).map_err(|e| format!("Parquet: column of type {}: {e}", a.data_type()));
        Ok(match a.data_type() {
            DataType::Utf8 => Cell::Str(a.clone()),
            DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => Cell::Str(cast(&DataType::Utf8)?),
            DataType::Int64 => Cell::Signed(a.clone()),
            DataType::Int8 | DataType::Int16 | DataType::Int32 => Cell::Signed(cast(&DataType::Int64)?),
            DataType::UInt64 => Cell::Unsigned(a.clone()),
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => Cell::Unsigned(cast(&DataType::UInt64)?),
            DataType::Float64 => Cell::F64(a.clone()),
            DataType::Float32 => Cell::F32(a.clone()),
            DataType::Boolean => Cell::Bool(a.clone()),
            DataType::Decimal128(_, s) => Cell::Dec(a.clone(), *s),
            DataType::Timestamp(unit, _) => {
                let per = match unit {
                    TimeUnit::Second => 1_000_000_000,
                    TimeUnit::Millisecond => 1_000_000,
                    TimeUnit::Microsecond => 1_000,
                    TimeUnit::Nanosecond => 1,
                };
                Cell::Time(a.clone(), per, style)
            }
            DataType::Date32 => Cell::Time(a.clone(), 86_400_000_000_000, style),
            DataType::Date64 => Cell::Time(a.clone(), 1_000_000, style),
            t => Cell::Other(a.clone(), format!("<unsupported Parquet type {t}>").replace(',', ";").into_bytes()),
        })
    }

    fn array(&self) -> &ArrayRef {
        match self {
            Cell::Str(a)
            | Cell::Signed(a)
            | Cell::Unsigned(a)
            | Cell::F64(a)
            | Cell::F32(a)
            | Cell::Bool(a)
            | Cell::Dec(a, _)
            | Cell::Time(a, ..)
            | Cell::Other(a, _) => a,
        }
    }

    fn render(&self, row: usize, buf: &mut Vec<u8>) {
        let a = self.array();
        if a.is_null(row) {
            return;
        }
        match self {
            Cell::Str(a) => quoted(buf, a.as_string::<i32>().value(row).as_bytes()),
            Cell::Signed(a) => {
                let v = a.as_primitive::<Int64Type>().value(row);
                if v < 0 {
                    buf.push(b'-');
                }
                push_u64(buf, v.unsigned_abs());
            }
            Cell::Unsigned(a) => push_u64(buf, a.as_primitive::<UInt64Type>().value(row)),
            Cell::F64(a) => float_text(buf, &a.as_primitive::<Float64Type>().value(row).to_string()),
            Cell::F32(a) => float_text(buf, &a.as_primitive::<Float32Type>().value(row).to_string()),
            Cell::Bool(a) => buf.extend_from_slice(if a.as_boolean().value(row) { b"true" } else { b"false" }),
            Cell::Dec(a, scale) => decimal_text(buf, a.as_primitive::<Decimal128Type>().value(row), *scale),
            Cell::Time(a, per, style) => {
                let v: i128 = match a.data_type() {
                    DataType::Timestamp(TimeUnit::Second, _) => a.as_primitive::<TimestampSecondType>().value(row) as i128,
                    DataType::Timestamp(TimeUnit::Millisecond, _) => a.as_primitive::<TimestampMillisecondType>().value(row) as i128,
                    DataType::Timestamp(TimeUnit::Microsecond, _) => a.as_primitive::<TimestampMicrosecondType>().value(row) as i128,
                    DataType::Timestamp(TimeUnit::Nanosecond, _) => a.as_primitive::<TimestampNanosecondType>().value(row) as i128,
                    DataType::Date32 => a.as_primitive::<Date32Type>().value(row) as i128,
                    _ => a.as_primitive::<Date64Type>().value(row) as i128,
                };
                time_text(buf, v * per, *style);
            }
            Cell::Other(_, marker) => buf.extend_from_slice(marker),
        }
    }
}

/// A float's shortest round-trip text (Rust's `Display`), rounded at the ninth decimal as the
/// CCXT path does (`0.00031099999999999997` → `0.000311`: the venue's string for any value of
/// at most 15 significant digits); text that is no decimal (`NaN`, `inf`) is kept, for the
/// reader to refuse.
fn float_text(buf: &mut Vec<u8>, shortest: &str) {
    match crate::venues::cryptocompare::round_decimal(shortest) {
        Ok(d) => {
            use std::io::Write as _;
            let _ = write!(buf, "{d}");
        }
        Err(_) => buf.extend_from_slice(shortest.as_bytes()),
    }
}

/// Appends the decimal digits of `v` (no formatting machinery: this is the Parquet reader's
/// inner loop).
#[inline]
fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    // two digits per division
    const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `v` as exactly `width` digits, zero-padded (`v < 10^width`).
#[inline]
fn push_padded(buf: &mut Vec<u8>, mut v: u64, width: usize) {
    let start = buf.len();
    buf.resize(start + width, b'0');
    let mut i = buf.len();
    while v > 0 && i > start {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The exact text of a `Decimal128` mantissa at `scale`, without trailing fractional zeros
/// (`95000.020000000` → `95000.02`).
fn decimal_text(buf: &mut Vec<u8>, m: i128, scale: i8) {
    use std::io::Write as _;
    if m < 0 {
        buf.push(b'-');
    }
    let abs = m.unsigned_abs();
    if scale <= 0 {
        let _ = write!(buf, "{abs}");
        if abs != 0 {
            for _ in 0..(-(scale as i32)) {
                buf.push(b'0');
            }
        }
        return;
    }
    let (mut frac, mut width) = if scale <= 19 && abs <= u64::MAX as u128 {
        let p = 10u64.pow(scale as u32);
        let a = abs as u64;
        push_u64(buf, a / p);
        (a % p, scale as usize)
    } else {
        let p = 10u128.pow(scale.min(38) as u32);
        let _ = write!(buf, "{}", abs / p);
        let f = abs % p;
        if f > u64::MAX as u128 {
            let _ = write!(buf, ".{:0w$}", f, w = scale as usize);
            while buf.last() == Some(&b'0') {
                buf.pop();
            }
            return;
        }
        (f as u64, scale as usize)
    };
    if frac == 0 {
        return;
    }
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    buf.push(b'.');
    push_padded(buf, frac, width);
}

/// The text of an epoch-nanosecond time (see [`TsText`]).
fn time_text(buf: &mut Vec<u8>, ns: i128, style: TsText) {
    if style == TsText::Millis && ns % 1_000_000 == 0 && (0..=i64::MAX as i128).contains(&ns) {
        push_u64(buf, (ns / 1_000_000) as u64);
    } else if (100_000_000_000_000_000..=i64::MAX as i128).contains(&ns) {
        push_u64(buf, ns as u64);
    } else {
        use std::io::Write as _;
        if ns < 0 {
            buf.push(b'-');
        }
        let a = ns.unsigned_abs();
        let _ = write!(buf, "{}.{:09}", a / 1_000_000_000, a % 1_000_000_000);
    }
}

pub(crate) fn decimal(p: u8, s: i8) -> DataType {
    DataType::Decimal128(p, s)
}

pub(crate) fn utc_ns() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The largest mantissa `Decimal128(38, _)` holds.
const MAX_38: i128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;

pub(crate) fn dec_value(name: &str, column: &str, m: i128) -> Result<i128, ConnectorError> {
    if (-MAX_38..=MAX_38).contains(&m) {
        Ok(m)
    } else {
        Err(ConnectorError::Header { path: name.into(), message: format!("{column}: mantissa {m} does not fit Decimal128(38)") })
    }
}

/// A Parquet file being written: the Arrow writer and the rename that publishes it.
pub(crate) struct Out {
    name: String,
    writer: Option<ArrowWriter<Box<dyn Write + Send>>>,
    /// (`<name>.part`, `<name>`), renamed on [`Out::finish`].
    publish: Option<(String, String)>,
}

impl Out {
    pub(crate) fn create(path: &str, schema: SchemaRef) -> Result<Out, ConnectorError> {
        let part = format!("{path}.part");
        let f = File::create(&part).map_err(|e| ConnectorError::io(&part, e))?;
        let mut o = Out::new(path, Box::new(std::io::BufWriter::with_capacity(1 << 20, f)), schema)?;
        o.publish = Some((part, path.to_string()));
        Ok(o)
    }

    fn new(name: &str, out: Box<dyn Write + Send>, schema: SchemaRef) -> Result<Out, ConnectorError> {
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_created_by(format!("tickflow {}", env!("CARGO_PKG_VERSION"))).build();
        let writer = ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| parquet_err(name, e))?;
        Ok(Out { name: name.into(), writer: Some(writer), publish: None })
    }

    pub(crate) fn write(&mut self, schema: &SchemaRef, cols: Vec<ArrayRef>) -> Result<(), ConnectorError> {
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| parquet_err(&self.name, e))?;
        match self.writer.as_mut() {
            Some(w) => w.write(&batch).map_err(|e| parquet_err(&self.name, e)),
            None => Err(parquet_err(&self.name, "written after it was finished")),
        }
    }

    pub(crate) fn finish(&mut self) -> Result<(), ConnectorError> {
        let Some(w) = self.writer.take() else { return Ok(()) };
        let mut inner = w.into_inner().map_err(|e| parquet_err(&self.name, e))?;
        inner.flush().map_err(|e| ConnectorError::io(&self.name, e))?;
        drop(inner);
        if let Some((part, path)) = self.publish.take() {
            if let Ok(f) = File::open(&part) {
                f.sync_all().map_err(|e| ConnectorError::io(&part, e))?;
            }
            std::fs::rename(&part, &path).map_err(|e| ConnectorError::io(&path, e))?;
        }
        Ok(())
    }
}

/// The schema of trade Parquet files (the columns of the full trade CSV layout).
pub fn trade_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("timestamp", utc_ns(), false),
        Field::new("exchange", DataType::Utf8, false),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("trade_id", DataType::UInt64, true),
        Field::new("price", decimal(38, 9), false),
        Field::new("amount", decimal(38, 9), false),
        Field::new("side", DataType::Utf8, false),
        Field::new("ingest_ts", utc_ns(), false),
    ]))
}

/// Writes trades as Parquet ([`trade_schema`]); readable by
/// [`TradeCsvReader`](super::trade_csv::TradeCsvReader), pyarrow and polars.
pub struct TradeParquetWriter {
    out: Out,
    schema: SchemaRef,
    ts: TimestampNanosecondBuilder,
    exchange: StringBuilder,
    symbol: StringBuilder,
    id: UInt64Builder,
    price: Decimal128Builder,
    amount: Decimal128Builder,
    side: StringBuilder,
    ingest: TimestampNanosecondBuilder,
    buffered: usize,
    rows: u64,
}

impl TradeParquetWriter {
    /// Creates `path` (written to `<path>.part`, renamed by [`finish`](Self::finish)).
    pub fn create(path: &str) -> Result<Self, ConnectorError> {
        let schema = trade_schema();
        Ok(Self::with(Out::create(path, schema.clone())?, schema))
    }

    /// Writes to any byte sink (`name` is used in errors).
    pub fn new(name: &str, out: Box<dyn Write + Send>) -> Result<Self, ConnectorError> {
        let schema = trade_schema();
        Ok(Self::with(Out::new(name, out, schema.clone())?, schema))
    }

    fn with(out: Out, schema: SchemaRef) -> Self {
        let dec = || Decimal128Builder::new().with_data_type(decimal(38, 9));
        TradeParquetWriter {
            out,
            schema,
            ts: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            exchange: StringBuilder::new(),
            symbol: StringBuilder::new(),
            id: UInt64Builder::new(),
            price: dec(),
            amount: dec(),
            side: StringBuilder::new(),
            ingest: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            buffered: 0,
            rows: 0,
        }
    }

    /// Writes one trade.
    pub fn write(&mut self, t: &Trade) -> Result<(), ConnectorError> {
        let name = &self.out.name;
        let (price, amount) = (dec_value(name, "price", t.price.mantissa())?, dec_value(name, "amount", t.amount.mantissa())?);
        self.ts.append_value(t.ts.0);
        self.exchange.append_value(t.instrument.exchange());
        self.symbol.append_value(t.instrument.symbol());
        self.id.append_option(t.trade_id);
        self.price.append_value(price);
        self.amount.append_value(amount);
        self.side.append_value(t.side.as_str());
        self.ingest.append_value(t.ingest_ts.0);
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the buffered rows to the Parquet writer (the file is complete only after
    /// [`finish`](Self::finish)).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        if self.buffered == 0 {
            return Ok(());
        }
        self.buffered = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.exchange.finish()),
            Arc::new(self.symbol.finish()),
            Arc::new(self.id.finish()),
            Arc::new(self.price.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.side.finish()),
            Arc::new(self.ingest.finish()),
        ];
        self.out.write(&self.schema, cols)
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer and publishes the file.
    pub fn finish(&mut self) -> Result<(), ConnectorError> {
        self.flush()?;
        self.out.finish()
    }
}

/// The schema of bar Parquet files (the columns of [`BAR_CSV_HEADER`](super::bar_out::BAR_CSV_HEADER)).
pub fn bar_schema() -> SchemaRef {
    let d = || decimal(38, 9);
    Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("timeframe", DataType::Utf8, false),
        Field::new("open_time", utc_ns(), false),
        Field::new("open", d(), false),
        Field::new("high", d(), false),
        Field::new("low", d(), false),
        Field::new("close", d(), false),
        Field::new("volume", d(), false),
        Field::new("trades", DataType::UInt64, false),
        Field::new("exchange", DataType::Utf8, false),
        Field::new("close_time", utc_ns(), false),
        Field::new("quote_volume", decimal(38, 18), false),
        Field::new("vwap", d(), true),
        Field::new("buy_volume", d(), false),
        Field::new("sell_volume", d(), false),
        Field::new("first_trade_id", DataType::UInt64, true),
        Field::new("last_trade_id", DataType::UInt64, true),
        Field::new("revision", DataType::UInt32, false),
    ]))
}

/// Bars buffered for a Parquet file ([`bar_schema`]).
pub(crate) struct BarParquet {
    out: Out,
    schema: SchemaRef,
    symbol: StringBuilder,
    timeframe: StringBuilder,
    open_time: TimestampNanosecondBuilder,
    ohlcv: [Decimal128Builder; 5],
    trades: UInt64Builder,
    exchange: StringBuilder,
    close_time: TimestampNanosecondBuilder,
    quote_volume: Decimal128Builder,
    vwap: Decimal128Builder,
    buy: Decimal128Builder,
    sell: Decimal128Builder,
    first: UInt64Builder,
    last: UInt64Builder,
    revision: UInt32Builder,
    buffered: usize,
}

impl BarParquet {
    pub(crate) fn create(path: &str) -> Result<Self, ConnectorError> {
        let schema = bar_schema();
        Ok(Self::with(Out::create(path, schema.clone())?, schema))
    }

    pub(crate) fn new(name: &str, out: Box<dyn Write + Send>) -> Result<Self, ConnectorError> {
        let schema = bar_schema();
        Ok(Self::with(Out::new(name, out, schema.clone())?, schema))
    }

    fn with(out: Out, schema: SchemaRef) -> Self {
        let d = || Decimal128Builder::new().with_data_type(decimal(38, 9));
        let ts = || TimestampNanosecondBuilder::new().with_timezone("UTC");
        BarParquet {
            out,
            schema,
            symbol: StringBuilder::new(),
            timeframe: StringBuilder::new(),
            open_time: ts(),
            ohlcv: [d(), d(), d(), d(), d()],
            trades: UInt64Builder::new(),
            exchange: StringBuilder::new(),
            close_time: ts(),
            quote_volume: Decimal128Builder::new().with_data_type(decimal(38, 18)),
            vwap: d(),
            buy: d(),
            sell: d(),
            first: UInt64Builder::new(),
            last: UInt64Builder::new(),
            revision: UInt32Builder::new(),
            buffered: 0,
        }
    }

    pub(crate) fn write(&mut self, b: &Bar) -> Result<(), ConnectorError> {
        let name = &self.out.name;
        let v = |c: &str, m: i128| dec_value(name, c, m);
        let ohlcv = [
            v("open", b.open.mantissa())?,
            v("high", b.high.mantissa())?,
            v("low", b.low.mantissa())?,
            v("close", b.close.mantissa())?,
            v("volume", b.volume.mantissa())?,
        ];
        let (qv, buy, sell) =
            (v("quote_volume", b.quote_volume.mantissa())?, v("buy_volume", b.buy_volume.mantissa())?, v("sell_volume", b.sell_volume.mantissa())?);
        let vwap = b.vwap().map(|x| v("vwap", x.mantissa())).transpose()?;
        self.symbol.append_value(b.instrument.symbol());
        self.timeframe.append_value(b.series().to_string());
        self.open_time.append_value(b.open_time.0);
        for (col, m) in self.ohlcv.iter_mut().zip(ohlcv) {
            col.append_value(m);
        }
        self.trades.append_value(b.trades);
        self.exchange.append_value(b.instrument.exchange());
        self.close_time.append_value(b.close_time().0);
        self.quote_volume.append_value(qv);
        self.vwap.append_option(vwap);
        self.buy.append_value(buy);
        self.sell.append_value(sell);
        self.first.append_option(b.first_trade_id);
        self.last.append_option(b.last_trade_id);
        self.revision.append_value(b.revision);
        self.buffered += 1;
        if self.buffered >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<(), ConnectorError> {
        if self.buffered == 0 {
            return Ok(());
        }
        self.buffered = 0;
        let [o, h, l, c, v] = &mut self.ohlcv;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.symbol.finish()),
            Arc::new(self.timeframe.finish()),
            Arc::new(self.open_time.finish()),
            Arc::new(o.finish()),
            Arc::new(h.finish()),
            Arc::new(l.finish()),
            Arc::new(c.finish()),
            Arc::new(v.finish()),
            Arc::new(self.trades.finish()),
            Arc::new(self.exchange.finish()),
            Arc::new(self.close_time.finish()),
            Arc::new(self.quote_volume.finish()),
            Arc::new(self.vwap.finish()),
            Arc::new(self.buy.finish()),
            Arc::new(self.sell.finish()),
            Arc::new(self.first.finish()),
            Arc::new(self.last.finish()),
            Arc::new(self.revision.finish()),
        ];
        self.out.write(&self.schema, cols)
    }

    pub(crate) fn finish(&mut self) -> Result<(), ConnectorError> {
        self.flush()?;
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_time_texts_are_exact() {
        let s = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = Vec::new();
            f(&mut b);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(s(&|b| decimal_text(b, 105_410_100_000_000, 9)), "105410.1");
        assert_eq!(s(&|b| decimal_text(b, 105_410_000_000_000, 9)), "105410");
        assert_eq!(s(&|b| decimal_text(b, 1_000_000_007, 9)), "1.000000007");
        assert_eq!(s(&|b| decimal_text(b, -5, 3)), "-0.005");
        assert_eq!(s(&|b| decimal_text(b, 0, 9)), "0");
        assert_eq!(s(&|b| decimal_text(b, 12, -2)), "1200");
        assert_eq!(s(&|b| decimal_text(b, MAX_38, 18)), "99999999999999999999.999999999999999999");
        assert_eq!(s(&|b| decimal_text(b, -MAX_38 + 9, 30)), "-99999999.99999999999999999999999999999");
        assert_eq!(s(&|b| decimal_text(b, u64::MAX as i128, 19)), "1.8446744073709551615");
        // every mantissa at every small scale: the text parses back to the same value
        for m in [1i128, 7, 10, 123_456_789, 999_999_999_999, -42_000] {
            for scale in 0..=9i8 {
                let t = s(&|b| decimal_text(b, m, scale));
                let d = tickflow_model::Decimal::parse_bytes(t.as_bytes()).unwrap();
                assert_eq!(d.mantissa(), m * 10i128.pow(9 - scale as u32), "{m} at {scale}: {t}");
            }
        }
        let mut b = Vec::new();
        push_u64(&mut b, 0);
        b.push(b' ');
        push_u64(&mut b, u64::MAX);
        for v in [7u64, 10, 99, 100, 101, 1_000_000_007] {
            b.push(b' ');
            push_u64(&mut b, v);
        }
        assert_eq!(String::from_utf8(b).unwrap(), "0 18446744073709551615 7 10 99 100 101 1000000007");
        assert_eq!(s(&|b| time_text(b, 1_762_795_440_000_000_000, TsText::Millis)), "1762795440000");
        assert_eq!(s(&|b| time_text(b, 1_762_795_440_000_000_001, TsText::Millis)), "1762795440000000001");
        assert_eq!(s(&|b| time_text(b, 1_762_795_440_000_000_001, TsText::Nanos)), "1762795440000000001");
        // before 1973 nanoseconds would read as microseconds: decimal seconds instead
        assert_eq!(s(&|b| time_text(b, 86_400_000_000_001, TsText::Nanos)), "86400.000000001");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut b = Vec::new();
        quoted(&mut b, b"BTC/USDT");
        b.push(b' ');
        quoted(&mut b, b"a,\"b\"");
        assert_eq!(String::from_utf8(b).unwrap(), "BTC/USDT \"a,\"\"b\"\"\"");
    }

    #[test]
    fn binary_headers_are_told_apart_from_text() {
        assert!(!looks_binary(b"timestamp,price,amount\r"));
        assert!(looks_binary(b"\x00\x01ab"));
        assert!(looks_binary(&[0xff, 0xfe, b'a']));
        assert!(!looks_binary("Zeit,Preis €".as_bytes()));
    }
}
