//! Hostile input through the whole `tickflow aggregate` pipeline (issue #14): every bad value
//! kind is an error naming `file:line` without `--skip-bad`, and with it a counted skip that
//! leaves the good trades' bars exactly as a clean run's; a seeded soak mixes them with
//! duplicate floods and 50k distinct symbols under a memory bound.

mod common;

use std::io::Write;
use std::path::Path;

use common::{tickflow, tickflow_ok};

/// One bad row of each kind, each in the tape's layout
/// (`timestamp,exchange,symbol,trade_id,price,amount,side,ingest_ts`).
fn bad_rows(ts: i64, id: u64) -> Vec<(&'static str, String)> {
    let row = |t: &str, sym: &str, px: &str, qty: &str| format!("{t},synthetic,{sym},{id},{px},{qty},buy,1796283349186118075");
    let t = ts.to_string();
    vec![
        ("year 2100", row("4102444800000000000", "BTC/USDT", "95000", "1")),
        ("before 1970", row("-5000", "BTC/USDT", "95000", "1")),
        ("price 0", row(&t, "BTC/USDT", "0", "1")),
        ("negative price", row(&t, "BTC/USDT", "-95000", "1")),
        ("zero amount", row(&t, "BTC/USDT", "1", "0")),
        ("negative amount", row(&t, "BTC/USDT", "95000", "-1")),
        ("2e10 seconds", row("20000000000", "BTC/USDT", "95000", "1")),
        ("no such day", row("2025-02-31T00:00:00Z", "BTC/USDT", "95000", "1")),
        ("no such offset", row("2025-01-01T00:00:00+99:99", "BTC/USDT", "95000", "1")),
        ("extra field", format!("{},extra", row(&t, "BTC/USDT", "95000", "1"))),
        ("600 KB decimal", row(&t, "BTC/USDT", &"9".repeat(600_000), "1")),
        ("100 KB line", format!("{}{}", row(&t, "BTC/USDT", "95000", "1"), " ".repeat(100_000))),
        ("70 KB line", format!("{}{}", row(&t, "BTC/USDT", "95000", "1"), " ".repeat(70_000))),
        ("symbol too long", row(&t, &format!("{}/USDT", "X".repeat(300)), "95000", "1")),
        ("notional past 10^15", row(&t, "BTC/USDT", "99999999999999999999999999999", "99999999999999999999999999")),
    ]
}

fn tape(dir: &Path, name: &str, trades: &str, seed: &str) -> Vec<String> {
    let p = dir.join(name);
    tickflow_ok(&["generate", "--out", p.to_str().unwrap(), "--trades", trades, "--symbols", "BTC/USDT,ETH/USDT,SOL/USDT", "--seed", seed]);
    std::fs::read_to_string(&p).unwrap().lines().map(str::to_string).collect()
}

fn write(path: &Path, lines: &[String]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn summary_count(stdout: &str, label: &str) -> u64 {
    let line = stdout.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} in {stdout}"));
    line[label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn every_bad_value_kind_is_a_line_error_or_a_counted_skip_and_bars_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let clean = tape(dir.path(), "clean.csv", "20000", "11");
    let ts: i64 = clean[1].split(',').next().unwrap().parse().unwrap();
    let bad = bad_rows(ts, 1);
    let flags = ["--timeframes", "1m,5m", "--fill", "carry", "--no-progress"];
    let clean_bars = dir.path().join("clean-bars.csv");
    let clean_path = dir.path().join("clean.csv");
    tickflow_ok(&[&["aggregate", "-i", clean_path.to_str().unwrap(), "--out", clean_bars.to_str().unwrap()][..], &flags].concat());

    // each kind alone, in the middle of the tape: a clear error naming its line, no panic,
    // nothing echoed at length
    for (kind, row) in &bad {
        let mut lines = clean.clone();
        lines.insert(5_000, row.clone());
        let p = dir.path().join("one.csv");
        write(&p, &lines);
        let out = dir.path().join("one-bars.csv");
        let r = tickflow(&[&["aggregate", "-i", p.to_str().unwrap(), "--out", out.to_str().unwrap()][..], &flags].concat());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{kind}: accepted");
        assert!(err.contains("one.csv:5001: "), "{kind}: {err}");
        assert!(!err.contains("panicked"), "{kind}: {err}");
        assert!(err.len() < 4_000, "{kind}: {} bytes of stderr", err.len());
    }

    // all kinds (but the valid one) spread through the tape, with --skip-bad: each counted once,
    // and the bars are the clean tape's, byte for byte (the 2100 row used to make every later
    // trade too late, and with carry allocate every minute up to it)
    let mut lines = clean.clone();
    let refused: Vec<&String> = bad.iter().map(|(_, r)| r).collect();
    for (i, row) in refused.iter().enumerate() {
        lines.insert(1 + (i + 1) * 1_000, (*row).clone());
    }
    let p = dir.path().join("hostile.csv");
    write(&p, &lines);
    let out = dir.path().join("hostile-bars.csv");
    let stdout = tickflow_ok(&[&["aggregate", "-i", p.to_str().unwrap(), "--out", out.to_str().unwrap(), "--skip-bad"][..], &flags].concat());
    assert_eq!(summary_count(&stdout, "bad rows skipped"), refused.len() as u64, "{stdout}");
    assert_eq!(summary_count(&stdout, "trades read"), 20_000, "{stdout}");
    assert_eq!(summary_count(&stdout, "late trades"), 0, "{stdout}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(&clean_bars).unwrap());

    // a cap on distinct instruments: rows of a fourth and fifth symbol are bad rows
    let mut lines = clean.clone();
    for (i, sym) in ["DOGE/USDT", "ADA/USDT"].iter().enumerate() {
        lines.insert(100 + i, format!("{ts},synthetic,{sym},9,1,1,buy,1796283349186118075"));
    }
    write(&p, &lines);
    let r = tickflow(&[&["aggregate", "-i", p.to_str().unwrap(), "--out", out.to_str().unwrap(), "--max-instruments", "3"][..], &flags].concat());
    assert!(String::from_utf8_lossy(&r.stderr).contains("more than 3 distinct instruments"), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout =
        tickflow_ok(&[&["aggregate", "-i", p.to_str().unwrap(), "--out", out.to_str().unwrap(), "--max-instruments", "3", "--skip-bad"][..], &flags].concat());
    assert_eq!(summary_count(&stdout, "bad rows skipped"), 2, "{stdout}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(&clean_bars).unwrap());
}

/// splitmix64: the soak's seeded choices.
fn next(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Peak resident memory (kB) of `pid` so far, from `/proc` (Linux).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// The soak: 200k clean trades of three symbols with, at seeded places, every bad value kind,
/// duplicate floods (a genuine row repeated 200 times) and 50,000 distinct one-trade symbols
/// (valid rows, kept to 1,000 instruments by `--max-instruments`). Run with `--skip-bad` and
/// `--fill carry` on 2 workers: no panic, peak RSS under 400 MB, every bad row in "bad rows
/// skipped" and every copy in "duplicates ignored" (each exactly once), and the bars of the
/// three genuine symbols equal the clean run's. The seed comes from `TICKFLOW_SOAK_SEED`.
#[test]
fn soak_a_seeded_hostile_stream_stays_bounded_counted_and_exact() {
    const RSS_BOUND_KB: u64 = 400 * 1024;
    let seed: u64 = std::env::var("TICKFLOW_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_203);
    eprintln!("soak seed {seed} (TICKFLOW_SOAK_SEED)");
    let dir = tempfile::tempdir().unwrap();
    let clean = tape(dir.path(), "clean.csv", "200000", "5");
    let mut rng = seed;
    let mut lines = vec![clean[0].clone()];
    let (mut bad, mut dups, mut flood_rows, mut flood_symbols) = (0u64, 0u64, 0u64, 0usize);
    let mut id = 50_000_000u64;
    for (i, row) in clean[1..].iter().enumerate() {
        lines.push(row.clone());
        let ts: i64 = row.split(',').next().unwrap().parse().unwrap();
        match next(&mut rng) % 1000 {
            0..=4 => {
                let kinds = bad_rows(ts, id);
                let k = (next(&mut rng) % kinds.len() as u64) as usize;
                lines.push(kinds[k].1.clone());
                bad += 1;
            }
            5 if dups < 4_000 => {
                for _ in 0..200 {
                    lines.push(row.clone());
                }
                dups += 200;
            }
            _ => {}
        }
        // 50k distinct symbols, a quarter of a trade per clean row, on time
        while flood_symbols < 50_000 && flood_symbols * 4 <= i {
            id += 1;
            lines.push(format!("{ts},synthetic,F{flood_symbols}/USDT,{id},1.5,2,sell,1796283349186118075"));
            flood_symbols += 1;
            flood_rows += 1;
        }
    }
    assert_eq!(flood_symbols, 50_000);
    let p = dir.path().join("soak.csv");
    write(&p, &lines);
    if let Ok(keep) = std::env::var("TICKFLOW_SOAK_KEEP") {
        std::fs::copy(&p, keep).unwrap();
    }
    let flags = ["--timeframes", "1m,5m", "--fill", "carry", "--no-progress", "-w", "2"];
    let clean_bars = dir.path().join("clean-bars.csv");
    let clean_path = dir.path().join("clean.csv");
    tickflow_ok(&[&["aggregate", "-i", clean_path.to_str().unwrap(), "--out", clean_bars.to_str().unwrap()][..], &flags].concat());

    let out = dir.path().join("soak-bars.csv");
    let args = [&["aggregate", "-i", p.to_str().unwrap(), "--out", out.to_str().unwrap(), "--skip-bad", "--max-instruments", "1003"][..], &flags].concat();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(&args)
        .env("TICKFLOW_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let stdout = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut o = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut o).unwrap();
            o
        });
        while !reader.is_finished() {
            peak = peak.max(peak_rss_kb(pid).unwrap_or(0));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        reader.join().unwrap()
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "seed {seed}: {stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("soak: {} rows, {bad} bad, {dups} duplicates, {flood_rows} flood rows; peak RSS {} MB", lines.len() - 1, peak / 1024);
    assert!(peak > 0 && peak < RSS_BOUND_KB, "peak RSS {peak} kB (bound {RSS_BOUND_KB} kB)");
    // each bad thing in exactly one counter: bad rows are the bad kinds plus the flood symbols
    // past the instrument cap (3 genuine + 1000 flood symbols fit)
    let over_cap = flood_rows - 1_000;
    assert_eq!(summary_count(&stdout, "bad rows skipped"), bad + over_cap, "seed {seed}: {stdout}");
    assert_eq!(summary_count(&stdout, "duplicates ignored"), dups, "seed {seed}: {stdout}");
    assert_eq!(summary_count(&stdout, "trades read"), 200_000 + dups + 1_000, "seed {seed}: {stdout}");
    assert_eq!(summary_count(&stdout, "late trades"), 0, "seed {seed}: {stdout}");
    // the genuine symbols' bars are the clean run's
    let genuine = |path: &Path| -> Vec<String> { std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.starts_with('F')).map(str::to_string).collect() };
    let (got, want) = (genuine(&out), genuine(&clean_bars));
    assert!(want.len() > 500, "{}", want.len());
    assert_eq!(got, want, "seed {seed}");
}
