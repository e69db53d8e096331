//! What a run shows on stderr while it runs: a byte progress bar for file inputs, and for topic
//! and live sources (whose length is not known) a spinner with the event-time position, the
//! watermark's lag behind it and the read rate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tickflow_operators::PipelineMetrics;

/// A byte progress bar of `total` bytes.
pub fn bytes(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// The spinner thread of a streaming run; stops when dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    /// Starts the spinner over `m`.
    pub fn start(m: Arc<PipelineMetrics>) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let pb = ProgressBar::new_spinner();
            pb.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            let t0 = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let (ev, wm, n) = (m.max_event_time.load(Ordering::Relaxed), m.watermark.load(Ordering::Relaxed), m.trades_in.load(Ordering::Relaxed));
                if ev > i64::MIN {
                    let lag = if wm > i64::MIN { format!("{:.1} s", (ev - wm) as f64 / 1e9) } else { "-".into() };
                    let rate = n as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                    pb.set_message(format!("event time {} · watermark lag {lag} · {n} trades ({:.0}/s)", tickflow_model::Ts(ev), rate));
                }
                pb.tick();
                std::thread::sleep(Duration::from_millis(200));
            }
            pb.finish_and_clear();
        });
        Ticker { stop, thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
