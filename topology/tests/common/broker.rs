//! A real Kafka-API broker for tests: `KAFKA_BROKERS` (e.g. a Redpanda) when set, else a
//! `nisshi` broker (memory storage) started on 127.0.0.1 for the test. `.ci/run` installs
//! nisshi and sets `TICKFLOW_REQUIRE_BROKER=1`, so CI fails rather than skips without one.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker (stopped on drop when the test started it).
pub struct Broker {
    pub addr: String,
    child: Option<Child>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn nisshi_binary() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("TICKFLOW_NISSHI") {
        return Some(p.into());
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| std::path::Path::new(d).join("nisshi"))
        .chain([std::path::Path::new(&home).join(".cargo/bin/nisshi")])
        .collect::<Vec<_>>();
    candidates.into_iter().find(|p| p.is_file())
}

/// The broker to test against, or `None` (test skipped) when there is none and none is required.
pub fn broker() -> Option<Broker> {
    if let Ok(b) = std::env::var("KAFKA_BROKERS") {
        return Some(Broker { addr: b, child: None });
    }
    let Some(bin) = nisshi_binary() else {
        assert!(std::env::var("TICKFLOW_REQUIRE_BROKER").is_err(), "TICKFLOW_REQUIRE_BROKER is set but neither KAFKA_BROKERS nor a nisshi binary is available");
        eprintln!("SKIPPED: no Kafka-API broker (set KAFKA_BROKERS=host:port for Redpanda, or install nisshi: see .ci/run)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(bin)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://nisshi/",
            "--group-initial-rebalance-delay",
            "0s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nisshi");
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "nisshi did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Broker { addr, child: Some(child) })
}
