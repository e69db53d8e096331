//! Live paths of the binary against a local WebSocket server replaying Binance's recorded
//! aggregate trades (freqtrade's XRP/ETH recording).

mod common;

use common::{tickflow_ok, ws_server};

#[test]
fn stream_and_live_aggregate() {
    let ws = ws_server(3000);
    let dir = tempfile::tempdir().unwrap();
    // stream: every trade, once, in order
    let out = dir.path().join("live.csv");
    // the same live feed flags for both commands
    let feed = ["--source", "binance", "--symbols", "XRP/ETH", "--ws-url", &ws, "--rest-url", "http://127.0.0.1:9", "--max-trades", "3000"];
    tickflow_ok(&[&["stream"][..], &feed, &["-o", out.to_str().unwrap()]].concat());
    let text = std::fs::read_to_string(&out).unwrap();
    let ids: Vec<u64> = text.lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse().unwrap()).collect();
    assert_eq!(ids.len(), 3000);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    // live bars equal the bars of the same trades read from the streamed file
    let live_bars = dir.path().join("live_bars.csv");
    tickflow_ok(
        &[&["aggregate"][..], &feed, &["--idle-timeout", "1h", "--timeframes", "1m,5m", "--out", live_bars.to_str().unwrap(), "--no-progress"]].concat(),
    );
    let file_bars = dir.path().join("file_bars.csv");
    tickflow_ok(&["aggregate", "-i", out.to_str().unwrap(), "--timeframes", "1m,5m", "--out", file_bars.to_str().unwrap(), "--no-progress"]);
    let live = common::read_bars(&live_bars);
    let file = common::read_bars(&file_bars);
    assert!(live.len() > 50);
    assert_eq!(live, file, "live aggregation equals file aggregation of the same trades");
}
