//! Grafana provisioning (`grafana/provisioning`) and dashboards (`grafana/dashboards/*.json`) against the
//! deployment contract: datasource uids and types, QuestDB tables and columns, Prometheus metric names.
//!
//! Offline (always): every dashboard parses, has uid/title/schemaVersion, known panel types, unique panel ids,
//! a gridPos, and every panel target and templating query points at a provisioned datasource (by uid, with the
//! matching type). SQL only reads contract tables/columns and uses macros the datasource knows; PromQL only
//! uses contract metrics and their labels. Each checker is also run on a small bad input.
//!
//! Against a real QuestDB (only when `QDB_PG_ADDR=host:port` is set; user/password from `QDB_PG_USER` /
//! `QDB_PG_PASSWORD`, default admin/quest): the Grafana macros and variables of every panel SQL are expanded to
//! concrete values the way the QuestDB plugin does it, and each query is run over the PG wire protocol and its
//! columns checked (e.g. the candlestick needs open/high/low/close/volume and a time column).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------------ contract

/// QuestDB tables and their columns (contract: `tickflow questdb init` DDL).
const TABLES: &[(&str, &[&str])] = &[
    ("trades", &["ts", "exchange", "symbol", "trade_id", "side", "price", "amount", "ingest_ts"]),
    (
        "bars",
        &[
            "open_time",
            "exchange",
            "symbol",
            "timeframe",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "quote_volume",
            "trades",
            "buy_volume",
            "sell_volume",
            "first_trade_id",
            "last_trade_id",
            "revision",
        ],
    ),
    ("orders", &["created", "run", "order_id", "exchange", "symbol", "side", "size", "kind", "price", "stop_price", "status", "updated", "group_id"]),
    ("fills", &["ts", "run", "order_id", "exchange", "symbol", "side", "price", "size", "commission"]),
    ("equity", &["ts", "run", "cash", "value"]),
    ("late_trades", &["ts", "exchange", "symbol", "trade_id", "side", "price", "amount", "ingest_ts", "watermark", "disposition"]),
    ("funding", &["ts", "exchange", "symbol", "funding_rate", "mark_price"]),
    ("price_candles", &["open_time", "exchange", "symbol", "timeframe", "price", "open", "high", "low", "close"]),
];

/// Prometheus metrics (contract) and their own labels; every series also has `job` and `instance`.
const METRICS: &[(&str, &[&str])] = &[
    ("tickflow_trades_in_total", &[]),
    ("tickflow_bad_records_total", &[]),
    ("tickflow_trades_aggregated_total", &[]),
    ("tickflow_duplicate_trades_total", &[]),
    ("tickflow_late_trades_total", &[]),
    ("tickflow_too_late_trades_total", &[]),
    ("tickflow_bars_total", &[]),
    ("tickflow_bar_revisions_total", &[]),
    ("tickflow_questdb_rows_total", &["table"]),
    ("tickflow_questdb_flush_errors_total", &[]),
    ("tickflow_kafka_produce_errors_total", &[]),
    ("tickflow_dlq_records_total", &[]),
    ("tickflow_watermark_seconds", &[]),
    ("tickflow_watermark_lag_seconds", &[]),
    ("tickflow_kafka_consumer_lag", &["topic", "partition"]),
    ("tickflow_up", &[]),
];
const HISTOGRAMS: &[&str] = &["tickflow_questdb_flush_seconds", "tickflow_kafka_flush_seconds"];
const TARGET_LABELS: &[&str] = &["job", "instance"];

const QUESTDB_TYPE: &str = "questdb-questdb-datasource";
const POSTGRES_TYPE: &str = "grafana-postgresql-datasource";
const PROMETHEUS_TYPE: &str = "prometheus";

/// Contract datasources: uid -> type.
const CONTRACT_DATASOURCES: &[(&str, &str)] = &[("questdb", QUESTDB_TYPE), ("questdb-pg", POSTGRES_TYPE), ("prometheus", PROMETHEUS_TYPE)];

const PANEL_TYPES: &[&str] =
    &["timeseries", "candlestick", "table", "stat", "barchart", "bargauge", "gauge", "text", "row", "logs", "heatmap", "piechart", "state-timeline"];

/// Mount point of `./grafana/dashboards` in the grafana container (contract).
const DASHBOARDS_MOUNT: &str = "/var/lib/grafana/dashboards";

// ------------------------------------------------------------------------------------------------ files

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("grafana")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_to_json(text: &str) -> Result<Value, String> {
    serde_norway::from_str::<Value>(text).map_err(|e| format!("YAML: {e}"))
}

/// `(file name, parsed JSON)` of every `grafana/dashboards/*.json`, sorted by name.
fn dashboard_files() -> Vec<(String, Value)> {
    let dir = grafana_dir().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let v = serde_json::from_str(&read(&p)).unwrap_or_else(|e| panic!("{name}: not valid JSON: {e}"));
            (name, v)
        })
        .collect()
}

fn provisioned() -> BTreeMap<String, String> {
    let text = read(&grafana_dir().join("provisioning/datasources/datasources.yaml"));
    provisioned_datasources(&yaml_to_json(&text).unwrap()).unwrap()
}

// ------------------------------------------------------------------------------------------------ provisioning

/// uid -> type of the datasources of a Grafana datasource provisioning file.
fn provisioned_datasources(doc: &Value) -> Result<BTreeMap<String, String>, String> {
    if doc.get("apiVersion").and_then(Value::as_i64) != Some(1) {
        return Err("apiVersion must be 1".into());
    }
    let list = doc.get("datasources").and_then(Value::as_array).ok_or("no `datasources` list")?;
    let mut out = BTreeMap::new();
    let mut defaults = 0;
    for (i, ds) in list.iter().enumerate() {
        let field = |k: &str| ds.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(format!("datasource #{i}: no `{k}`"));
        let (_name, uid, ty) = (field("name")?, field("uid")?, field("type")?);
        if out.insert(uid.to_string(), ty.to_string()).is_some() {
            return Err(format!("datasource uid `{uid}` provisioned twice"));
        }
        if ds.get("isDefault").and_then(Value::as_bool) == Some(true) {
            defaults += 1;
        }
    }
    if defaults > 1 {
        return Err(format!("{defaults} datasources have isDefault: true (at most one may)"));
    }
    Ok(out)
}

fn is_env_ref(v: Option<&Value>, var: &str) -> bool {
    let s = v.and_then(Value::as_str).unwrap_or("");
    s == format!("${var}") || s == format!("${{{var}}}")
}

/// The provisioned datasources are the contract's: uids/types, hosts, and credentials from the environment.
fn check_datasources_contract(doc: &Value) -> Vec<String> {
    let mut errs = vec![];
    let ds = match provisioned_datasources(doc) {
        Ok(ds) => ds,
        Err(e) => return vec![e],
    };
    for (uid, ty) in CONTRACT_DATASOURCES {
        if ds.get(*uid).map(String::as_str) != Some(*ty) {
            errs.push(format!("datasource uid `{uid}` must be provisioned with type `{ty}` (have {:?})", ds.get(*uid)));
        }
    }
    let by_uid = |uid: &str| doc["datasources"].as_array().unwrap().iter().find(|d| d["uid"] == uid).cloned().unwrap_or(Value::Null);
    let q = by_uid("questdb");
    let j = &q["jsonData"];
    if j["server"] != "questdb" || j["port"].as_i64() != Some(8812) || j["tlsMode"] != "disable" {
        errs.push(format!("questdb: jsonData must have server: questdb, port: 8812, tlsMode: disable (have {j})"));
    }
    // QuestDB's read-only PG account: dashboards cannot change data (#14)
    if !is_env_ref(j.get("username"), "QDB_PG_READONLY_USER") || !is_env_ref(q["secureJsonData"].get("password"), "QDB_PG_READONLY_PASSWORD") {
        errs.push("questdb: username/password must be $QDB_PG_READONLY_USER / $QDB_PG_READONLY_PASSWORD (secureJsonData.password)".into());
    }
    let pg = by_uid("questdb-pg");
    if pg["url"] != "questdb:8812" || pg["jsonData"]["database"] != "qdb" || pg["jsonData"]["sslmode"] != "disable" {
        errs.push("questdb-pg: needs url: questdb:8812, jsonData.database: qdb, jsonData.sslmode: disable".into());
    }
    if !is_env_ref(pg.get("user"), "QDB_PG_READONLY_USER") || !is_env_ref(pg["secureJsonData"].get("password"), "QDB_PG_READONLY_PASSWORD") {
        errs.push("questdb-pg: user/password must be $QDB_PG_READONLY_USER / $QDB_PG_READONLY_PASSWORD (secureJsonData.password)".into());
    }
    let prom = by_uid("prometheus");
    if prom["url"] != "http://prometheus:9090" || prom["isDefault"] != true {
        errs.push("prometheus: needs url: http://prometheus:9090 and isDefault: true".into());
    }
    for d in doc["datasources"].as_array().unwrap() {
        if d.get("password").is_some() || d["jsonData"].get("password").is_some() {
            errs.push(format!("{}: a password belongs in secureJsonData", d["uid"]));
        }
    }
    errs
}

/// The dashboard provider reads the contract's mount point into the `tickflow` folder.
fn check_dashboard_provider(doc: &Value) -> Vec<String> {
    let Some(providers) = doc.get("providers").and_then(Value::as_array) else {
        return vec!["no `providers` list".into()];
    };
    let ok = providers.iter().any(|p| p["type"] == "file" && p["options"]["path"] == DASHBOARDS_MOUNT && p["folder"] == "tickflow" && p["name"].is_string());
    if doc.get("apiVersion").and_then(Value::as_i64) != Some(1) {
        return vec!["apiVersion must be 1".into()];
    }
    if ok {
        vec![]
    } else {
        vec![format!("no file provider with options.path {DASHBOARDS_MOUNT} and folder tickflow")]
    }
}

// ------------------------------------------------------------------------------------------------ dashboard structure

/// uid, title and schemaVersion (Grafana 11/12 dashboards are at 39..=41; older ones are migrated on load).
fn check_dashboard_meta(d: &Value) -> Vec<String> {
    let mut errs = vec![];
    match d.get("uid").and_then(Value::as_str) {
        Some(uid) if !uid.is_empty() && uid.len() <= 40 && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => {}
        other => errs.push(format!("uid must be 1-40 chars of [A-Za-z0-9_-], have {other:?}")),
    }
    if d.get("title").and_then(Value::as_str).is_none_or(|t| t.trim().is_empty()) {
        errs.push("no title".into());
    }
    match d.get("schemaVersion").and_then(Value::as_i64) {
        Some(v) if (36..=42).contains(&v) => {}
        other => errs.push(format!("schemaVersion must be 36..=42 (Grafana 10-12), have {other:?}")),
    }
    if d.get("id").is_some_and(|id| !id.is_null()) {
        errs.push("a provisioned dashboard must not carry a database `id`".into());
    }
    errs
}

/// All panels, including those nested in collapsed rows.
fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for p in d.get("panels").and_then(Value::as_array).into_iter().flatten() {
        out.push(p);
        out.extend(p.get("panels").and_then(Value::as_array).into_iter().flatten());
    }
    out
}

/// Known panel types, unique integer ids, a sane gridPos.
fn check_panel_layout(d: &Value) -> Vec<String> {
    let mut errs = vec![];
    let panels = all_panels(d);
    if panels.is_empty() {
        errs.push("no panels".into());
    }
    let mut ids = BTreeSet::new();
    for p in panels {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("?");
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        if !PANEL_TYPES.contains(&ty) {
            errs.push(format!("panel `{title}`: type `{ty}` is not one of {PANEL_TYPES:?}"));
        }
        match p.get("id").and_then(Value::as_u64) {
            Some(id) if ids.insert(id) => {}
            Some(id) => errs.push(format!("panel `{title}`: duplicate id {id}")),
            None => errs.push(format!("panel `{title}`: no integer id")),
        }
        let g = &p["gridPos"];
        let n = |k: &str| g.get(k).and_then(Value::as_u64);
        match (n("x"), n("y"), n("w"), n("h")) {
            (Some(x), Some(_), Some(w), Some(h)) if w >= 1 && h >= 1 && x + w <= 24 => {}
            _ => errs.push(format!("panel `{title}`: gridPos needs integer x, y, w >= 1, h >= 1 with x + w <= 24 (have {g})")),
        }
    }
    errs
}

/// A datasource reference `{"type", "uid"}` that names a provisioned datasource; returns its type.
fn resolve_datasource(r: &Value, ds: &BTreeMap<String, String>) -> Result<String, String> {
    let (Some(ty), Some(uid)) = (r.get("type").and_then(Value::as_str), r.get("uid").and_then(Value::as_str)) else {
        return Err(format!("datasource must be an object {{\"type\", \"uid\"}}, have {r}"));
    };
    match ds.get(uid) {
        None => Err(format!("datasource uid `{uid}` is not provisioned (have {:?})", ds.keys().collect::<Vec<_>>())),
        Some(t) if t != ty => Err(format!("datasource uid `{uid}` is provisioned as `{t}`, referenced as `{ty}`")),
        Some(t) => Ok(t.clone()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lang {
    /// SQL through the QuestDB plugin (macros $__timeFilter, $__fromTime, $__toTime, $__sampleByInterval).
    QuestDb,
    /// SQL through Grafana's PostgreSQL datasource (the fallback; its own macros).
    Postgres,
    PromQl,
}

fn lang_of(ty: &str) -> Option<Lang> {
    match ty {
        QUESTDB_TYPE => Some(Lang::QuestDb),
        POSTGRES_TYPE | "postgres" => Some(Lang::Postgres),
        PROMETHEUS_TYPE => Some(Lang::PromQl),
        _ => None,
    }
}

/// Names of the dashboard's template variables.
fn variable_names(d: &Value) -> BTreeSet<String> {
    d["templating"]["list"].as_array().into_iter().flatten().filter_map(|v| v["name"].as_str().map(str::to_string)).collect()
}

/// Every panel's targets: datasource by uid (target's own or the panel's), unique refIds, a query valid for its language.
fn check_panel_targets(d: &Value, ds: &BTreeMap<String, String>) -> Vec<String> {
    let mut errs = vec![];
    let vars = variable_names(d);
    for p in all_panels(d) {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("?");
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        for text in [p.get("title"), p.get("description")].into_iter().flatten().filter_map(Value::as_str) {
            errs.extend(undefined_variables(text, &vars).into_iter().map(|v| format!("panel `{title}`: undefined variable ${v} in title/description")));
        }
        let targets = p.get("targets").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        if matches!(ty, "row" | "text") {
            if !targets.is_empty() {
                errs.push(format!("panel `{title}`: a {ty} panel has no queries"));
            }
            continue;
        }
        if targets.is_empty() {
            errs.push(format!("panel `{title}`: no targets"));
        }
        if let Some(Err(e)) = p.get("datasource").filter(|r| !r.is_null()).map(|r| resolve_datasource(r, ds)) {
            errs.push(format!("panel `{title}`: {e}"));
        }
        let mut ref_ids = BTreeSet::new();
        for t in targets {
            let ref_id = t.get("refId").and_then(Value::as_str).unwrap_or("");
            let at = format!("panel `{title}` target {ref_id}");
            if ref_id.is_empty() || !ref_ids.insert(ref_id) {
                errs.push(format!("{at}: missing or duplicate refId"));
            }
            let Some(r) = t.get("datasource").or(p.get("datasource")).filter(|r| !r.is_null()) else {
                errs.push(format!("{at}: no datasource (neither on the target nor on the panel)"));
                continue;
            };
            let ty = match resolve_datasource(r, ds) {
                Ok(ty) => ty,
                Err(e) => {
                    errs.push(format!("{at}: {e}"));
                    continue;
                }
            };
            errs.extend(check_target_query(t, &ty, &vars).into_iter().map(|e| format!("{at}: {e}")));
        }
    }
    errs
}

/// The query of one target, by the language of its datasource type.
fn check_target_query(t: &Value, ds_type: &str, vars: &BTreeSet<String>) -> Vec<String> {
    let str_of = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
    match lang_of(ds_type) {
        Some(lang @ Lang::QuestDb) => {
            let mut errs = vec![];
            if !matches!(str_of("queryType"), "sql" | "builder") {
                errs.push(format!("queryType must be `sql` (or `builder`), have {}", t["queryType"]));
            }
            if !matches!(t.get("format").and_then(Value::as_i64), Some(0 | 1)) {
                errs.push(format!("format must be 0 (time series) or 1 (table), have {}", t["format"]));
            }
            errs.extend(check_sql(str_of("rawSql"), lang, vars));
            errs
        }
        Some(lang @ Lang::Postgres) => {
            let mut errs = vec![];
            if !matches!(str_of("format"), "table" | "time_series") {
                errs.push(format!("format must be `table` or `time_series`, have {}", t["format"]));
            }
            errs.extend(check_sql(str_of("rawSql"), lang, vars));
            errs
        }
        Some(Lang::PromQl) => check_promql(str_of("expr"), vars),
        None => vec![format!("no checker for datasource type `{ds_type}`")],
    }
}

/// Query variables: provisioned datasource by uid and a valid query; other kinds need no datasource.
fn check_variables(d: &Value, ds: &BTreeMap<String, String>) -> Vec<String> {
    let mut errs = vec![];
    let vars = variable_names(d);
    let mut seen = BTreeSet::new();
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() || !seen.insert(name) {
            errs.push(format!("variable `{name}`: missing or duplicate name"));
        }
        if v["type"] != "query" {
            continue;
        }
        let at = format!("variable `{name}`");
        let ty = match v.get("datasource").ok_or_else(|| "no datasource".to_string()).and_then(|r| resolve_datasource(r, ds)) {
            Ok(ty) => ty,
            Err(e) => {
                errs.push(format!("{at}: {e}"));
                continue;
            }
        };
        let q = &v["query"];
        let query = q.as_str().or_else(|| q.get("rawSql").and_then(Value::as_str)).or_else(|| q.get("query").and_then(Value::as_str)).unwrap_or("");
        let own: BTreeSet<String> = vars.iter().filter(|n| *n != name).cloned().collect();
        let found = match lang_of(&ty) {
            Some(lang @ (Lang::QuestDb | Lang::Postgres)) => check_sql(query, lang, &own),
            Some(Lang::PromQl) => check_prom_variable_query(query, &own),
            None => vec![format!("no checker for datasource type `{ty}`")],
        };
        errs.extend(found.into_iter().map(|e| format!("{at}: {e}")));
    }
    errs
}

/// Everything above for one dashboard.
fn check_dashboard(d: &Value, ds: &BTreeMap<String, String>) -> Vec<String> {
    let mut errs = check_dashboard_meta(d);
    errs.extend(check_panel_layout(d));
    errs.extend(check_panel_targets(d, ds));
    errs.extend(check_variables(d, ds));
    errs
}

// ------------------------------------------------------------------------------------------------ template variables

/// Grafana's global variables, usable with any datasource.
const GRAFANA_GLOBALS: &[&str] = &[
    "__interval",
    "__interval_ms",
    "__range",
    "__range_s",
    "__range_ms",
    "__rate_interval",
    "__rate_interval_ms",
    "__from",
    "__to",
    "__dashboard",
    "__org",
    "__user",
    "__timezone",
];
/// Macros of the QuestDB plugin (pkg/macros and the frontend's $__conditionalAll).
const QUESTDB_MACROS: &[&str] = &["__timeFilter", "__fromTime", "__toTime", "__sampleByInterval", "__conditionalAll"];
/// Macros of Grafana's PostgreSQL datasource.
const POSTGRES_MACROS: &[&str] = &[
    "__time",
    "__timeEpoch",
    "__timeFilter",
    "__timeFrom",
    "__timeTo",
    "__timeGroup",
    "__timeGroupAlias",
    "__unixEpochFilter",
    "__unixEpochFrom",
    "__unixEpochTo",
    "__unixEpochGroup",
    "__unixEpochGroupAlias",
    "__unixEpochNanoFilter",
    "__unixEpochNanoFrom",
    "__unixEpochNanoTo",
];

/// Reads `$name` / `${name}` / `${name:format}` at `s[i] == '$'`; returns (name, bytes consumed).
fn read_variable(s: &str, i: usize) -> Option<(String, usize)> {
    let rest = &s[i + 1..];
    if let Some(inner) = rest.strip_prefix('{') {
        let end = inner.find('}')?;
        let name = inner[..end].split(':').next().unwrap_or("");
        let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        return ok.then(|| (name.to_string(), end + 3));
    }
    let n = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    (n > 0).then(|| (rest[..n].to_string(), n + 1))
}

/// Variables referenced in free text (titles) that the dashboard does not define (`__field.*` etc. are Grafana's).
fn undefined_variables(text: &str, vars: &BTreeSet<String>) -> Vec<String> {
    let mut out = vec![];
    let mut i = 0;
    while let Some(off) = text[i..].find('$') {
        i += off;
        match read_variable(text, i) {
            Some((name, len)) => {
                if !name.starts_with("__") && !vars.contains(&name) {
                    out.push(name);
                }
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

// ------------------------------------------------------------------------------------------------ SQL

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// Unquoted identifier or keyword, lowercased.
    Word(String),
    /// "Quoted" identifier, lowercased (QuestDB names are case-insensitive).
    Quoted(String),
    Num,
    Str,
    /// `$name`, `${name}` or a `$__macro`.
    Var(String),
    Sym(char),
}

fn lex_sql(sql: &str) -> Result<Vec<Tok>, String> {
    let b = sql.as_bytes();
    let mut toks = vec![];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if sql[i..].starts_with("--") {
            i += sql[i..].find('\n').unwrap_or(sql.len() - i);
        } else if c == b'\'' || c == b'"' {
            let mut j = i + 1;
            loop {
                match b.get(j) {
                    None => return Err(format!("unterminated {} at byte {i}", if c == b'\'' { "string" } else { "quoted identifier" })),
                    Some(&q) if q == c && b.get(j + 1) == Some(&c) => j += 2,
                    Some(&q) if q == c => break,
                    Some(_) => j += 1,
                }
            }
            if c == b'\'' {
                toks.push(Tok::Str);
                // variables inside literals ('$symbol') are template variables too
                let body = &sql[i + 1..j];
                let mut k = 0;
                while let Some(off) = body[k..].find('$') {
                    k += off;
                    match read_variable(body, k) {
                        Some((name, len)) => {
                            toks.push(Tok::Var(name));
                            k += len;
                        }
                        None => k += 1,
                    }
                }
            } else {
                toks.push(Tok::Quoted(sql[i + 1..j].to_lowercase()));
            }
            i = j + 1;
        } else if c == b'$' {
            let (name, len) = read_variable(sql, i).ok_or(format!("bad `$` at byte {i}"))?;
            toks.push(Tok::Var(name));
            i += len;
        } else if c.is_ascii_digit() {
            // numbers and QuestDB duration literals (60s, 1h, 500T)
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            toks.push(Tok::Num);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let n = b[i..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
            toks.push(Tok::Word(sql[i..i + n].to_lowercase()));
            i += n;
        } else {
            let ch = sql[i..].chars().next().unwrap();
            toks.push(Tok::Sym(ch));
            i += ch.len_utf8();
        }
    }
    Ok(toks)
}

const SQL_KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "as",
    "sample",
    "by",
    "fill",
    "null",
    "order",
    "asc",
    "desc",
    "limit",
    "latest",
    "on",
    "partition",
    "over",
    "rows",
    "range",
    "between",
    "preceding",
    "following",
    "current",
    "row",
    "unbounded",
    "case",
    "when",
    "then",
    "else",
    "end",
    "in",
    "distinct",
    "group",
    "align",
    "to",
    "calendar",
    "time",
    "zone",
    "with",
    "offset",
    "observation",
    "first",
    "join",
    "left",
    "right",
    "inner",
    "outer",
    "cross",
    "asof",
    "lt",
    "splice",
    "is",
    "true",
    "false",
    "prev",
    "linear",
    "none",
    "having",
    "union",
    "all",
    "except",
    "intersect",
    "exclude",
    "others",
    "ties",
    "like",
    "ilike",
    "within",
    "tolerance",
    "window",
    "nulls",
    "ignore",
    "respect",
    "interval",
    "timestamp",
    "date",
    "double",
    "float",
    "long",
    "int",
    "short",
    "byte",
    "boolean",
    "string",
    "symbol",
    "varchar",
    "char",
];

/// QuestDB SQL functions the dashboards may call (a typo fails offline instead of in Grafana).
const SQL_FUNCTIONS: &[&str] = &[
    "avg",
    "sum",
    "ksum",
    "nsum",
    "count",
    "count_distinct",
    "min",
    "max",
    "first",
    "last",
    "first_not_null",
    "last_not_null",
    "first_value",
    "last_value",
    "lag",
    "lead",
    "row_number",
    "rank",
    "dense_rank",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "approx_percentile",
    "cast",
    "coalesce",
    "nullif",
    "abs",
    "round",
    "round_down",
    "round_up",
    "floor",
    "ceil",
    "sqrt",
    "ln",
    "log",
    "exp",
    "power",
    "datediff",
    "dateadd",
    "now",
    "systimestamp",
    "timestamp_floor",
    "timestamp_ceil",
    "to_timezone",
    "to_utc",
    "to_str",
    "to_timestamp",
    "concat",
    "length",
    "upper",
    "lower",
];

/// A dashboard SQL query: one read-only statement over contract tables and columns, known functions,
/// macros of its datasource, defined template variables.
fn check_sql(sql: &str, lang: Lang, vars: &BTreeSet<String>) -> Vec<String> {
    let toks = match lex_sql(sql) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let mut errs = vec![];
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w) | Tok::Quoted(w)) => Some(w.as_str()),
        _ => None,
    };
    let is_kw = |w: &str| SQL_KEYWORDS.contains(&w);
    let sym = |i: usize, c: char| toks.get(i) == Some(&Tok::Sym(c));
    if !matches!(toks.first(), Some(Tok::Word(w)) if w == "select" || w == "with") {
        return vec![format!("SQL must be one SELECT (or WITH ... SELECT) statement: {sql:?}")];
    }
    if toks.contains(&Tok::Sym(';')) {
        errs.push("SQL must be one statement (no `;`)".into());
    }
    let table_cols: BTreeMap<&str, &[&str]> = TABLES.iter().copied().collect();
    // names defined by the query itself: CTEs (`name AS (`), aliases (`AS name`, `) name`, `FROM table name`)
    let mut defined = BTreeSet::new();
    let mut tables = BTreeSet::new();
    for i in 0..toks.len() {
        let (Some(w), prev) = (word(i), i.checked_sub(1)) else { continue };
        if word(i + 1) == Some("as") && sym(i + 2, '(') {
            defined.insert(w.to_string());
        }
        if let Some(p) = prev {
            if word(p) == Some("as") || (sym(p, ')') && !is_kw(w)) {
                defined.insert(w.to_string());
            }
        }
    }
    for i in 0..toks.len() {
        if matches!(word(i), Some("from" | "join")) && !sym(i + 1, '(') {
            match word(i + 1) {
                Some(t) if table_cols.contains_key(t) => {
                    tables.insert(t.to_string());
                }
                Some(t) if defined.contains(t) => {}
                Some(t) => errs.push(format!("table `{t}` is not in the contract {:?}", table_cols.keys().collect::<Vec<_>>())),
                None => {}
            }
            if let Some(alias) = word(i + 2).filter(|a| !is_kw(a)) {
                defined.insert(alias.to_string());
            }
        }
    }
    let columns: BTreeSet<&str> = tables.iter().flat_map(|t| table_cols[t.as_str()].iter().copied()).collect();
    // with an unknown table every column would be "unknown": report the table only
    let check_columns = errs.is_empty();
    let mut unknown_columns = BTreeSet::new();
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Word(w) if is_kw(w) => {}
            Tok::Word(w) if sym(i + 1, '(') => {
                let known = SQL_FUNCTIONS.contains(&w.as_str()) || defined.contains(w);
                errs.extend((!known).then(|| format!("unknown SQL function `{w}`")));
            }
            Tok::Word(w) | Tok::Quoted(w) => {
                let qualifier = sym(i + 1, '.');
                if check_columns && !qualifier && !columns.contains(w.as_str()) && !defined.contains(w) && !table_cols.contains_key(w.as_str()) {
                    unknown_columns.insert(w.clone());
                }
            }
            Tok::Var(v) if v.starts_with("__") => {
                let macros = if lang == Lang::Postgres { POSTGRES_MACROS } else { QUESTDB_MACROS };
                if !macros.contains(&v.as_str()) && !GRAFANA_GLOBALS.contains(&v.as_str()) {
                    errs.push(format!("`${v}` is not a macro of the {lang:?} datasource nor a Grafana variable"));
                }
            }
            Tok::Var(v) if !vars.contains(v) => errs.push(format!("undefined variable `${v}`")),
            _ => {}
        }
    }
    errs.extend(unknown_columns.into_iter().map(|w| format!("unknown column `{w}` (tables {tables:?})")));
    if tables.is_empty() && errs.is_empty() {
        errs.push("SQL reads no contract table".into());
    }
    errs
}

// ------------------------------------------------------------------------------------------------ PromQL

const PROMQL_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "topk",
    "bottomk",
    "quantile",
    "stddev",
    "group",
    "histogram_quantile",
    "time",
    "timestamp",
    "vector",
    "scalar",
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "changes",
    "resets",
    "absent",
    "sort",
    "sort_desc",
    "label_replace",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
];
const PROMQL_KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan"];
const PROMQL_LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Labels a metric (or a histogram series) carries besides job/instance; None if not in the contract.
fn metric_labels(name: &str) -> Option<Vec<&'static str>> {
    if let Some((_, labels)) = METRICS.iter().find(|(m, _)| *m == name) {
        return Some(labels.to_vec());
    }
    HISTOGRAMS.iter().find_map(|h| match name.strip_prefix(h) {
        Some("_bucket") => Some(vec!["le"]),
        Some("_sum" | "_count") => Some(vec![]),
        _ => None,
    })
}

/// A PromQL expression: contract metrics only, labels those metrics carry, known functions, defined variables.
fn check_promql(expr: &str, vars: &BTreeSet<String>) -> Vec<String> {
    if expr.trim().is_empty() {
        return vec!["empty PromQL expression".into()];
    }
    let mut errs = vec![];
    let mut metrics = BTreeSet::new();
    let mut labels = BTreeSet::new();
    let b = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut i = 0;
    // the identifier before the current position, for `by (...)` lists
    let mut last_word = String::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'\'' || c == b'`' {
            let end = expr[i + 1..].find(c as char).map(|e| i + 1 + e);
            let Some(end) = end else { return vec![format!("unterminated string in {expr:?}")] };
            errs.extend(undefined_variables(&expr[i + 1..end], vars).into_iter().map(|v| format!("undefined variable `${v}`")));
            i = end + 1;
        } else if c == b'$' {
            match read_variable(expr, i) {
                Some((name, len)) => {
                    if !name.starts_with("__") && !vars.contains(&name) {
                        errs.push(format!("undefined variable `${name}`"));
                    } else if name.starts_with("__") && !GRAFANA_GLOBALS.contains(&name.as_str()) {
                        errs.push(format!("`${name}` is not a Grafana variable"));
                    }
                    i += len;
                }
                None => return vec![format!("bad `$` in {expr:?}")],
            }
        } else if c == b'{' {
            // label matchers: name op "value", ...
            let Some(end) = expr[i..].find('}').map(|e| i + e) else { return vec![format!("unbalanced {{ in {expr:?}")] };
            for m in expr[i + 1..end].split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let name: String = m.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let value = m[name.len()..].trim_start_matches(['=', '!', '~', ' ']);
                errs.extend(undefined_variables(value, vars).into_iter().map(|v| format!("undefined variable `${v}`")));
                labels.insert(name);
            }
            i = end + 1;
        } else if c == b'[' {
            let Some(end) = expr[i..].find(']').map(|e| i + e) else { return vec![format!("unbalanced [ in {expr:?}")] };
            errs.extend(undefined_variables(&expr[i + 1..end], vars).into_iter().map(|v| format!("undefined variable `${v}`")));
            i = end + 1;
        } else if c == b'(' && PROMQL_LABEL_LISTS.contains(&last_word.as_str()) {
            let Some(end) = expr[i..].find(')').map(|e| i + e) else { return vec![format!("unbalanced ( in {expr:?}")] };
            labels.extend(expr[i + 1..end].split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
            last_word.clear();
            i = end + 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            last_word.clear();
        } else if ident(c) {
            let n = b[i..].iter().take_while(|c| ident(**c)).count();
            let w = &expr[i..i + n];
            i += n;
            let after = expr[i..].trim_start();
            let next_word: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `f(...)`, or an aggregation with its grouping first: `sum by (job) (...)`
            let call = after.starts_with('(') || matches!(next_word.as_str(), "by" | "without");
            let lw = w.to_ascii_lowercase();
            if PROMQL_LABEL_LISTS.contains(&lw.as_str()) || PROMQL_KEYWORDS.contains(&lw.as_str()) {
                // keyword; a label list may follow
            } else if call {
                if !PROMQL_FUNCTIONS.contains(&w) {
                    errs.push(format!("unknown PromQL function `{w}`"));
                }
            } else if metric_labels(w).is_some() {
                metrics.insert(w.to_string());
            } else {
                errs.push(format!("metric `{w}` is not in the contract"));
            }
            last_word = lw;
        } else {
            last_word.clear();
            i += 1;
        }
    }
    let mut allowed: BTreeSet<&str> = TARGET_LABELS.iter().copied().collect();
    for m in &metrics {
        allowed.extend(metric_labels(m).unwrap_or_default());
    }
    for l in labels {
        if !allowed.contains(l.as_str()) {
            errs.push(format!("label `{l}` is not carried by {metrics:?} (allowed {allowed:?})"));
        }
    }
    if metrics.is_empty() && errs.is_empty() {
        errs.push(format!("{expr:?} reads no contract metric"));
    }
    errs
}

/// A Prometheus variable query: `label_values(selector, label)`, `label_values(label)` or `query_result(expr)`.
fn check_prom_variable_query(q: &str, vars: &BTreeSet<String>) -> Vec<String> {
    let q = q.trim();
    if let Some(inner) = q.strip_prefix("label_values(").and_then(|r| r.strip_suffix(')')) {
        let (selector, label) = inner.rsplit_once(',').unwrap_or(("", inner));
        let label = label.trim();
        if selector.trim().is_empty() {
            return if TARGET_LABELS.contains(&label) { vec![] } else { vec![format!("label_values({label}): not a label every series has")] };
        }
        let mut errs = check_promql(selector, vars);
        let own = METRICS.iter().find(|(m, _)| *m == selector.split('{').next().unwrap_or("").trim()).map(|(_, l)| *l).unwrap_or(&[]);
        if !TARGET_LABELS.contains(&label) && !own.contains(&label) {
            errs.push(format!("label `{label}` is not carried by `{selector}`"));
        }
        return errs;
    }
    if let Some(inner) = q.strip_prefix("query_result(").and_then(|r| r.strip_suffix(')')) {
        return check_promql(inner, vars);
    }
    vec![format!("unsupported Prometheus variable query {q:?} (use label_values(...) or query_result(...))")]
}

// ------------------------------------------------------------------------------------------------ macro expansion

/// Time range used to expand `$__timeFilter` etc.: 2020-01-01T00:00:00Z .. 2030-01-01T00:00:00Z (unix microseconds).
const FROM_US: i64 = 1_577_836_800_000_000;
const TO_US: i64 = 1_893_456_000_000_000;

#[derive(Clone, Debug)]
enum VarValue {
    Single(String),
    Multi(Vec<String>),
}

/// Expands the QuestDB plugin's macros and the dashboard variables like Grafana + the plugin do:
/// `$__timeFilter(c)` -> `c >= cast(FROM as timestamp) AND c <= cast(TO as timestamp)` (microseconds),
/// `$__fromTime` / `$__toTime` -> `cast(N as timestamp)`, `$__sampleByInterval` -> `interval`,
/// a single-valued `$var` -> its raw value, a multi-valued one -> `'a','b'` (the plugin's format).
fn expand_sql(sql: &str, vars: &BTreeMap<String, VarValue>, interval: &str) -> Result<String, String> {
    let cast = |us: i64| format!("cast({us} as timestamp)");
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while let Some(off) = sql[i..].find('$') {
        out.push_str(&sql[i..i + off]);
        i += off;
        let (name, len) = read_variable(sql, i).ok_or(format!("bad `$` at byte {i} of {sql:?}"))?;
        i += len;
        match name.as_str() {
            "__timeFilter" => {
                let rest = &sql[i..];
                if !rest.starts_with('(') {
                    return Err("$__timeFilter needs (column)".into());
                }
                let mut depth = 0;
                let close = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map(|(j, _)| j)
                    .ok_or("unbalanced $__timeFilter(")?;
                let col = rest[1..close].trim();
                out.push_str(&format!("{col} >= {} AND {col} <= {}", cast(FROM_US), cast(TO_US)));
                i += close + 1;
            }
            "__fromTime" => out.push_str(&cast(FROM_US)),
            "__toTime" => out.push_str(&cast(TO_US)),
            "__sampleByInterval" => out.push_str(interval),
            other => match vars.get(other) {
                Some(VarValue::Single(v)) => out.push_str(v),
                Some(VarValue::Multi(vs)) => out.push_str(&format!("'{}'", vs.join("','"))),
                None => return Err(format!("cannot expand `${other}`")),
            },
        }
    }
    out.push_str(&sql[i..]);
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ColKind {
    Time,
    Number,
    Text,
    Other,
}

/// What a panel type needs from its query result.
fn check_result_columns(panel_type: &str, cols: &[(String, ColKind)]) -> Vec<String> {
    let has = |k: ColKind| cols.iter().any(|(_, c)| *c == k);
    let mut errs = vec![];
    if cols.is_empty() {
        errs.push("query returns no columns".into());
    }
    match panel_type {
        "candlestick" => {
            for need in ["open", "high", "low", "close", "volume"] {
                if !cols.iter().any(|(n, c)| n == need && *c == ColKind::Number) {
                    errs.push(format!("candlestick needs a numeric `{need}` column"));
                }
            }
            if !has(ColKind::Time) {
                errs.push("candlestick needs a time column".into());
            }
        }
        "timeseries" | "state-timeline" | "heatmap" if !has(ColKind::Time) || !has(ColKind::Number) => {
            errs.push(format!("{panel_type} needs a time column and a numeric column"));
        }
        "stat" | "gauge" | "bargauge" | "barchart" | "piechart" if !has(ColKind::Number) => {
            errs.push(format!("{panel_type} needs a numeric column"));
        }
        _ => {}
    }
    errs
}

// ------------------------------------------------------------------------------------------------ tests: the real files

#[test]
fn provisioned_datasources_are_the_contracts() {
    let text = read(&grafana_dir().join("provisioning/datasources/datasources.yaml"));
    let doc = yaml_to_json(&text).unwrap();
    let errs = check_datasources_contract(&doc);
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn dashboard_provider_reads_the_mounted_directory() {
    let text = read(&grafana_dir().join("provisioning/dashboards/dashboards.yaml"));
    let errs = check_dashboard_provider(&yaml_to_json(&text).unwrap());
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn dashboards_reference_provisioned_datasources_and_contract_names() {
    let ds = provisioned();
    let files = dashboard_files();
    let mut errs = vec![];
    let (mut uids, mut titles) = (BTreeSet::new(), BTreeSet::new());
    for (name, d) in &files {
        errs.extend(check_dashboard(d, &ds).into_iter().map(|e| format!("{name}: {e}")));
        if !uids.insert(d["uid"].to_string()) || !titles.insert(d["title"].to_string()) {
            errs.push(format!("{name}: uid {} or title {} used by another dashboard", d["uid"], d["title"]));
        }
    }
    for uid in ["tickflow-market", "tickflow-strategy", "tickflow-pipeline"] {
        if !uids.contains(&format!("\"{uid}\"")) {
            errs.push(format!("no dashboard with uid {uid}"));
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn every_contract_table_and_metric_family_is_on_a_dashboard() {
    let files = dashboard_files();
    let all: String = files.iter().map(|(_, d)| d.to_string()).collect();
    for (t, _) in TABLES {
        assert!(all.contains(&format!("FROM {t}")), "no dashboard reads table {t}");
    }
    for (m, _) in METRICS {
        assert!(all.contains(m), "no dashboard shows metric {m}");
    }
    for h in HISTOGRAMS {
        assert!(all.contains(&format!("{h}_bucket")), "no dashboard shows histogram {h}");
    }
}

// ------------------------------------------------------------------------------------------------ tests: checkers on bad input

fn ds_fixture() -> BTreeMap<String, String> {
    CONTRACT_DATASOURCES.iter().map(|(u, t)| (u.to_string(), t.to_string())).collect()
}

fn vars(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn provisioning_checker_rejects_bad_files() {
    let dup = yaml_to_json("apiVersion: 1\ndatasources:\n  - {name: a, uid: x, type: prometheus}\n  - {name: b, uid: x, type: prometheus}\n").unwrap();
    assert!(provisioned_datasources(&dup).unwrap_err().contains("twice"));
    let no_type = yaml_to_json("apiVersion: 1\ndatasources:\n  - {name: a, uid: x}\n").unwrap();
    assert!(provisioned_datasources(&no_type).unwrap_err().contains("type"));
    let two_defaults =
        yaml_to_json("apiVersion: 1\ndatasources:\n  - {name: a, uid: x, type: t, isDefault: true}\n  - {name: b, uid: y, type: t, isDefault: true}\n")
            .unwrap();
    assert!(provisioned_datasources(&two_defaults).unwrap_err().contains("isDefault"));

    let good = yaml_to_json(&read(&grafana_dir().join("provisioning/datasources/datasources.yaml"))).unwrap();
    let mut literal = good.clone();
    literal["datasources"][0]["secureJsonData"]["password"] = json!("quest");
    assert!(check_datasources_contract(&literal).iter().any(|e| e.contains("QDB_PG_READONLY_PASSWORD")));
    // QuestDB's admin account is not the read-only one
    let mut admin = good.clone();
    admin["datasources"][0]["jsonData"]["username"] = json!("$QDB_PG_USER");
    assert!(check_datasources_contract(&admin).iter().any(|e| e.contains("QDB_PG_READONLY_USER")));
    let mut wrong_type = good.clone();
    wrong_type["datasources"][1]["type"] = json!("postgres");
    assert!(check_datasources_contract(&wrong_type).iter().any(|e| e.contains("questdb-pg")));

    let provider = yaml_to_json("apiVersion: 1\nproviders:\n  - {name: t, type: file, folder: tickflow, options: {path: /dashboards}}\n").unwrap();
    assert_eq!(check_dashboard_provider(&provider).len(), 1);
}

#[test]
fn structure_checkers_reject_bad_dashboards() {
    let bad_meta = json!({"title": " ", "schemaVersion": 16, "panels": []});
    let errs = check_dashboard_meta(&bad_meta);
    assert_eq!(errs.len(), 3, "{errs:?}");

    let bad_layout = json!({"panels": [
        {"id": 1, "type": "graph", "title": "old graph", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8}},
        {"id": 1, "type": "stat", "title": "same id", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8}},
        {"id": 3, "type": "table", "title": "no gridPos"},
        {"id": 4, "type": "row", "title": "row", "gridPos": {"x": 0, "y": 8, "w": 24, "h": 1}, "panels": [
            {"id": 5, "type": "text", "title": "too wide", "gridPos": {"x": 12, "y": 9, "w": 24, "h": 1}}]}
    ]});
    let errs = check_panel_layout(&bad_layout);
    for want in ["type `graph`", "duplicate id 1", "`no gridPos`", "`too wide`"] {
        assert!(errs.iter().any(|e| e.contains(want)), "missing {want:?} in {errs:?}");
    }
}

#[test]
fn datasource_references_must_be_provisioned_uids_of_the_right_type() {
    let ds = ds_fixture();
    assert_eq!(resolve_datasource(&json!({"type": QUESTDB_TYPE, "uid": "questdb"}), &ds).unwrap(), QUESTDB_TYPE);
    assert!(resolve_datasource(&json!({"type": "prometheus", "uid": "prom"}), &ds).unwrap_err().contains("not provisioned"));
    assert!(resolve_datasource(&json!({"type": "prometheus", "uid": "questdb"}), &ds).unwrap_err().contains("provisioned as"));
    assert!(resolve_datasource(&json!("QuestDB"), &ds).is_err());

    let q = |sql: &str| json!({"refId": "A", "queryType": "sql", "format": 1, "rawSql": sql});
    let dash = json!({
        "templating": {"list": [
            {"name": "symbol", "type": "query", "datasource": {"type": "prometheus", "uid": "questdb"}, "query": "SELECT DISTINCT symbol FROM bars"},
            {"name": "job", "type": "query", "datasource": {"type": "prometheus", "uid": "prometheus"}, "query": {"query": "label_values(tickflow_up, topic)"}}
        ]},
        "panels": [
            {"id": 1, "type": "table", "title": "no ds", "gridPos": {"x": 0, "y": 0, "w": 1, "h": 1}, "targets": [q("SELECT ts FROM trades")]},
            {"id": 2, "type": "table", "title": "target ds", "gridPos": {"x": 0, "y": 0, "w": 1, "h": 1},
             "targets": [{"refId": "A", "datasource": {"type": QUESTDB_TYPE, "uid": "qdb"}, "rawSql": "SELECT ts FROM trades"}]},
            {"id": 3, "type": "table", "title": "bad sql", "datasource": {"type": QUESTDB_TYPE, "uid": "questdb"}, "gridPos": {"x": 0, "y": 0, "w": 1, "h": 1},
             "targets": [q("SELECT nope FROM trades WHERE symbol = '$sym'"), q("SELECT ts FROM trades")]},
            {"id": 4, "type": "timeseries", "title": "no targets", "datasource": {"type": "prometheus", "uid": "prometheus"}, "gridPos": {"x": 0, "y": 0, "w": 1, "h": 1}}
        ]
    });
    let errs = check_dashboard(&dash, &ds);
    for want in [
        "`no ds` target A: no datasource",
        "`target ds` target A: datasource uid `qdb` is not provisioned",
        "unknown column `nope`",
        "undefined variable `$sym`",
        "`bad sql` target A: missing or duplicate refId",
        "`no targets`: no targets",
        "variable `symbol`: datasource uid `questdb` is provisioned as",
        "label `topic` is not carried by `tickflow_up`",
        "uid must be",
    ] {
        assert!(errs.iter().any(|e| e.contains(want)), "missing {want:?} in:\n{}", errs.join("\n"));
    }
}

#[test]
fn sql_checker_accepts_contract_sql_and_rejects_the_rest() {
    let v = vars(&["symbol", "run"]);
    let ok = "WITH e AS (SELECT run, last(value) AS v FROM equity WHERE run IN ($run) AND $__timeFilter(ts))
              SELECT e.run, e.v, f.n FROM e LEFT JOIN (SELECT run, count() AS n FROM fills) f ON (run)";
    assert_eq!(check_sql(ok, Lang::QuestDb, &v), Vec::<String>::new());
    let ok2 = "SELECT ts, count() AS n FROM trades WHERE symbol = '$symbol' AND $__timeFilter(ts) SAMPLE BY $__sampleByInterval";
    assert_eq!(check_sql(ok2, Lang::QuestDb, &v), Vec::<String>::new());
    assert_eq!(check_sql("SELECT ts FROM trades WHERE $__timeFilter(ts) AND ts < $__timeTo()", Lang::Postgres, &v), Vec::<String>::new());

    let bad = |sql: &str, lang: Lang, want: &str| {
        let errs = check_sql(sql, lang, &v);
        assert!(errs.iter().any(|e| e.contains(want)), "{sql:?}: missing {want:?} in {errs:?}");
    };
    bad("", Lang::QuestDb, "one SELECT");
    bad("DROP TABLE trades", Lang::QuestDb, "one SELECT");
    bad("SELECT ts FROM trades; SELECT 1", Lang::QuestDb, "no `;`");
    bad("SELECT ts FROM candles", Lang::QuestDb, "table `candles` is not in the contract");
    bad("SELECT ts, pirce FROM trades", Lang::QuestDb, "unknown column `pirce`");
    bad("SELECT open_time FROM trades", Lang::QuestDb, "unknown column `open_time`");
    bad("SELECT avgg(price) AS p FROM trades", Lang::QuestDb, "unknown SQL function `avgg`");
    bad("SELECT ts FROM trades WHERE $__timeFilter(ts) SAMPLE BY $__interval_typo", Lang::QuestDb, "not a macro");
    bad("SELECT ts FROM trades WHERE ts < $__timeTo()", Lang::QuestDb, "not a macro");
    bad("SELECT ts FROM trades WHERE symbol = '$sym'", Lang::QuestDb, "undefined variable `$sym`");
    bad("SELECT ts FROM trades WHERE symbol = 'x", Lang::QuestDb, "unterminated string");
}

#[test]
fn promql_checker_accepts_contract_metrics_and_rejects_the_rest() {
    let v = vars(&["job"]);
    for ok in [
        r#"sum by (job) (rate(tickflow_trades_in_total{job=~"$job"}[$__rate_interval]))"#,
        r#"histogram_quantile(0.99, sum by (le) (rate(tickflow_questdb_flush_seconds_bucket[5m])))"#,
        r#"sum by (topic) (tickflow_kafka_consumer_lag)"#,
        r#"min(tickflow_watermark_seconds) * 1000"#,
        r#"sum(increase(tickflow_questdb_rows_total{table="bars"}[$__range]))"#,
    ] {
        assert_eq!(check_promql(ok, &v), Vec::<String>::new(), "{ok}");
    }
    let bad = |expr: &str, want: &str| {
        let errs = check_promql(expr, &v);
        assert!(errs.iter().any(|e| e.contains(want)), "{expr:?}: missing {want:?} in {errs:?}");
    };
    bad("", "empty");
    bad("rate(tickflow_trades_total[5m])", "metric `tickflow_trades_total` is not in the contract");
    bad("up", "metric `up` is not in the contract");
    bad("sum by (table) (tickflow_bars_total)", "label `table`");
    bad(r#"tickflow_up{topic="x"}"#, "label `topic`");
    bad("histogram_quantile(0.9, rate(tickflow_questdb_flush_seconds[5m]))", "not in the contract");
    bad("rat(tickflow_bars_total[5m])", "unknown PromQL function `rat`");
    bad(r#"tickflow_up{job=~"$jobs"}"#, "undefined variable `$jobs`");
    assert_eq!(check_prom_variable_query("label_values(tickflow_kafka_consumer_lag, topic)", &v), Vec::<String>::new());
    assert!(!check_prom_variable_query("label_values(tickflow_up, topic)", &v).is_empty());
    assert!(!check_prom_variable_query("metrics(tickflow_.*)", &v).is_empty());
}

#[test]
fn macro_expansion_matches_the_questdb_plugin() {
    let vars: BTreeMap<String, VarValue> =
        [("symbol".to_string(), VarValue::Single("BTC/USDT".into())), ("run".to_string(), VarValue::Multi(vec!["a:1".into(), "b:2".into()]))]
            .into_iter()
            .collect();
    let sql = "SELECT ts FROM trades WHERE symbol = '$symbol' AND run IN (${run}) AND $__timeFilter(cast(ts as timestamp)) \
               AND ts < $__toTime SAMPLE BY $__sampleByInterval";
    assert_eq!(
        expand_sql(sql, &vars, "1m").unwrap(),
        "SELECT ts FROM trades WHERE symbol = 'BTC/USDT' AND run IN ('a:1','b:2') AND \
         cast(ts as timestamp) >= cast(1577836800000000 as timestamp) AND cast(ts as timestamp) <= cast(1893456000000000 as timestamp) \
         AND ts < cast(1893456000000000 as timestamp) SAMPLE BY 1m"
    );
    assert_eq!(expand_sql("SELECT $__fromTime", &vars, "1m").unwrap(), "SELECT cast(1577836800000000 as timestamp)");
    assert!(expand_sql("SELECT '$nope'", &vars, "1m").unwrap_err().contains("$nope"));
    assert!(expand_sql("SELECT 1 WHERE $__timeFilter(ts", &vars, "1m").is_err());
}

#[test]
fn result_column_checker() {
    let c = |v: &[(&str, ColKind)]| v.iter().map(|(n, k)| (n.to_string(), *k)).collect::<Vec<_>>();
    use ColKind::*;
    let ohlcv = c(&[("open_time", Time), ("open", Number), ("high", Number), ("low", Number), ("close", Number), ("volume", Number)]);
    assert!(check_result_columns("candlestick", &ohlcv).is_empty());
    let no_close = c(&[("open_time", Time), ("open", Number), ("high", Number), ("low", Number), ("volume", Number)]);
    assert!(check_result_columns("candlestick", &no_close)[0].contains("`close`"));
    assert!(!check_result_columns("candlestick", &c(&[("open", Number), ("high", Number), ("low", Number), ("close", Number), ("volume", Number)])).is_empty());
    assert!(!check_result_columns("timeseries", &c(&[("ts", Time), ("run", Text)])).is_empty());
    assert!(!check_result_columns("stat", &c(&[("ts", Time), ("x", Other)])).is_empty());
    assert!(check_result_columns("table", &c(&[("run", Text)])).is_empty());
}

// ------------------------------------------------------------------------------------------------ test: real QuestDB

fn col_kind(t: &postgres::types::Type) -> ColKind {
    use postgres::types::Type;
    match *t {
        Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE => ColKind::Time,
        Type::INT2 | Type::INT4 | Type::INT8 | Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => ColKind::Number,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR => ColKind::Text,
        _ => ColKind::Other,
    }
}

/// A value for a variable whose query returned nothing (empty tables): the contract's example values.
fn fallback_value(name: &str) -> String {
    match name {
        "exchange" => "binance",
        "symbol" => "BTC/USDT",
        "timeframe" => "1m",
        "run" => "sma_cross:BTC/USDT:1m",
        _ => "x",
    }
    .to_string()
}

#[test]
fn dashboard_sql_runs_against_questdb() {
    let Ok(addr) = std::env::var("QDB_PG_ADDR") else {
        println!("skipped: set QDB_PG_ADDR=host:8812 to run dashboard SQL against a real QuestDB");
        eprintln!("skipped: set QDB_PG_ADDR=host:8812 to run dashboard SQL against a real QuestDB");
        return;
    };
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "8812"));
    let user = std::env::var("QDB_PG_USER").unwrap_or_else(|_| "admin".into());
    let password = std::env::var("QDB_PG_PASSWORD").unwrap_or_else(|_| "quest".into());
    let mut client = postgres::Config::new()
        .host(host)
        .port(port.parse().expect("QDB_PG_ADDR port"))
        .user(&user)
        .password(&password)
        .dbname("qdb")
        .connect(postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to QuestDB at {addr} as {user}: {e}"));
    let ds = provisioned();
    let mut errs = vec![];
    let mut ran = 0;
    for (file, d) in dashboard_files() {
        // variables in order, each from its own query (or the contract's example value when the table is empty)
        let mut values: BTreeMap<String, VarValue> = BTreeMap::new();
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or("").to_string();
            let sql_var = v["type"] == "query" && v["datasource"]["uid"].as_str().and_then(|u| ds.get(u)).and_then(|t| lang_of(t)) == Some(Lang::QuestDb);
            if !sql_var {
                continue;
            }
            let q = v["query"].as_str().or_else(|| v["query"]["rawSql"].as_str()).unwrap_or("");
            let mut value = fallback_value(&name);
            match expand_sql(q, &values, "1m").map_err(|e| e.to_string()).and_then(|sql| client.query(sql.as_str(), &[]).map_err(|e| format!("{e:?}"))) {
                Ok(rows) => {
                    ran += 1;
                    if let Some(Ok(Some(s))) = rows.first().map(|r| r.try_get::<_, Option<String>>(0)) {
                        value = s;
                    }
                }
                Err(e) => errs.push(format!("{file}: variable `{name}`: {e}\n  {q}")),
            }
            values.insert(name, if v["multi"] == true { VarValue::Multi(vec![value]) } else { VarValue::Single(value) });
        }
        for p in all_panels(&d) {
            let title = p["title"].as_str().unwrap_or("?");
            for t in p["targets"].as_array().into_iter().flatten() {
                let r = t.get("datasource").or(p.get("datasource")).cloned().unwrap_or(Value::Null);
                if resolve_datasource(&r, &ds).ok().and_then(|ty| lang_of(&ty)) != Some(Lang::QuestDb) {
                    continue;
                }
                let raw = t["rawSql"].as_str().unwrap_or("");
                let sql = match expand_sql(raw, &values, "1m") {
                    Ok(s) => s,
                    Err(e) => {
                        errs.push(format!("{file}: panel `{title}`: {e}"));
                        continue;
                    }
                };
                let result = client.prepare(&sql).and_then(|stmt| client.query(&stmt, &[]).map(|rows| (stmt, rows.len())));
                match result {
                    Ok((stmt, rows)) => {
                        ran += 1;
                        let cols: Vec<(String, ColKind)> = stmt.columns().iter().map(|c| (c.name().to_string(), col_kind(c.type_()))).collect();
                        println!("{file}: `{title}`: {rows} rows, columns {cols:?}");
                        errs.extend(check_result_columns(p["type"].as_str().unwrap_or(""), &cols).into_iter().map(|e| format!("{file}: panel `{title}`: {e}")));
                    }
                    Err(e) => errs.push(format!("{file}: panel `{title}`: {e:?}\n  {sql}\n  (tables missing? run `tickflow questdb init` first)")),
                }
            }
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
    assert!(ran > 0, "no dashboard SQL was run");
}
