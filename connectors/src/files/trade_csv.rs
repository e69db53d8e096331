//! Trade CSV files: a streaming reader and a writer. The reader also takes Parquet files
//! ([`super::parquet`]), through the same column rules.
//!
//! The header names the columns; order is free and names are case-insensitive:
//!
//! | column | required | aliases | format |
//! |---|---|---|---|
//! | `timestamp` | yes | `time`, `ts`, `datetime`, `date` | epoch s/ms/µs/ns (by magnitude), decimal epoch seconds, or RFC 3339 |
//! | `symbol` | yes, unless `--symbol` is given | `pair`, `market`, `instrument` | CCXT `BASE/QUOTE` |
//! | `price` | yes | `px` | exact decimal |
//! | `amount` | yes | `qty`, `quantity`, `size`, `volume` | exact decimal |
//! | `trade_id` | no | `id`, `tid`, `tradeid` | unsigned integer (enables de-duplication) |
//! | `side` | no | `taker_side` | `buy`/`sell`/`b`/`s`/empty |
//! | `is_buyer_maker` | no (used when there is no `side`) | `buyer_maker`, `isbuyermaker` | `true` (the taker sold) / `false` / `1` / `0` (Binance's dumps, Nautilus's Parquet) |
//! | `exchange` | no | `venue` | exchange id (default from options) |
//! | `ingest_ts` | no | `local_timestamp` | like `timestamp` |
//!
//! Example (freqtrade's Binance XRP/ETH tape, with `--symbol XRP/ETH`):
//!
//! ```text
//! timestamp,id,type,side,price,amount,cost
//! 1570752011620,13519807,,sell,0.00141342,23.0,0.03250866
//! ```
//!
//! The reader is a hand-rolled streaming parser (1 MiB buffer, no per-row allocation); memory
//! does not grow with the file. A bad row is an error naming `file:line`, or, with
//! `skip_bad`, is counted and skipped.

use std::fs::File;
use std::io::{Read, Write};

use tickflow_model::{Decimal, Instrument, Side, Trade, TradeRows, Ts};

use super::fast_row::{parse_row, Kind, Row, CORE_PLAN};
use crate::ConnectorError;

/// Options for [`TradeCsvReader`].
#[derive(Clone, Debug)]
pub struct TradeCsvOptions {
    /// Symbol for files without a symbol column.
    pub default_symbol: Option<String>,
    /// Exchange for rows without an exchange column.
    pub exchange: String,
    /// Count and skip bad rows instead of failing.
    pub skip_bad: bool,
    /// Ingest time for rows without an ingest column (recorded once, when the file is opened).
    pub ingest_ts: Ts,
    /// How far (ns) a row's event time may lie after its ingest time (capped by the wall clock
    /// when the file is opened): the plausibility bound of [`tickflow_model::validate`].
    pub max_future: i64,
    /// Longest accepted line in bytes; a longer one is a bad row (memory stays bounded).
    pub max_line: usize,
    /// Most distinct instruments one file may hold; rows of further instruments are bad rows
    /// (per-instrument state downstream stays bounded).
    pub max_instruments: usize,
}

/// Default [`TradeCsvOptions::max_instruments`] (and of a Kafka partition's).
pub const DEFAULT_MAX_INSTRUMENTS: usize = 100_000;

/// The distinct instruments one input (a file, a topic partition) has carried, up to a cap:
/// what a reader checks each new instrument against.
#[derive(Debug)]
pub(crate) struct InstrumentCap {
    max: usize,
    seen: std::collections::HashSet<u64>,
}

impl InstrumentCap {
    pub(crate) fn new(max: usize) -> Self {
        InstrumentCap { max, seen: Default::default() }
    }
    /// Admits `inst` unless it would be one more than the cap; `input` names the input in the
    /// error ("file", "partition").
    pub(crate) fn admit(&mut self, inst: &Instrument, input: &str) -> Result<(), String> {
        if self.seen.contains(&inst.id()) {
            return Ok(());
        }
        if self.seen.len() >= self.max {
            return Err(format!("more than {} distinct instruments in this {input} (raise --max-instruments)", self.max));
        }
        self.seen.insert(inst.id());
        Ok(())
    }
}

/// The bad-row message of a line longer than `max` bytes.
fn long_line(max: usize) -> String {
    format!("line longer than {max} bytes (a trade row is under 200)")
}

/// Default [`TradeCsvOptions::max_line`]: 64 KiB (a trade row is under 200 bytes).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

impl Default for TradeCsvOptions {
    fn default() -> Self {
        TradeCsvOptions {
            default_symbol: None,
            exchange: "unknown".into(),
            skip_bad: false,
            ingest_ts: Ts::now(),
            max_future: tickflow_model::validate::DEFAULT_MAX_FUTURE,
            max_line: DEFAULT_MAX_LINE,
            max_instruments: DEFAULT_MAX_INSTRUMENTS,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Columns {
    ts: usize,
    symbol: Option<usize>,
    price: usize,
    amount: usize,
    id: Option<usize>,
    side: Option<usize>,
    exchange: Option<usize>,
    ingest: Option<usize>,
    /// Binance's `is_buyer_maker` (when there is no side column): true → the taker sold.
    maker: Option<usize>,
    count: usize,
}

impl Columns {
    /// What each header column holds, for the single-pass row parser (empty — every row on
    /// the general path — if one column would play two roles).
    fn plan(&self) -> Vec<Kind> {
        if self.maker.is_some() {
            return Vec::new();
        }
        let mut plan = vec![Kind::Skip; self.count];
        let roles = [
            (Some(self.ts), Kind::Ts),
            (self.symbol, Kind::Symbol),
            (Some(self.price), Kind::Price),
            (Some(self.amount), Kind::Amount),
            (self.id, Kind::Id),
            (self.side, Kind::Side),
            (self.exchange, Kind::Exchange),
            (self.ingest, Kind::Ingest),
        ];
        for (col, kind) in roles {
            if let Some(i) = col {
                if plan[i] != Kind::Skip {
                    return Vec::new();
                }
                plan[i] = kind;
            }
        }
        plan
    }
}

fn find(names: &[String], aliases: &[&str]) -> Option<usize> {
    aliases.iter().find_map(|a| names.iter().position(|n| n == a))
}

impl Columns {
    fn from_header(path: &str, line: &[u8], has_default_symbol: bool) -> Result<Columns, ConnectorError> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_start_matches('\u{feff}');
        let names: Vec<String> = split_fields(text.as_bytes()).iter().map(|f| String::from_utf8_lossy(f).trim().to_ascii_lowercase()).collect();
        let need = |aliases: &[&str], what: &str| {
            find(&names, aliases).ok_or_else(|| ConnectorError::Header {
                path: path.into(),
                message: format!("no {what} column (expected one of {aliases:?}); header is {names:?}"),
            })
        };
        let symbol = find(&names, &["symbol", "pair", "market", "instrument"]);
        if symbol.is_none() && !has_default_symbol {
            return Err(ConnectorError::Header {
                path: path.into(),
                message: format!("no symbol column; add one or pass --symbol BASE/QUOTE; header is {names:?}"),
            });
        }
        let side = find(&names, &["side", "taker_side"]);
        Ok(Columns {
            ts: need(&["timestamp", "time", "ts", "datetime", "date"], "timestamp")?,
            symbol,
            price: need(&["price", "px"], "price")?,
            amount: need(&["amount", "qty", "quantity", "size", "volume"], "amount")?,
            id: find(&names, &["trade_id", "id", "tid", "tradeid"]),
            side,
            exchange: find(&names, &["exchange", "venue"]),
            ingest: find(&names, &["ingest_ts", "local_timestamp"]),
            maker: find(&names, &["is_buyer_maker", "buyer_maker", "isbuyermaker"]).filter(|_| side.is_none()),
            count: names.len(),
        })
    }
}

/// Equality of short byte strings without a libc call.
#[inline]
fn eq_short(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for i in 0..a.len() {
        diff |= a[i] ^ b[i];
    }
    diff == 0
}

/// Splits a CSV line into fields, honouring double quotes (`"a,b"`, `""` escapes).
fn split_fields(line: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if quoted {
            if b == b'"' {
                if line.get(i + 1) == Some(&b'"') {
                    cur.push(b'"');
                    i += 1;
                } else {
                    quoted = false;
                }
            } else {
                cur.push(b);
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(b);
        }
        i += 1;
    }
    out.push(cur);
    out
}

/// Streaming trade CSV reader.
pub struct TradeCsvReader {
    path: String,
    input: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    line: u64,
    bad: u64,
    bytes: u64,
    rows: RowParser,
}

/// Per-row parsing state, separate from the buffer so rows can be parsed while the buffer is
/// scanned.
struct RowParser {
    cols: Columns,
    opts: TradeCsvOptions,
    default_inst: Option<Instrument>,
    /// Recently seen (symbol, exchange) fields and their instruments.
    cache: Vec<(Vec<u8>, Vec<u8>, Instrument)>,
    /// Column roles for the single-pass parser.
    plan: Vec<Kind>,
    /// Instruments by the packed raw bytes of (symbol, exchange) fields.
    hot: Vec<((u128, u128), Instrument)>,
    /// The wall clock when the file was opened (caps every row's reference time).
    now: i64,
    /// The distinct instruments seen (bounded by `max_instruments`).
    distinct: InstrumentCap,
}

impl TradeCsvReader {
    /// Opens a file: CSV, or Parquet (told by its magic bytes), whose rows are read through
    /// the same rules (see [`super::parquet`]).
    pub fn open(path: &str, opts: TradeCsvOptions) -> Result<Self, ConnectorError> {
        if super::parquet::is_parquet(path)? {
            let text = super::parquet::ParquetText::open(path, super::parquet::TsText::Nanos)?;
            return Self::from_reader(path, Box::new(text), opts);
        }
        let f = File::open(path).map_err(|e| ConnectorError::io(path, e))?;
        Self::from_reader(path, Box::new(f), opts)
    }

    /// Reads from any byte stream (`name` is used in errors).
    pub fn from_reader(name: &str, input: Box<dyn Read + Send>, opts: TradeCsvOptions) -> Result<Self, ConnectorError> {
        let default_inst = match &opts.default_symbol {
            Some(s) => Some(Instrument::new(&opts.exchange, s).map_err(|e| ConnectorError::Header { path: name.into(), message: e.to_string() })?),
            None => None,
        };
        let max_instruments = opts.max_instruments;
        let mut r = TradeCsvReader {
            path: name.to_string(),
            input,
            // 256 KiB: the block read() fills is parsed while it is still in L2
            buf: vec![0; 1 << 18],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            bad: 0,
            bytes: 0,
            rows: RowParser {
                cols: Columns::default(),
                opts,
                default_inst,
                cache: Vec::new(),
                plan: Vec::new(),
                hot: Vec::new(),
                now: Ts::now().0,
                distinct: InstrumentCap::new(max_instruments),
            },
        };
        // header
        match r.next_line()? {
            Some((s, e)) => {
                let line = r.buf[s..e].to_vec();
                if super::parquet::looks_binary(&line) {
                    return Err(super::parquet::not_text(&r.path));
                }
                r.rows.cols = Columns::from_header(&r.path, &line, r.rows.default_inst.is_some())?;
                r.rows.plan = r.rows.cols.plan();
            }
            None => return Err(ConnectorError::Header { path: r.path.clone(), message: "empty file".into() }),
        }
        Ok(r)
    }

    /// Rows skipped as bad (with `skip_bad`).
    pub fn bad_rows(&self) -> u64 {
        self.bad
    }

    /// Bytes consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The source name.
    pub fn name(&self) -> &str {
        &self.path
    }

    /// Next line as a range into `buf` (without the line ending), refilling as needed.
    fn next_line(&mut self) -> Result<Option<(usize, usize)>, ConnectorError> {
        loop {
            if let Some(p) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let s = self.start;
                let mut e = s + p;
                self.start = e + 1;
                self.bytes += (p + 1) as u64;
                self.line += 1;
                if e > s && self.buf[e - 1] == b'\r' {
                    e -= 1;
                }
                return Ok(Some((s, e)));
            }
            if self.eof {
                if self.start < self.end {
                    let (s, mut e) = (self.start, self.end);
                    self.bytes += (e - s) as u64;
                    self.start = self.end;
                    self.line += 1;
                    if self.buf[e - 1] == b'\r' {
                        e -= 1;
                    }
                    return Ok(Some((s, e)));
                }
                return Ok(None);
            }
            self.refill()?;
        }
    }

    /// Appends up to `max` trades; returns false at end of input.
    ///
    /// Plain rows are parsed in one pass by the single-pass row parser; a row it declines (quotes,
    /// other layouts, errors, a row cut off by the end of the buffer) is cut at its line feed
    /// and parsed by the general, quote-aware path. Quoted fields may not contain line breaks.
    pub fn read_rows(&mut self, out: &mut TradeRows, max: usize) -> Result<bool, ConnectorError> {
        let target = out.len() + max;
        loop {
            let core = self.rows.plan == CORE_PLAN;
            while out.len() < target {
                let buf = &self.buf[self.start..self.end];
                // the core layout through a constant plan (an unrolled copy of the parser)
                let parsed = if core { parse_row(buf, &CORE_PLAN) } else { parse_row(buf, &self.rows.plan) };
                let Some((n, row)) = parsed else { break };
                if n > self.rows.opts.max_line || self.rows.push_plain(row, out).is_err() {
                    break; // the general path reparses the row and reports the problem
                }
                self.start += n;
                self.line += 1;
                self.bytes += n as u64;
            }
            if out.len() >= target {
                return Ok(true);
            }
            let Some(p) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) else {
                if self.eof {
                    return Ok(false);
                }
                self.refill()?;
                continue;
            };
            let (s, mut e) = (self.start, self.start + p);
            self.start = e + 1;
            self.line += 1;
            self.bytes += (p + 1) as u64;
            if e > s && self.buf[e - 1] == b'\r' {
                e -= 1;
            }
            let line = &self.buf[s..e];
            let max_line = self.rows.opts.max_line;
            let parsed = if line.len() > max_line {
                // a long line that happened to fit the buffer: the same bad row as one that did not
                Err(long_line(max_line))
            } else if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            } else {
                self.rows.parse_general(line, out)
            };
            if let Err(message) = parsed {
                if self.rows.opts.skip_bad {
                    self.bad += 1;
                } else {
                    return Err(ConnectorError::Row { path: self.path.clone(), line: self.line, message });
                }
            }
        }
    }

    /// Appends up to `max` trades as rows (convenience over [`read_rows`](Self::read_rows));
    /// returns false at end of input.
    pub fn read_batch(&mut self, out: &mut Vec<Trade>, max: usize) -> Result<bool, ConnectorError> {
        let mut rows = TradeRows::default();
        let more = self.read_rows(&mut rows, max)?;
        out.extend(rows.iter());
        Ok(more)
    }

    /// Moves the unread tail to the front and reads more (growing the buffer for long lines).
    /// Called only when `buf[start..end]` holds no line feed; a line longer than
    /// [`TradeCsvOptions::max_line`] is a bad row (skipped whole with `skip_bad`).
    fn refill(&mut self) -> Result<(), ConnectorError> {
        let max_line = self.rows.opts.max_line;
        // the tail may end in the carriage return of a line of exactly `max_line` bytes
        if self.end - self.start > max_line + 1 {
            self.line += 1;
            if !self.rows.opts.skip_bad {
                return Err(ConnectorError::Row { path: self.path.clone(), line: self.line, message: long_line(max_line) });
            }
            self.bad += 1;
            // discard up to and including the next line feed, reading in place
            loop {
                if let Some(p) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                    self.bytes += (p + 1) as u64;
                    self.start += p + 1;
                    return Ok(());
                }
                self.bytes += (self.end - self.start) as u64;
                self.start = 0;
                self.end = 0;
                if self.eof {
                    return Ok(());
                }
                let n = self.input.read(&mut self.buf[..]).map_err(|e| ConnectorError::io(&self.path, e))?;
                if n == 0 {
                    self.eof = true;
                }
                self.end = n;
            }
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        let n = self.input.read(&mut self.buf[self.end..]).map_err(|e| ConnectorError::io(&self.path, e))?;
        if n == 0 {
            self.eof = true;
            // a last row without a line ending gets one, so the scanner sees it like any row
            if self.start < self.end && self.buf[self.end - 1] != b'\n' {
                if self.end == self.buf.len() {
                    self.buf.push(b'\n');
                } else {
                    self.buf[self.end] = b'\n';
                }
                self.end += 1;
            }
        }
        self.end += n;
        Ok(())
    }
}

impl RowParser {
    /// Appends a row read by the single-pass parser, with the checks of the general path.
    #[inline]
    fn push_plain(&mut self, row: Row<'_>, out: &mut TradeRows) -> Result<(), String> {
        let ingest = row.ingest.unwrap_or(self.opts.ingest_ts.0);
        self.check(row.price, row.amount, row.ts, ingest)?;
        let hot = row.key.and_then(|k| self.hot.iter().find(|(hk, _)| *hk == k).map(|(_, inst)| *inst));
        let instrument = match hot {
            Some(inst) => inst,
            None => {
                let inst = self.instrument(row.symbol, row.exchange)?;
                if let Some(k) = row.key {
                    if self.hot.len() >= 64 {
                        self.hot.pop();
                    }
                    self.hot.insert(0, (k, inst));
                }
                inst
            }
        };
        let inst = out.intern(instrument);
        out.push_parts(inst, row.ts, row.id, row.price, row.amount, row.side, ingest);
        Ok(())
    }

    /// The one rule set of [`tickflow_model::validate`].
    #[inline]
    fn check(&self, price: Decimal, amount: Decimal, ts: i64, ingest: i64) -> Result<(), String> {
        let reference = tickflow_model::validate::reference(ingest, self.now);
        tickflow_model::validate::check_trade(price, amount, ts, reference, self.opts.max_future).map_err(|e| e.to_string())
    }

    /// Parses one row with the quote-aware splitter.
    fn parse_general(&mut self, line: &[u8], out: &mut TradeRows) -> Result<(), String> {
        let fields = split_fields(line);
        let cols = &self.cols;
        if fields.len() < cols.count {
            return Err(format!("expected {} fields, found {}", cols.count, fields.len()));
        }
        // more fields than the header names: a torn line merged with the next one looks like
        // this, so it is refused (empty trailing fields, i.e. a trailing comma, are tolerated)
        if fields[cols.count..].iter().any(|f| !f.trim_ascii().is_empty()) {
            return Err(format!("expected {} fields, found {} (extra fields are refused: a torn or merged line?)", cols.count, fields.len()));
        }
        let field = |i: usize| -> &[u8] { &fields[i] };
        let ts = Ts::parse_bytes(field(cols.ts)).map_err(|e| e.to_string())?;
        let price = Decimal::parse_bytes(field(cols.price)).map_err(|e| format!("price: {e}"))?;
        let amount = Decimal::parse_bytes(field(cols.amount)).map_err(|e| format!("amount: {e}"))?;
        let trade_id = match cols.id {
            Some(i) => {
                let f = field(i).trim_ascii();
                if f.is_empty() {
                    None
                } else {
                    let n = f.len();
                    let f = if n > 2 && f[n - 2] == b'.' && f[n - 1] == b'0' { &f[..n - 2] } else { f };
                    Some(tickflow_model::digits::parse_u64(f).ok_or_else(|| format!("trade_id {:?} is not an unsigned integer", tickflow_model::clip(f)))?)
                }
            }
            None => None,
        };
        let side = match (cols.side, cols.maker) {
            (Some(i), _) => Side::parse_bytes(field(i)).map_err(|e| e.to_string())?,
            (None, Some(i)) => match field(i).trim_ascii().to_ascii_lowercase().as_slice() {
                b"true" | b"1" => Side::Sell,
                b"false" | b"0" => Side::Buy,
                b"" => Side::Unknown,
                f => return Err(format!("is_buyer_maker {:?} is not true/false", tickflow_model::clip(f))),
            },
            (None, None) => Side::Unknown,
        };
        let ingest_ts = match cols.ingest {
            Some(i) => Ts::parse_bytes(field(i)).map_err(|e| format!("ingest_ts: {e}"))?,
            None => self.opts.ingest_ts,
        };
        self.check(price, amount, ts.0, ingest_ts.0)?;
        let sym = cols.symbol.map(field);
        let exch = cols.exchange.map(field);
        let instrument = self.instrument(sym, exch)?;
        let inst = out.intern(instrument);
        out.push_parts(inst, ts.0, trade_id, price, amount, side, ingest_ts.0);
        Ok(())
    }

    /// The instrument of a row's symbol and exchange fields (either may be absent), through a
    /// small cache of recently seen pairs.
    #[inline]
    fn instrument(&mut self, sym: Option<&[u8]>, exch: Option<&[u8]>) -> Result<Instrument, String> {
        let sym = sym.map(<[u8]>::trim_ascii);
        let exch = exch.map(<[u8]>::trim_ascii);
        if sym.is_none() && exch.is_none() {
            return self.default_inst.ok_or_else(|| "no symbol".to_string());
        }
        let sym_b = sym.unwrap_or(b"");
        let ex_b = exch.unwrap_or(b"");
        if let Some((_, _, inst)) = self.cache.iter().find(|(cs, ce, _)| eq_short(cs, sym_b) && eq_short(ce, ex_b)) {
            return Ok(*inst);
        }
        let sym_s = match sym {
            Some(s) => String::from_utf8_lossy(s).into_owned(),
            None => self.opts.default_symbol.clone().unwrap_or_default(),
        };
        let ex_s = match exch {
            Some(e) if !e.is_empty() => String::from_utf8_lossy(e).into_owned(),
            _ => self.opts.exchange.clone(),
        };
        let inst = Instrument::new(&ex_s, &sym_s).map_err(|e| e.to_string())?;
        self.distinct.admit(&inst, "file")?;
        if self.cache.len() >= 64 {
            self.cache.pop();
        }
        self.cache.insert(0, (sym_b.to_vec(), ex_b.to_vec(), inst));
        Ok(inst)
    }
}

/// An epoch-ns time as the reader's magnitude rule reads it back exactly: integer ns from
/// 10¹⁷ (1973-03-03) on, before that decimal seconds (`123.000000456`), since a shorter integer
/// would be read as µs, ms or s.
struct EpochNs(i64);

impl std::fmt::Display for EpochNs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if !(0..100_000_000_000_000_000).contains(&v) {
            write!(f, "{v}")
        } else {
            write!(f, "{}.{:09}", v / 1_000_000_000, v % 1_000_000_000)
        }
    }
}

/// Header written by [`TradeCsvWriter`].
pub const TRADE_CSV_HEADER: &str = "timestamp,exchange,symbol,trade_id,price,amount,side,ingest_ts";

/// Header of the core layout written by [`TradeCsvWriter::minimal`].
pub const TRADE_CSV_MINIMAL_HEADER: &str = "timestamp,symbol,price,amount,trade_id,side";

/// Writes trades as CSV (timestamps in epoch ns, exact decimals); readable by [`TradeCsvReader`].
pub struct TradeCsvWriter<W: Write> {
    out: W,
    name: String,
    minimal: bool,
}

impl<W: Write> TradeCsvWriter<W> {
    /// Full layout ([`TRADE_CSV_HEADER`]): keeps exchange and ingest time.
    pub fn new(name: &str, mut out: W) -> Result<Self, ConnectorError> {
        writeln!(out, "{TRADE_CSV_HEADER}").map_err(|e| ConnectorError::io(name, e))?;
        Ok(TradeCsvWriter { out, name: name.into(), minimal: false })
    }
    /// Full layout without writing the header (appending to an existing file).
    pub fn new_headerless(name: &str, out: W) -> Self {
        TradeCsvWriter { out, name: name.into(), minimal: false }
    }
    /// Flushes buffered rows.
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        self.out.flush().map_err(|e| ConnectorError::io(&self.name, e))
    }
    /// The core layout ([`TRADE_CSV_MINIMAL_HEADER`]); exchange and ingest time are not kept.
    pub fn minimal(name: &str, mut out: W) -> Result<Self, ConnectorError> {
        writeln!(out, "{TRADE_CSV_MINIMAL_HEADER}").map_err(|e| ConnectorError::io(name, e))?;
        Ok(TradeCsvWriter { out, name: name.into(), minimal: true })
    }
    /// Writes one trade.
    pub fn write(&mut self, t: &Trade) -> Result<(), ConnectorError> {
        let id = t.trade_id.map(|i| i.to_string()).unwrap_or_default();
        let r = if self.minimal {
            writeln!(self.out, "{},{},{},{},{},{}", EpochNs(t.ts.0), t.instrument.symbol(), t.price, t.amount, id, t.side.as_str())
        } else {
            let (ex, sym, side) = (t.instrument.exchange(), t.instrument.symbol(), t.side.as_str());
            writeln!(self.out, "{},{ex},{sym},{id},{},{},{side},{}", EpochNs(t.ts.0), t.price, t.amount, EpochNs(t.ingest_ts.0))
        };
        r.map_err(|e| ConnectorError::io(&self.name, e))
    }
    /// The inner writer (e.g. to fsync a file after [`flush`](Self::flush)).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W, ConnectorError> {
        self.out.flush().map_err(|e| ConnectorError::io(&self.name, e))?;
        Ok(self.out)
    }
}

/// A trade file being written: CSV, or Parquet when the name ends in `.parquet`/`.pq`
/// ([`super::parquet`]). Call [`finish`](Self::finish) at the end (a Parquet file is published
/// only then).
pub enum TradeWriter {
    /// CSV ([`TradeCsvWriter`]).
    Csv(TradeCsvWriter<Box<dyn Write>>),
    /// Parquet ([`super::parquet::TradeParquetWriter`]).
    Parquet(Box<super::parquet::TradeParquetWriter>),
}

impl TradeWriter {
    /// Creates `path`; `minimal` picks the core CSV layout (Parquet always has every column).
    pub fn create(path: &str, minimal: bool) -> Result<Self, ConnectorError> {
        if super::parquet::wants_parquet(path) {
            return Ok(TradeWriter::Parquet(Box::new(super::parquet::TradeParquetWriter::create(path)?)));
        }
        let f = File::create(path).map_err(|e| ConnectorError::io(path, e))?;
        let out: Box<dyn Write> = Box::new(std::io::BufWriter::with_capacity(1 << 20, f));
        Ok(TradeWriter::Csv(if minimal { TradeCsvWriter::minimal(path, out)? } else { TradeCsvWriter::new(path, out)? }))
    }
    /// Writes one trade.
    pub fn write(&mut self, t: &Trade) -> Result<(), ConnectorError> {
        match self {
            TradeWriter::Csv(w) => w.write(t),
            TradeWriter::Parquet(w) => w.write(t),
        }
    }
    /// Flushes (Parquet: into the Parquet writer; the file is complete after `finish`).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        match self {
            TradeWriter::Csv(w) => w.flush(),
            TradeWriter::Parquet(w) => w.flush(),
        }
    }
    /// Flushes everything; a Parquet file gets its footer and is published.
    pub fn finish(&mut self) -> Result<(), ConnectorError> {
        match self {
            TradeWriter::Csv(w) => w.flush(),
            TradeWriter::Parquet(w) => w.finish(),
        }
    }
}

/// Copies the trade file `from` (CSV or Parquet, read with `opts`) into a new trade file `to`
/// (format by name): every row passes the reader's validation again; the file's own ingest
/// times are kept (rows without one get `opts.ingest_ts`). Returns the rows copied.
pub fn convert_trades(from: &str, to: &str, opts: TradeCsvOptions) -> Result<u64, ConnectorError> {
    let mut r = TradeCsvReader::open(from, opts)?;
    let mut w = TradeWriter::create(to, false)?;
    let mut batch = Vec::with_capacity(8192);
    let mut n = 0u64;
    loop {
        batch.clear();
        let more = r.read_batch(&mut batch, 8192)?;
        for t in &batch {
            w.write(t)?;
        }
        n += batch.len() as u64;
        if !more {
            break;
        }
    }
    w.finish()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str, opts: TradeCsvOptions) -> Result<(Vec<Trade>, u64), ConnectorError> {
        let mut r = TradeCsvReader::from_reader("t.csv", Box::new(std::io::Cursor::new(text.as_bytes().to_vec())), opts)?;
        let mut v = Vec::new();
        while r.read_batch(&mut v, 2)? {}
        Ok((v, r.bad_rows()))
    }

    fn opts() -> TradeCsvOptions {
        // ingest in 2027: the fixtures' event times (2019–2025) are all before it
        TradeCsvOptions { ingest_ts: Ts(1_800_000_000_000_000_007), ..Default::default() }
    }

    #[test]
    fn reads_the_freqtrade_layout_with_a_default_symbol() {
        let text = "timestamp,id,type,side,price,amount,cost\n1570752011620,13519807,,sell,0.00141342,23.0,0.03250866\r\n1570752011620,13519808,,buy,0.00141266,54.0,0.07628364\n";
        let mut o = opts();
        o.default_symbol = Some("XRP/ETH".into());
        o.exchange = "binance".into();
        let (v, _) = read_all(text, o).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].instrument.key(), "binance:XRP/ETH");
        assert_eq!(v[0].ts, Ts::from_millis(1_570_752_011_620));
        assert_eq!(v[0].trade_id, Some(13_519_807));
        assert_eq!(v[0].side, Side::Sell);
        assert_eq!(v[1].price.to_string(), "0.00141266");
        assert_eq!(v[1].amount.to_string(), "54");
        assert_eq!(v[1].ingest_ts, Ts(1_800_000_000_000_000_007));
    }

    #[test]
    fn any_column_order_quotes_and_rfc3339() {
        let text = "Side,Amount,Price,Symbol,Timestamp,Exchange\n\"buy\",1.5,\"100.25\",BTC/USDT,2024-01-01T00:00:00.5Z,kraken\n";
        let (v, _) = read_all(text, opts()).unwrap();
        assert_eq!(v[0].instrument.key(), "kraken:BTC/USDT");
        assert_eq!(v[0].ts, Ts(1_704_067_200_500_000_000));
        assert_eq!(v[0].trade_id, None);
    }

    #[test]
    fn bad_rows_name_file_and_line_or_are_counted() {
        let text = "timestamp,symbol,price,amount\n1,BTC/USDT,1,1\n2,BTC/USDT,abc,1\n3,BTC/USDT,1\n4,BTCUSDT,1,1\n5,BTC/USDT,1,1\n";
        let err = read_all(text, opts()).unwrap_err().to_string();
        assert!(err.starts_with("t.csv:3: price: invalid decimal"), "{err}");
        let mut o = opts();
        o.skip_bad = true;
        let (v, bad) = read_all(text, o).unwrap();
        assert_eq!((v.len(), bad), (2, 3));
    }

    #[test]
    fn missing_columns_are_clear_errors() {
        let e = read_all("time,price\n", opts()).unwrap_err().to_string();
        assert!(e.contains("no symbol column"), "{e}");
        let e = read_all("", opts()).unwrap_err().to_string();
        assert!(e.contains("empty file"), "{e}");
        let e = read_all("symbol,price,amount\n", opts()).unwrap_err().to_string();
        assert!(e.contains("no timestamp column"), "{e}");
    }

    #[test]
    fn writer_round_trips_and_long_lines_grow_the_buffer() {
        let t = Trade {
            instrument: Instrument::new("kraken", "BTC/USDT").unwrap(),
            trade_id: Some(10_218_208),
            ts: Ts(1_762_795_433_971_744_500),
            // written in epoch ns; realistic values are unambiguous under the magnitude rule
            ingest_ts: Ts(1_762_795_434_000_000_001),
            price: "105433.6".parse().unwrap(),
            amount: "0.00027625".parse().unwrap(),
            side: Side::Buy,
        };
        let mut w = TradeCsvWriter::new("w", Vec::new()).unwrap();
        w.write(&t).unwrap();
        let bytes = w.finish().unwrap();
        let (v, _) = read_all(std::str::from_utf8(&bytes).unwrap(), opts()).unwrap();
        assert_eq!(v, vec![t]);
        let pad = "x".repeat(3 << 20);
        let text = format!("timestamp,symbol,price,amount,note\n1,BTC/USDT,1,1,{pad}\n2,BTC/USDT,2,1,y\n");
        let mut o = opts();
        o.max_line = 4 << 20;
        let (v, _) = read_all(&text, o).unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn a_line_past_max_line_is_a_bad_row_and_memory_stays_bounded() {
        let pad = "9".repeat(3 << 20);
        // the long line is a price field: the error names the line, not its 3 MiB
        let text = format!("timestamp,symbol,price,amount\n1,BTC/USDT,1,1\n2,BTC/USDT,{pad},1\n3,BTC/USDT,3,1\n");
        let err = read_all(&text, opts()).unwrap_err().to_string();
        assert!(err.starts_with("t.csv:3: line longer than 65536 bytes"), "{err}");
        assert!(err.len() < 200, "{} bytes", err.len());
        let mut o = opts();
        o.skip_bad = true;
        let mut r = TradeCsvReader::from_reader("t.csv", Box::new(std::io::Cursor::new(text.into_bytes())), o).unwrap();
        let mut v = Vec::new();
        while r.read_batch(&mut v, 2).unwrap() {}
        assert_eq!(v.iter().map(|t| t.ts.0).collect::<Vec<_>>(), [1_000_000_000, 3_000_000_000]);
        assert_eq!(r.bad_rows(), 1);
        // the buffer never grew for it (256 KiB initially)
        assert!(r.buf.len() <= 1 << 18, "{}", r.buf.len());
        // a long line at the very end, without a line feed
        let text = format!("timestamp,symbol,price,amount\n1,BTC/USDT,1,1\n{pad}");
        let mut o = opts();
        o.skip_bad = true;
        assert_eq!(read_all(&text, o).unwrap(), (vec![read_all("timestamp,symbol,price,amount\n1,BTC/USDT,1,1\n", opts()).unwrap().0[0]], 1));
    }

    /// A line of exactly `max_line` bytes ending in CRLF, whose carriage return is the last
    /// byte a read delivered (the line feed comes with the next read), is a valid row: the
    /// buffer check counted the CR against the line.
    #[test]
    fn a_max_line_row_split_between_cr_and_lf_is_read() {
        struct Chunks(std::collections::VecDeque<Vec<u8>>);
        impl std::io::Read for Chunks {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some(mut c) = self.0.pop_front() else { return Ok(0) };
                let n = c.len().min(buf.len());
                buf[..n].copy_from_slice(&c[..n]);
                if n < c.len() {
                    self.0.push_front(c.split_off(n));
                }
                Ok(n)
            }
        }
        let mut row = "2,BTC/USDT,2,1,".to_string();
        row.push_str(&"x".repeat(64 - row.len()));
        let first = format!("timestamp,symbol,price,amount,note\r\n1,BTC/USDT,1,1,a\r\n{row}\r");
        let chunks = [first.into_bytes(), b"\n3,BTC/USDT,3,1,b\r\n".to_vec()];
        let mut o = opts();
        o.max_line = 64;
        let mut r = TradeCsvReader::from_reader("t.csv", Box::new(Chunks(chunks.into_iter().collect())), o).unwrap();
        let mut v = Vec::new();
        while r.read_batch(&mut v, 2).unwrap() {}
        assert_eq!(v.iter().map(|t| t.ts.0 / 1_000_000_000).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn one_rule_set_refuses_zero_negative_far_future_pre_1970_and_extra_fields() {
        // every row but the first and last is bad, on the fast path and the quoted general path
        let body = [
            "1700000000000,BTC/USDT,100,1",
            "1700000000001,BTC/USDT,0,1",                 // price 0
            "1700000000002,BTC/USDT,-5,1",                // negative price
            "1700000000003,BTC/USDT,100,0",               // zero amount: would move OHLC with no volume
            "1700000000004,BTC/USDT,100,-1",              // negative amount
            "4102444800000,BTC/USDT,100,1",               // year 2100
            "1801000000000,BTC/USDT,100,1",               // > 5 min after the ingest time (2027-01-15)
            "-1000,BTC/USDT,100,1",                       // before 1970
            "20000000000,BTC/USDT,100,1",                 // 2·10¹⁰ s overflows ns (wrapped to 2019 before)
            "2024-02-31T00:00:00Z,BTC/USDT,100,1",        // no such day
            "2024-01-01T00:00:00+99:99,BTC/USDT,100,1",   // no such offset
            "1700000000005,BTC/USDT,100,1,1700000000006", // extra field: a merged line
            "\"1700000000007\",BTC/USDT,\"0\",1",         // quoted (general path), price 0
            "1700000000008,BTC/USDT,100,1,",              // a trailing comma is tolerated
        ];
        let text = format!("timestamp,symbol,price,amount\n{}\n", body.join("\n"));
        let mut o = opts();
        o.skip_bad = true;
        let (v, bad) = read_all(&text, o).unwrap();
        assert_eq!(v.iter().map(|t| t.ts.millis()).collect::<Vec<_>>(), [1_700_000_000_000, 1_700_000_000_008]);
        assert_eq!(bad, body.len() as u64 - 2);
        // each is an error naming its line, in both paths
        for (i, row) in body.iter().enumerate().skip(1).take(body.len() - 2) {
            let text = format!("timestamp,symbol,price,amount\n{row}\n");
            let e = read_all(&text, opts()).expect_err(row).to_string();
            assert!(e.starts_with("t.csv:2: "), "{i} {row}: {e}");
        }
        let e = read_all("timestamp,symbol,price,amount\n4102444800000,BTC/USDT,100,1\n", opts()).unwrap_err().to_string();
        assert!(e.contains("--max-future"), "{e}");
        // the bound is an option: a file whose ingest column is 1 h behind its trades passes with 2 h
        let text = "timestamp,symbol,price,amount,ingest_ts\n1700003600000,BTC/USDT,100,1,1700000000000\n";
        assert!(read_all(text, opts()).is_err());
        let mut o = opts();
        o.max_future = 2 * 3600 * tickflow_model::NANOS_PER_SEC;
        assert_eq!(read_all(text, o).unwrap().0.len(), 1);
    }
}
