//! A stand-in for QuestDB's HTTP endpoints on 127.0.0.1, for tests without QuestDB.
//!
//! - `GET /exec?query=CREATE TABLE ...`: records the table's columns, types, designated
//!   timestamp and `DEDUP UPSERT KEYS`; other statements are refused (400).
//! - `POST /write`: parses the body **strictly** with the `influxdb-line-protocol` crate (QuestDB's
//!   one extension, the `t`/`n` suffix of timestamp fields, is turned into an integer field
//!   first and remembered as a timestamp) and checks every line against the declared table:
//!   known table, tags only for SYMBOL columns, field types matching column types, a designated
//!   timestamp. Valid batches are applied with QuestDB's dedup semantics (the row with the same
//!   upsert keys is replaced); an invalid batch is rejected whole with 400, as QuestDB does.
//! - Faults, consumed one per `/write` request: a status code, a connection reset before or
//!   after the batch is applied, a stall; and [`QdbServer::outage`] closes the port for a while.
//!
//! Shared by the connectors and topology test suites (`#[path]` include).

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use influxdb_line_protocol::{parse_lines, FieldValue};

/// The client configuration of a real QuestDB for the tests that need one: `QDB_HTTP_ADDR`
/// (host:9000) plus `QDB_USER`/`QDB_PASSWORD` when auth is on; `None` (with a message saying
/// how to run them) when unset.
pub fn real_questdb_conf() -> Option<String> {
    let Ok(addr) = std::env::var("QDB_HTTP_ADDR") else {
        eprintln!("skipped: set QDB_HTTP_ADDR=host:9000 (and QDB_USER/QDB_PASSWORD if auth is on) to run against a real QuestDB");
        return None;
    };
    let auth = match (std::env::var("QDB_USER"), std::env::var("QDB_PASSWORD")) {
        (Ok(u), Ok(p)) => format!("username={u};password={p};"),
        _ => String::new(),
    };
    Some(format!("http::addr={addr};{auth}"))
}

/// A value as stored.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum Val {
    Sym(String),
    F64(f64),
    I64(i64),
    /// Timestamp, epoch nanoseconds.
    Ts(i64),
    Str(String),
    Bool(bool),
}

impl Val {
    fn key(&self) -> String {
        match self {
            Val::Sym(s) | Val::Str(s) => s.clone(),
            Val::F64(v) => format!("{v:?}"),
            Val::I64(v) | Val::Ts(v) => v.to_string(),
            Val::Bool(b) => b.to_string(),
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::F64(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) | Val::Ts(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Sym(s) | Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A stored row: column → value (missing columns are NULL).
pub type Row = BTreeMap<String, Val>;

/// A declared table.
#[derive(Clone, Debug)]
pub struct TableDef {
    pub columns: Vec<(String, String)>,
    pub designated: String,
    pub keys: Vec<String>,
    pub wal: bool,
    pub partition: String,
}

impl TableDef {
    fn col_type(&self, c: &str) -> Option<&str> {
        self.columns.iter().find(|(n, _)| n == c).map(|(_, t)| t.as_str())
    }
}

/// One fault for one `/write` request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (the batch is not applied).
    Status(u16),
    /// Close the connection without answering (the batch is not applied).
    ResetBefore,
    /// Apply the batch, then close the connection without answering (the client retries:
    /// the resend must be absorbed by dedup).
    ResetAfter,
    /// Wait this long, then answer normally (client timeouts).
    Stall(Duration),
}

#[derive(Default)]
pub struct State {
    pub tables: BTreeMap<String, TableDef>,
    /// Deduplicated rows per table, by upsert key.
    pub rows: BTreeMap<String, BTreeMap<Vec<String>, Row>>,
    /// Every row line received in an applied batch (resends included).
    pub lines_applied: u64,
    /// `/write` requests seen.
    pub writes: u64,
    /// `/exec` statements seen.
    pub execs: Vec<String>,
    /// Rejected batches with the reason.
    pub rejected: Vec<String>,
    pub faults: VecDeque<Fault>,
    /// Batches containing one of these are rejected (400, `"code":"invalid"`), every time: a
    /// row QuestDB refuses (e.g. a value its column type cannot hold).
    pub poison: Vec<String>,
    /// Required `Authorization` header, if any.
    pub auth: Option<String>,
    /// Raw bodies of applied batches.
    pub bodies: Vec<String>,
}

/// The running server.
pub struct QdbServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl QdbServer {
    pub fn start() -> QdbServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let s = QdbServer { addr, state: Arc::default(), down: Arc::default(), stop: Arc::default() };
        s.serve(listener);
        s
    }

    fn serve(&self, listener: TcpListener) {
        let (state, stop, down) = (self.state.clone(), self.stop.clone(), self.down.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && !down.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (st, dn) = (state.clone(), down.clone());
                        let _ = conn.set_nonblocking(false);
                        std::thread::spawn(move || handle(conn, st, dn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
    }

    /// `http::addr=...;` for this server plus `extra` settings.
    pub fn conf(&self, extra: &str) -> String {
        format!("http::addr={};{extra}", self.addr)
    }

    /// Rejects every batch that contains `needle` (persistently), as QuestDB rejects a batch
    /// with a row it cannot store.
    pub fn poison(&self, needle: &str) {
        self.state.lock().unwrap().poison.push(needle.to_string());
    }

    /// Queues faults for the next `/write` requests.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.lock().unwrap().faults.extend(faults);
    }

    /// Closes the port for `d` (connections refused), then listens again on the same port.
    /// Returns at once; the outage runs in the background.
    pub fn outage(&self, d: Duration) {
        self.down.store(true, Ordering::Relaxed);
        let (state, stop, down, addr) = (self.state.clone(), self.stop.clone(), self.down.clone(), self.addr);
        let me = QdbServer { addr, state, down, stop };
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50)); // the accept loop notices and drops the listener
            std::thread::sleep(d);
            let l = loop {
                match TcpListener::bind(addr) {
                    Ok(l) => break l,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            };
            me.down.store(false, Ordering::Relaxed);
            me.serve(l);
            std::mem::forget(me); // keep the flags shared; nothing to drop
        });
    }

    /// Deduplicated rows of `table`, in key order.
    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.state.lock().unwrap().rows.get(table).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }
}

impl Drop for QdbServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |k: &str| headers.iter().find(|(hk, _)| hk == k).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Request { method, target, headers, body })
}

fn respond(w: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Error",
    };
    write!(w, "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())?;
    w.flush()
}

fn handle(conn: TcpStream, state: Arc<Mutex<State>>, down: Arc<AtomicBool>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = read_request(&mut r) {
        if down.load(Ordering::Relaxed) {
            return; // an outage also cuts kept-alive connections
        }
        let (path, query) = req.target.split_once('?').unwrap_or((req.target.as_str(), ""));
        let auth = req.headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.clone());
        let required = state.lock().unwrap().auth.clone();
        if required.is_some() && auth != required {
            let _ = respond(&mut w, 401, r#"{"message":"unauthorized"}"#);
            continue;
        }
        let ok = match (req.method.as_str(), path) {
            ("GET", "/exec") => {
                let sql = query.split('&').find_map(|kv| kv.strip_prefix("query=")).map(url_decode).unwrap_or_default();
                let res = exec(&state, &sql);
                match res {
                    Ok(()) => respond(&mut w, 200, r#"{"ddl":"OK"}"#),
                    Err(e) => respond(&mut w, 400, &format!("{{\"query\":{:?},\"error\":{:?},\"position\":0}}", sql, e)),
                }
            }
            ("POST", "/write") | ("POST", "/api/v2/write") => {
                let fault = {
                    let mut s = state.lock().unwrap();
                    s.writes += 1;
                    s.faults.pop_front()
                };
                let body = String::from_utf8_lossy(&req.body).into_owned();
                let poisoned = state.lock().unwrap().poison.iter().find(|p| body.contains(p.as_str())).cloned();
                if let Some(p) = poisoned {
                    state.lock().unwrap().rejected.push(format!("poisoned: {p}"));
                    if respond(&mut w, 400, &format!("{{\"code\":\"invalid\",\"message\":\"cannot store {p}\",\"line\":1,\"errorId\":\"T-1\"}}")).is_err() {
                        return;
                    }
                    continue;
                }
                match fault {
                    Some(Fault::Status(code)) => respond(&mut w, code, r#"{"code":"internal error","message":"injected"}"#),
                    Some(Fault::ResetBefore) => return,
                    Some(Fault::ResetAfter) => {
                        let _ = write(&state, &body);
                        return;
                    }
                    Some(Fault::Stall(d)) => {
                        std::thread::sleep(d);
                        match write(&state, &body) {
                            Ok(()) => respond(&mut w, 204, ""),
                            Err(e) => respond(&mut w, 400, &format!("{{\"code\":\"invalid\",\"message\":{e:?}}}")),
                        }
                    }
                    None => match write(&state, &body) {
                        Ok(()) => respond(&mut w, 204, ""),
                        Err(e) => respond(&mut w, 400, &format!("{{\"code\":\"invalid\",\"message\":{e:?}}}")),
                    },
                }
            }
            _ => respond(&mut w, 404, r#"{"message":"not found"}"#),
        };
        if ok.is_err() {
            return;
        }
    }
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00"), 16).unwrap_or(0));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `CREATE TABLE IF NOT EXISTS name (cols) TIMESTAMP(ts) PARTITION BY P WAL DEDUP UPSERT KEYS(k, ...)`.
pub fn parse_create(sql: &str) -> Result<(String, TableDef), String> {
    let rest = sql.trim().strip_prefix("CREATE TABLE IF NOT EXISTS ").ok_or("only CREATE TABLE IF NOT EXISTS is supported")?;
    let (name, rest) = rest.split_once(" (").ok_or("missing column list")?;
    let (cols, rest) = rest.split_once(") TIMESTAMP(").ok_or("missing designated timestamp")?;
    let (designated, rest) = rest.split_once(") PARTITION BY ").ok_or("missing PARTITION BY")?;
    let mut words = rest.split_whitespace();
    let partition = words.next().ok_or("missing partition unit")?.to_string();
    let tail: Vec<&str> = words.collect();
    let tail = tail.join(" ");
    let wal = tail.starts_with("WAL");
    let keys = tail.split_once("DEDUP UPSERT KEYS(").and_then(|(_, k)| k.strip_suffix(')')).ok_or("missing DEDUP UPSERT KEYS")?;
    let keys: Vec<String> = keys.split(',').map(|k| k.trim().to_string()).collect();
    let columns: Vec<(String, String)> = cols
        .split(',')
        .map(|c| {
            let mut it = c.split_whitespace();
            (it.next().unwrap_or("").to_string(), it.next().unwrap_or("").to_string())
        })
        .collect();
    for (c, t) in &columns {
        if !["TIMESTAMP", "SYMBOL", "DOUBLE", "LONG", "INT", "VARCHAR", "BOOLEAN"].contains(&t.as_str()) {
            return Err(format!("column {c}: unknown type {t}"));
        }
    }
    let def = TableDef { columns, designated: designated.to_string(), keys, wal, partition };
    if def.col_type(&def.designated) != Some("TIMESTAMP") {
        return Err("designated timestamp is not a TIMESTAMP column".into());
    }
    if !def.keys.contains(&def.designated) {
        return Err("upsert keys must include the designated timestamp".into());
    }
    for k in &def.keys {
        if def.col_type(k).is_none() {
            return Err(format!("upsert key {k} is not a column"));
        }
    }
    Ok((name.trim().to_string(), def))
}

fn exec(state: &Mutex<State>, sql: &str) -> Result<(), String> {
    let (name, def) = parse_create(sql)?;
    let mut s = state.lock().unwrap();
    s.execs.push(sql.to_string());
    s.tables.entry(name).or_insert(def);
    Ok(())
}

/// QuestDB's timestamp fields (`123t` micros, `123n` nanos) are not InfluxDB line protocol:
/// rewrite each to an integer field (`123i`) and return which (line, field) were timestamps,
/// with their unit multiplier. Quotes and escapes are honoured, so string fields are untouched.
fn lift_timestamps(line: &str) -> Result<(String, Vec<(String, i64)>), String> {
    // split off the measurement+tags (up to the first unescaped space)
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] != b' ' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    let (series, rest) = line.split_at(i.min(line.len()));
    let rest = rest.strip_prefix(' ').ok_or("no field set")?;
    // the field set runs to the next unescaped, unquoted space
    let rb = rest.as_bytes();
    let (mut j, mut quoted) = (0, false);
    while j < rb.len() && (quoted || rb[j] != b' ') {
        match rb[j] {
            b'\\' => j += 1,
            b'"' => quoted = !quoted,
            _ => {}
        }
        j += 1;
    }
    let (fields, ts) = rest.split_at(j.min(rest.len()));
    let mut out_fields = Vec::new();
    let mut stamps = Vec::new();
    let (mut start, mut quoted, mut k) = (0, false, 0);
    let fb = fields.as_bytes();
    while k <= fb.len() {
        if k == fb.len() || (!quoted && fb[k] == b',') {
            let f = &fields[start..k];
            let (name, val) = f.split_once('=').ok_or_else(|| format!("field without value: {f}"))?;
            let (digits, mult) = match val.as_bytes().last() {
                Some(b't') if val.len() > 1 && val[..val.len() - 1].bytes().all(|c| c.is_ascii_digit() || c == b'-') => (&val[..val.len() - 1], 1000),
                Some(b'n') if val.len() > 1 && val[..val.len() - 1].bytes().all(|c| c.is_ascii_digit() || c == b'-') => (&val[..val.len() - 1], 1),
                _ => ("", 0),
            };
            if mult > 0 {
                out_fields.push(format!("{name}={digits}i"));
                stamps.push((name.to_string(), mult));
            } else {
                out_fields.push(f.to_string());
            }
            start = k + 1;
        } else if fb[k] == b'\\' {
            k += 1;
        } else if fb[k] == b'"' {
            quoted = !quoted;
        }
        k += 1;
    }
    Ok((format!("{series} {}{ts}", out_fields.join(",")), stamps))
}

/// Validates and applies one batch (all or nothing).
pub fn write(state: &Mutex<State>, body: &str) -> Result<(), String> {
    let mut s = state.lock().unwrap();
    let mut staged: Vec<(String, Vec<String>, Row)> = Vec::new();
    for (n, raw) in body.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let ctx = |e: String| format!("line {}: {e}: {raw}", n + 1);
        let (line, stamps) = lift_timestamps(raw).map_err(ctx)?;
        let parsed = parse_lines(&line).next().ok_or_else(|| ctx("empty".into()))?.map_err(|e| ctx(e.to_string()))?;
        let table = parsed.series.measurement.to_string();
        let def = s.tables.get(&table).ok_or_else(|| ctx(format!("table {table} does not exist (tickflow creates tables before writing)")))?;
        let mut row = Row::new();
        for (k, v) in parsed.series.tag_set.iter().flatten() {
            let (k, v) = (k.to_string(), v.to_string());
            match def.col_type(&k) {
                Some("SYMBOL") => {}
                other => return Err(ctx(format!("tag {k} is not a SYMBOL column ({other:?})"))),
            }
            if row.insert(k.clone(), Val::Sym(v)).is_some() {
                return Err(ctx(format!("duplicate column {k}")));
            }
        }
        for (k, v) in parsed.field_set.iter() {
            let k = k.to_string();
            let ty = def.col_type(&k).ok_or_else(|| ctx(format!("unknown column {k}")))?;
            let stamp = stamps.iter().find(|(n, _)| *n == k).map(|(_, m)| *m);
            let val = match (ty, v, stamp) {
                ("TIMESTAMP", FieldValue::I64(x), Some(m)) => Val::Ts(x * m),
                ("DOUBLE", FieldValue::F64(x), None) => Val::F64(*x),
                ("LONG" | "INT", FieldValue::I64(x), None) => {
                    if ty == "INT" && i32::try_from(*x).is_err() {
                        return Err(ctx(format!("{k}: {x} out of INT range")));
                    }
                    Val::I64(*x)
                }
                ("VARCHAR", FieldValue::String(x), None) => Val::Str(x.to_string()),
                ("BOOLEAN", FieldValue::Boolean(x), None) => Val::Bool(*x),
                (t, v, st) => return Err(ctx(format!("column {k} is {t}, got {v:?} (timestamp suffix: {})", st.is_some()))),
            };
            if row.insert(k.clone(), val).is_some() {
                return Err(ctx(format!("duplicate column {k}")));
            }
        }
        let ts = parsed.timestamp.ok_or_else(|| ctx("no designated timestamp".into()))?;
        row.insert(def.designated.clone(), Val::Ts(ts));
        let key: Vec<String> = def.keys.iter().map(|k| row.get(k).map(Val::key).unwrap_or_else(|| "<null>".into())).collect();
        staged.push((table, key, row));
    }
    let n = staged.len() as u64;
    for (t, k, r) in staged {
        s.rows.entry(t).or_default().insert(k, r);
    }
    s.lines_applied += n;
    s.bodies.push(body.to_string());
    Ok(())
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn the_stand_in_rejects_what_questdb_would() {
        let st = Mutex::new(State::default());
        exec(
            &st,
            "CREATE TABLE IF NOT EXISTS t (ts TIMESTAMP, s SYMBOL, x DOUBLE, n LONG, at TIMESTAMP) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, s)",
        )
        .unwrap();
        assert!(write(&st, "t,s=a x=1.5,n=2i,at=5t 10\n").is_ok());
        assert_eq!(st.lock().unwrap().rows["t"].values().next().unwrap()["at"], Val::Ts(5000));
        for bad in
            ["u,s=a x=1.5 10", "t,x=1.0 n=2i 10", "t,s=a x=1i 10", "t,s=a n=1.0 10", "t,s=a x=1.5", "t,s=a y=1.0 10", "t,s=a x=1.5 n=2i 10", "t,s=a at=5i 10"]
        {
            assert!(write(&st, bad).is_err(), "{bad}");
        }
        // dedup: same key replaces
        write(&st, "t,s=a x=2.5 10\nt,s=b x=1.0 10\n").unwrap();
        let s = st.lock().unwrap();
        assert_eq!(s.rows["t"].len(), 2);
        assert_eq!(s.rows["t"][&vec!["10".to_string(), "a".to_string()]]["x"], Val::F64(2.5));
        assert!(parse_create("CREATE TABLE IF NOT EXISTS q (ts TIMESTAMP, a SYMBOL) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(a)").is_err());
    }
}
