//! `aggregate --bars`: information-driven and Heikin-Ashi bars beside the time bars, checked
//! against an independent pass over the tape (tick bars: every 1,000 trades; volume bars: the
//! running volume cut every V units, a crossing trade split), byte-identical for 1, 2 and 4
//! workers. (Replays of a topic at paced and maximum speed: `kafka_mock.rs`.)

mod common;

use common::{freqtrade_csv, tickflow_fails, tickflow_ok};

/// A decimal as a mantissa of 9 places (the tape's and tickflow's numbers are exact).
fn m(s: &str) -> i128 {
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    let f = format!("{f:0<9}");
    let neg = i.starts_with('-');
    let v = i.trim_start_matches('-').parse::<i128>().unwrap() * 1_000_000_000 + f[..9].parse::<i128>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}

struct T {
    ts: i64,
    id: u64,
    price: String,
    amount: i128,
}

fn tape(path: &std::path::Path) -> Vec<T> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<T> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            T { ts: f[0].parse().unwrap(), id: f[1].parse().unwrap(), price: f[3].to_string(), amount: m(f[4]) }
        })
        .collect();
    v.sort_by_key(|t| (t.ts, t.id));
    v
}

/// `(open_time ms, open, high, low, close, volume mantissa, trades, first id, last id)`.
type Want = (i64, i128, i128, i128, i128, i128, u64, u64, u64);

fn row_of(line: &str) -> (String, Want) {
    let f: Vec<&str> = line.split(',').collect();
    // symbol,timeframe,open_time,open,high,low,close,volume,trades,exchange,close_time,quote_volume,vwap,buy_volume,sell_volume,first_trade_id,last_trade_id,revision
    (
        f[1].to_string(),
        (f[2].parse().unwrap(), m(f[3]), m(f[4]), m(f[5]), m(f[6]), m(f[7]), f[8].parse().unwrap(), f[15].parse().unwrap(), f[16].parse().unwrap()),
    )
}

fn fold(pieces: &[(&T, i128)]) -> Want {
    let p = |t: &T| m(&t.price);
    (
        pieces[0].0.ts,
        p(pieces[0].0),
        pieces.iter().map(|(t, _)| p(t)).max().unwrap(),
        pieces.iter().map(|(t, _)| p(t)).min().unwrap(),
        p(pieces.last().unwrap().0),
        pieces.iter().map(|(_, a)| a).sum(),
        pieces.len() as u64,
        pieces[0].0.id,
        pieces.last().unwrap().0.id,
    )
}

#[test]
fn tick_volume_and_heikin_ashi_bars_equal_an_independent_pass_and_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let csv = freqtrade_csv(dir.path());
    let kinds = "tick:1000,volume:50000,dollar:100,tib:200,vrb:200,renko:0.00001,heikinashi";
    let mut outs = Vec::new();
    for w in ["1", "2", "4"] {
        let o = dir.path().join(format!("bars-{w}.csv"));
        let args = [
            "aggregate",
            "-i",
            csv.to_str().unwrap(),
            "--symbol",
            "XRP/ETH",
            "--exchange",
            "binance",
            "--timeframes",
            "1h",
            "--bars",
            kinds,
            "-w",
            w,
            "--no-progress",
            "--out",
            o.to_str().unwrap(),
        ];
        let stdout = tickflow_ok(&args);
        assert!(stdout.contains("bars tick:1000") && stdout.contains("bars heikinashi:1h"), "{stdout}");
        outs.push(std::fs::read_to_string(&o).unwrap());
    }
    assert_eq!(outs[0], outs[1], "1 vs 2 workers");
    assert_eq!(outs[0], outs[2], "1 vs 4 workers");
    let rows: Vec<(String, Want)> = outs[0].lines().skip(1).map(row_of).collect();
    let series = |s: &str| rows.iter().filter(|r| r.0 == s).map(|r| r.1).collect::<Vec<_>>();
    for s in ["1h", "tick:1000", "volume:50000", "value:100", "tib:200:20", "vrb:200:20", "renko:0.00001", "heikinashi:1h"] {
        assert!(!series(s).is_empty(), "no {s} bars");
    }

    let trades = tape(&csv);
    assert_eq!(trades.len(), 12_477);
    // tick bars: whole chunks of 1,000 trades in (time, id) order; the 477 left are no bar
    let want: Vec<Want> = trades.chunks(1000).filter(|c| c.len() == 1000).map(|c| fold(&c.iter().map(|t| (t, t.amount)).collect::<Vec<_>>())).collect();
    assert_eq!(series("tick:1000"), want);
    assert_eq!(want.len(), 12);

    // volume bars: cut the running volume every V; a trade over a cut is split into pieces
    let v = m("50000");
    let mut bars: Vec<Vec<(&T, i128)>> = vec![Vec::new()];
    let mut filled = 0i128;
    for t in &trades {
        let mut left = t.amount;
        while left > 0 {
            let part = left.min(v - filled);
            bars.last_mut().unwrap().push((t, part));
            filled += part;
            left -= part;
            if filled == v {
                bars.push(Vec::new());
                filled = 0;
            }
        }
    }
    bars.pop(); // the open bar (never full)
    let want: Vec<Want> = bars.iter().map(|b| fold(b)).collect();
    let got = series("volume:50000");
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    assert!(got.iter().all(|b| b.5 == v), "every volume bar holds exactly V");

    // Heikin-Ashi: close = (O + H + L + C) / 4 of the hour's bar; open = the previous HA bar's
    // (open + close) / 2 (truncated to 9 places)
    let hours = series("1h");
    let ha = series("heikinashi:1h");
    assert_eq!(ha.len(), hours.len());
    let mut prev: Option<(i128, i128)> = None;
    for (h, a) in hours.iter().zip(&ha) {
        let close = (h.1 + h.2 + h.3 + h.4) / 4;
        let open = prev.map_or((h.1 + h.4) / 2, |(o, c)| (o + c) / 2);
        assert_eq!((a.0, a.1, a.4, a.5, a.6), (h.0, open, close, h.5, h.6));
        assert_eq!((a.2, a.3), (h.2.max(open).max(close), h.3.min(open).min(close)));
        prev = Some((open, close));
    }

    // indicators over an information-driven series: `--timeframe` selects it by its label, one
    // row per bar, the SMA of its closes
    let ind = dir.path().join("sma.csv");
    let bars_file = dir.path().join("bars-1.csv");
    let args = [
        "indicator",
        "--bars",
        bars_file.to_str().unwrap(),
        "--symbol",
        "XRP/ETH",
        "--timeframe",
        "volume:50000",
        "--name",
        "sma",
        "--param",
        "period=3",
        "--out",
        ind.to_str().unwrap(),
    ];
    tickflow_ok(&args);
    let text = std::fs::read_to_string(&ind).unwrap();
    let got: Vec<(i64, Option<f64>)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let (t, v) = l.split_once(',').unwrap();
            (t.parse().unwrap(), if v.is_empty() { None } else { Some(v.parse().unwrap()) })
        })
        .collect();
    let vol = series("volume:50000");
    assert_eq!(got.len(), vol.len(), "one row per volume bar (several bars open on one trade's millisecond)");
    for (i, ((t, v), b)) in got.iter().zip(&vol).enumerate() {
        assert_eq!(*t, b.0);
        let close = |j: usize| vol[j].4 as f64 / 1e9;
        match v {
            None => assert!(i < 2),
            Some(v) => {
                let want = (close(i - 2) + close(i - 1) + close(i)) / 3.0;
                assert!((v - want).abs() <= want * 1e-12, "bar {i}: {v} vs {want}");
            }
        }
    }
    // a kind the file does not hold
    let e = tickflow_fails(&[
        "indicator",
        "--bars",
        bars_file.to_str().unwrap(),
        "--symbol",
        "XRP/ETH",
        "--timeframe",
        "tick:7",
        "--name",
        "sma",
        "--out",
        ind.to_str().unwrap(),
    ]);
    assert!(e.contains("no bars"), "{e}");
}

#[test]
fn bad_bar_kinds_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let csv = freqtrade_csv(dir.path());
    let out = dir.path().join("b.csv");
    let run = |kinds: &str| tickflow_fails(&["aggregate", "-i", csv.to_str().unwrap(), "--symbol", "XRP/ETH", "--bars", kinds, "--out", out.to_str().unwrap()]);
    for (kinds, says) in [("tick:0", "integer ≥ 1"), ("volume:-5", "> 0"), ("range:3", "unknown bar kind"), ("time", "always built"), ("tib:100:x", "span")] {
        let e = run(kinds);
        assert!(e.contains(says), "--bars {kinds}: {e}");
    }
    assert!(!out.exists(), "nothing written on a refused job");
}
