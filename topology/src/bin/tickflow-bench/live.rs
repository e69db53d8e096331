//! `tickflow-bench live`: the live session engine end to end. Loopback WebSocket "venues" (one
//! thread each) send Binance `aggTrade` frames as fast as the socket takes them; the sessions
//! (tokio tasks, [`tickflow_connectors::live::run_many`]) parse, check ids and validate every
//! trade and hand it to the consumer thread through the bounded channel. Reports trades/s from
//! the first connection to the last trade, and the runtime's threads.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use tickflow_connectors::live::{run_many, LiveConfig};

/// Flags of `bench live`.
#[derive(Args)]
pub struct BenchLiveArgs {
    /// Trades in total (split over the sessions).
    #[arg(long, default_value_t = 1_000_000)]
    trades: usize,
    /// Session counts to measure (each its own venue connection).
    #[arg(long, default_value = "1,8,64")]
    sessions: String,
    /// Runs per configuration.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// A loopback venue sending `n` trades of market `S<k>/USDT` (ids from 1), then holding the
/// connection until `done`.
fn venue(k: usize, n: usize, done: Arc<AtomicBool>) -> Result<String> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("ws://{}", l.local_addr()?);
    let frames: Vec<String> = (1..=n)
        .map(|i| {
            let ms = 1_735_689_600_000u64 + i as u64;
            format!(
                r#"{{"stream":"s{k}usdt@aggTrade","data":{{"e":"aggTrade","E":{ms},"s":"S{k}USDT","a":{i},"p":"{}.{:02}","q":"0.{:08}","f":{i},"l":{i},"T":{ms},"m":{},"M":true}}}}"#,
                94_000 + i % 997,
                i % 100,
                1 + i * 7919 % 99_999_999,
                i % 2 == 0
            )
        })
        .collect();
    std::thread::spawn(move || {
        let Some(stream) = l.incoming().flatten().next() else { return };
        let Ok(mut ws) = tungstenite::accept(stream) else { return };
        for f in frames {
            if ws.write(tungstenite::Message::Text(f)).is_err() {
                return;
            }
        }
        let _ = ws.flush();
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    Ok(url)
}

fn venue_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.flatten().filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with("tickflow-venue"))).count())
        .unwrap_or(0)
}

/// Runs the benchmark.
pub fn run(a: &BenchLiveArgs) -> Result<()> {
    println!("live sessions: {} trades through the session engine (loopback WebSocket venues, Binance aggTrade frames)", a.trades);
    println!("| sessions | trades/s (runs) | runtime threads |");
    println!("|---|---|---|");
    for s in a.sessions.split(',') {
        let sessions: usize = s.trim().parse()?;
        if sessions == 0 || sessions > a.trades {
            bail!("--sessions {s}: between 1 and --trades");
        }
        let per = a.trades / sessions;
        let mut rates = Vec::new();
        let mut threads = 0;
        for _ in 0..a.repeat {
            let done = Arc::new(AtomicBool::new(false));
            let mut cfgs = Vec::new();
            for k in 0..sessions {
                let mut cfg = LiveConfig::for_venue("binance", vec![format!("S{k}/USDT")])?;
                cfg.ws_url = venue(k, per, done.clone())?;
                cfg.rest_url = "http://127.0.0.1:9".into();
                cfg.max_future = i64::MAX / 2; // the tape's times are in the past anyway
                cfgs.push(cfg);
            }
            let total = per * sessions;
            let mut n = 0usize;
            let start = Instant::now();
            run_many(
                cfgs,
                Arc::new(AtomicBool::new(false)),
                65_536,
                Duration::from_secs(1),
                |_| {
                    n += 1;
                    if n == total / 2 {
                        threads = venue_threads();
                    }
                    n < total
                },
                |_, _, _| {},
            );
            let secs = start.elapsed().as_secs_f64();
            done.store(true, Ordering::SeqCst);
            if n != total {
                bail!("{n} of {total} trades arrived");
            }
            rates.push(total as f64 / secs);
        }
        let shown: Vec<String> = rates.iter().map(|r| format!("{:.2} M", r / 1e6)).collect();
        println!("| {sessions} | {} | {threads} |", shown.join(", "));
    }
    Ok(())
}
