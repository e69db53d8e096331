//! `/metrics`, `/healthz` and `/readyz` of a long-running `tickflow` (a live source replaying
//! recorded Binance trades, writing to a QuestDB stand-in), checked directly, with `promtool`,
//! and scraped by a real Prometheus (Debian's `prometheus`; `.ci/run` installs it).

mod common;
#[path = "../../connectors/tests/support/qdb_server.rs"]
mod qdb_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ws_server;
use qdb_server::QdbServer;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` → (status, body); `None` when nothing listens yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

/// The value of an unlabelled (or exactly labelled) sample.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_running_topology_serves_metrics_health_and_readiness_and_prometheus_scrapes_it() {
    let ws = ws_server(3000);
    let qdb = QdbServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = dir.path().join("bars.csv");
    let child = Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(["aggregate", "--source", "binance", "--symbols", "XRP/ETH", "--ws-url", &ws, "--rest-url", "http://127.0.0.1:9", "--idle-timeout", "1h"])
        .args(["--timeframes", "1m", "--out", out.to_str().unwrap(), "--no-progress", "--questdb", "--questdb-conf", &qdb.conf("")])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "--log-json"])
        .env("TICKFLOW_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = KillOnDrop(child);
    let (status, body) = wait_for("/healthz", Duration::from_secs(30), || get(port, "/healthz"));
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    wait_for("/readyz = 200", Duration::from_secs(30), || get(port, "/readyz").filter(|(s, _)| *s == 200));
    assert_eq!(get(port, "/nope").unwrap().0, 404);
    // every recorded trade read, written to QuestDB (interval flush) and counted
    let text = wait_for("3000 trades in QuestDB", Duration::from_secs(60), || {
        let (_, t) = get(port, "/metrics")?;
        (sample(&t, "tickflow_trades_in_total")? >= 3000.0 && sample(&t, "tickflow_questdb_rows_total{table=\"trades\"}")? >= 3000.0).then_some(t)
    });
    assert_eq!(qdb.rows("trades").len(), 3000, "the stand-in holds what the metric says");
    assert!(sample(&text, "tickflow_questdb_flush_seconds_count").unwrap() >= 1.0);
    assert!(sample(&text, "tickflow_watermark_seconds").unwrap() > 1.5e9, "an event-time watermark (2019 trades)");
    assert!(sample(&text, "tickflow_watermark_lag_seconds").unwrap() > 0.0);
    assert_eq!(sample(&text, "tickflow_up"), Some(1.0));

    // the exposition format as Prometheus' own checker sees it
    match Command::new("promtool").arg("check").arg("metrics").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(mut p) => {
            p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let o = p.wait_with_output().unwrap();
            let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            // promtool exits 1 for lint warnings too; only format errors matter here
            assert!(!said.contains("error while linting") && !said.contains("text format parsing error"), "{said}");
        }
        Err(_) => require_prometheus("promtool"),
    }

    scrape_with_prometheus(dir.path(), port);

    // SIGTERM: the sources stop, the dataflow drains, every sink flushes, exit 0
    let mut child = _child;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = wait_for("exit after SIGTERM", Duration::from_secs(30), || child.0.try_wait().unwrap());
    assert!(status.success(), "{status:?}");
    let file_bars = common::read_bars(&out);
    assert!(!file_bars.is_empty(), "the bar file was flushed");
    let keys: std::collections::BTreeSet<(i64, String, String)> = file_bars.iter().map(|b| (b.open_time, b.symbol.clone(), b.timeframe.clone())).collect();
    assert_eq!(qdb.rows("bars").len(), keys.len(), "every bar of the file reached QuestDB before exit");
}

fn scrape_with_prometheus(dir: &std::path::Path, port: u16) {
    let prom_port = free_port();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tickflow\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    )
    .unwrap();
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(prom) = prom else {
        return require_prometheus("prometheus");
    };
    let _prom = KillOnDrop(prom);
    let v = wait_for("Prometheus to have scraped tickflow", Duration::from_secs(90), || {
        let (s, body) = get(prom_port, "/api/v1/query?query=tickflow_trades_in_total")?;
        if s != 200 {
            return None;
        }
        let j: serde_json::Value = serde_json::from_str(&body).ok()?;
        let r = j["data"]["result"].get(0)?; // empty until the first scrape
        assert_eq!(r["metric"]["job"], "tickflow");
        r["value"][1].as_str()?.parse::<f64>().ok()
    });
    assert!(v >= 3000.0, "Prometheus sees {v} trades");
    let (_, up) = get(prom_port, "/api/v1/query?query=up%7Bjob%3D%22tickflow%22%7D").unwrap();
    assert!(up.contains(r#""value":["#) && up.contains(r#","1"]"#), "target up: {up}");
}

fn require_prometheus(what: &str) {
    if std::env::var("TICKFLOW_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1") {
        panic!("{what} not found (apt-get install prometheus); .ci/run installs it");
    }
    eprintln!("skipped the Prometheus part: `{what}` not found (apt-get install prometheus)");
}
