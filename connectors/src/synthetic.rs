//! A seeded, synthetic trade tape (clearly labelled: exchange id `synthetic`).
//!
//! Used by `tickflow demo`, tests and benchmarks so that the main job runs with no external
//! services and no third-party data. Same seed → same tape, on every machine: only integer
//! arithmetic and a fixed PRNG (xorshift64*) are used.
//!
//! The tape is bursty: each symbol alternates between calm and burst regimes (about 20
//! trades/s on average across two symbols), prices random-walk on a tick grid, amounts have 8
//! decimals, trade ids are contiguous per symbol. Optionally a fraction of trades is delivered
//! late (held back by up to `max_delay`) and a fraction is delivered twice, as reconnecting
//! feeds do.

use tickflow_model::{Decimal, Instrument, Side, Trade, Ts, NANOS_PER_MILLI};

/// Tape parameters.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    /// PRNG seed.
    pub seed: u64,
    /// Symbols (CCXT form); exchange is `synthetic`.
    pub symbols: Vec<String>,
    /// First event time.
    pub start: Ts,
    /// Number of trades (before duplicates).
    pub trades: u64,
    /// Per-mille of trades delivered late.
    pub late_per_mille: u32,
    /// Largest delivery delay for late trades (ns).
    pub max_delay: i64,
    /// Per-mille of trades delivered twice.
    pub dup_per_mille: u32,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 7,
            symbols: vec!["BTC/USDT".into(), "ETH/USDT".into()],
            start: Ts::from_secs(1_735_689_600), // 2025-01-01T00:00:00Z
            trades: 1_000_000,
            late_per_mille: 0,
            max_delay: 0,
            dup_per_mille: 0,
        }
    }
}

struct Sym {
    inst: Instrument,
    price_ticks: i64,
    tick: i128,
    next_id: u64,
}

/// The generator; call [`SyntheticTape::next_batch`] until it returns false.
pub struct SyntheticTape {
    cfg: SyntheticConfig,
    rng: u64,
    syms: Vec<Sym>,
    now: i64,
    burst_left: u32,
    emitted: u64,
    held: std::collections::BTreeMap<(i64, u64), Trade>,
    seq: u64,
    ingest: Ts,
}

impl SyntheticTape {
    /// A tape; `ingest` is recorded as every trade's ingest time.
    pub fn new(cfg: SyntheticConfig, ingest: Ts) -> Result<Self, tickflow_model::ModelError> {
        let syms = cfg
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let inst = Instrument::new("synthetic", s)?;
                // BTC-like and ETH-like price levels, tick 0.01
                let price_ticks = if i % 2 == 0 { 9_500_000 } else { 340_000 };
                Ok(Sym { inst, price_ticks, tick: 10_000_000, next_id: 1 + 1_000_000 * i as u64 })
            })
            .collect::<Result<Vec<_>, tickflow_model::ModelError>>()?;
        let rng = cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Ok(SyntheticTape { now: cfg.start.0, cfg, rng, syms, burst_left: 0, emitted: 0, held: Default::default(), seq: 0, ingest })
    }

    #[inline]
    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Appends up to `max` trades in delivery order; false when the tape is exhausted.
    pub fn next_batch(&mut self, out: &mut Vec<Trade>, max: usize) -> bool {
        let target = out.len() + max;
        while out.len() < target {
            if self.emitted >= self.cfg.trades {
                // flush held-back trades in release order
                match self.held.pop_first() {
                    Some((_, t)) => {
                        out.push(t);
                        continue;
                    }
                    None => return false,
                }
            }
            // release held trades whose delivery time has come
            while let Some((&(release, _), _)) = self.held.first_key_value() {
                if release > self.now {
                    break;
                }
                if let Some((_, t)) = self.held.pop_first() {
                    out.push(t);
                }
            }
            let r = self.next();
            // regime: bursts of 20..200 trades ~5 ms apart, calm gaps up to ~0.26 s
            let gap_ms = if self.burst_left > 0 {
                self.burst_left -= 1;
                (r % 10) as i64
            } else {
                if r.is_multiple_of(64) {
                    self.burst_left = 20 + (r >> 8) as u32 % 180;
                }
                (r >> 16) as i64 % 260
            };
            self.now += gap_ms * NANOS_PER_MILLI + (r >> 40) as i64 % NANOS_PER_MILLI;
            let k = (r >> 24) as usize % self.syms.len();
            let r2 = self.next();
            let s = &mut self.syms[k];
            let step = (r2 % 7) as i64 - 3;
            s.price_ticks = (s.price_ticks + step).max(1);
            let amount = 1 + (r2 >> 8) % 50_000_000; // up to 0.5 in 1e-8 units
            let t = Trade {
                instrument: s.inst,
                trade_id: Some(s.next_id),
                ts: Ts(self.now),
                ingest_ts: self.ingest,
                price: Decimal::from_mantissa(s.price_ticks as i128 * s.tick),
                amount: Decimal::from_mantissa(amount as i128 * 10),
                side: if r2 >> 63 == 1 { Side::Buy } else { Side::Sell },
            };
            s.next_id += 1;
            self.emitted += 1;
            let roll = (r2 >> 32) as u32 % 1000;
            if roll < self.cfg.late_per_mille && self.cfg.max_delay > 0 {
                let delay = 1 + (r2 >> 12) as i64 % self.cfg.max_delay;
                self.seq += 1;
                self.held.insert((self.now + delay, self.seq), t);
            } else {
                out.push(t);
                if roll >= 1000 - self.cfg.dup_per_mille {
                    out.push(t);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(cfg: SyntheticConfig) -> Vec<Trade> {
        let mut g = SyntheticTape::new(cfg, Ts(0)).unwrap();
        let mut v = Vec::new();
        while g.next_batch(&mut v, 1000) {}
        v
    }

    #[test]
    fn seeded_bursty_and_about_20_per_second() {
        let cfg = SyntheticConfig { trades: 100_000, ..Default::default() };
        let a = all(cfg.clone());
        assert_eq!(a, all(cfg.clone()));
        assert_ne!(a, all(SyntheticConfig { seed: 8, ..cfg }));
        assert_eq!(a.len(), 100_000);
        let secs = (a.last().unwrap().ts.0 - a[0].ts.0) as f64 / 1e9;
        let rate = a.len() as f64 / secs;
        assert!((10.0..40.0).contains(&rate), "rate {rate}");
        assert!(a.windows(2).all(|w| w[0].ts <= w[1].ts));
        // both symbols, contiguous ids
        let btc: Vec<_> = a.iter().filter(|t| t.instrument.symbol() == "BTC/USDT").collect();
        assert!(btc.len() > 30_000 && btc.len() < 70_000);
        assert!(btc.windows(2).all(|w| w[1].trade_id.unwrap() == w[0].trade_id.unwrap() + 1));
    }

    #[test]
    fn late_and_duplicate_delivery() {
        let cfg = SyntheticConfig { trades: 20_000, late_per_mille: 10, max_delay: 30_000_000_000, dup_per_mille: 5, ..Default::default() };
        let a = all(cfg);
        assert!(a.len() > 20_000);
        let out_of_order = a.windows(2).filter(|w| w[1].ts < w[0].ts).count();
        assert!(out_of_order > 50, "{out_of_order}");
        let mut ids: Vec<_> = a.iter().map(|t| (t.instrument, t.trade_id)).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20_000);
    }
}
