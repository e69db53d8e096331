//! [`EngineState`]: the bar engine's state as plain data, for checkpoints (pure core).
//!
//! A snapshot holds, per instrument, the seen trade ids (the de-duplication window) and per
//! timeframe the open accumulators, the finalized bars still reachable by late trades (with
//! their accumulators and revision numbers) and the last close (for carry). Everything else the
//! engine keeps (pending window ends, lookup caches, prune marks) is derived from these on
//! [`BarEngine::restore`]. Instruments are listed in `(exchange, symbol)` order, so equal
//! engines give byte-equal snapshots.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tickflow_model::{Bar, Decimal, Instrument, Timeframe};

use super::accum::BarAccum;
use super::dedup::IdSet;
use super::engine::{BarEngine, InstState};
use super::windows::{Closed, TfState};
use crate::OperatorError;

/// The whole engine (one worker's instruments).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineState {
    /// Per instrument, in `(exchange, symbol)` order.
    pub instruments: Vec<InstrumentState>,
}

/// One instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentState {
    /// The instrument.
    pub instrument: Instrument,
    /// Trade ids seen within the retention.
    pub ids: IdSet,
    /// Per timeframe, in the engine's (ascending) order.
    pub timeframes: Vec<TimeframeState>,
}

/// One timeframe of one instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeframeState {
    /// The timeframe.
    pub timeframe: Timeframe,
    /// Open windows: (open time ns, accumulator), ascending.
    pub open: Vec<(i64, BarAccum)>,
    /// Finalized bars kept for revisions, ascending by open time.
    pub closed: Vec<ClosedBar>,
    /// Open time and close of the latest emitted bar.
    pub last: Option<(i64, Decimal)>,
}

/// A finalized bar kept for revisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedBar {
    /// Its accumulator (`None` for a carried bar).
    pub acc: Option<BarAccum>,
    /// The bar as last emitted (with its revision number).
    pub bar: Bar,
}

impl BarEngine {
    /// The engine's state as plain data (see the module documentation).
    pub fn snapshot(&self) -> EngineState {
        let mut instruments: Vec<InstrumentState> = self
            .insts
            .iter()
            .map(|st| InstrumentState {
                instrument: st.instrument,
                ids: st.ids.clone(),
                timeframes: st
                    .tfs
                    .iter()
                    .map(|t| TimeframeState {
                        timeframe: t.tf,
                        open: t.open.iter().copied().collect(),
                        closed: t.closed.values().map(|c| ClosedBar { acc: c.acc, bar: c.bar }).collect(),
                        last: t.last,
                    })
                    .collect(),
            })
            .collect();
        // released instruments keep only their carry state
        instruments.extend(self.released.values().map(|(inst, lasts)| {
            InstrumentState {
                instrument: *inst,
                ids: IdSet::default(),
                timeframes: self
                    .tfs
                    .iter()
                    .zip(lasts.iter())
                    .map(|(tf, last)| TimeframeState { timeframe: *tf, open: Vec::new(), closed: Vec::new(), last: *last })
                    .collect(),
            }
        }));
        instruments.sort_by_key(|i| i.instrument);
        EngineState { instruments }
    }

    /// Adds the instruments of `state` for which `keep` is true (those this worker owns) to an
    /// engine that has not seen them. Refused when the snapshot was taken with other timeframes
    /// or holds an instrument twice.
    pub fn restore(&mut self, state: &EngineState, keep: impl Fn(&Instrument) -> bool) -> Result<usize, OperatorError> {
        let mut restored = 0;
        for inst in state.instruments.iter().filter(|i| keep(&i.instrument)) {
            let tfs: Vec<Timeframe> = inst.timeframes.iter().map(|t| t.timeframe).collect();
            if tfs != self.tfs {
                let show = |v: &[Timeframe]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",");
                return Err(OperatorError::invalid_config(
                    "timeframes",
                    format!("the checkpoint was taken with timeframes {} and this run has {}", show(&tfs), show(&self.tfs)),
                ));
            }
            if self.has_instrument(&inst.instrument) {
                return Err(OperatorError::invalid_config("checkpoint", format!("instrument {} is in the checkpoint twice", inst.instrument)));
            }
            let tf_states = inst
                .timeframes
                .iter()
                .enumerate()
                .map(|(k, t)| TfState {
                    tf: t.timeframe,
                    rollup: self.is_rollup(k),
                    open: t.open.iter().copied().collect::<VecDeque<_>>(),
                    closed: t.closed.iter().map(|c| (c.bar.open_time.0, Box::new(Closed { acc: c.acc, bar: c.bar }))).collect::<BTreeMap<_, _>>(),
                    last: t.last,
                    cur: (0, 0),
                })
                .collect();
            let ii = self.add_instrument(InstState { instrument: inst.instrument, ids: inst.ids.clone(), tfs: tf_states });
            let mut ends = Vec::new();
            for k in 0..self.tfs.len() {
                let tfn = self.insts[ii].tfs[k].tf.nanos();
                let opens: Vec<i64> = self.insts[ii].tfs[k].open.iter().map(|(o, _)| *o).collect();
                for o in opens {
                    Self::add_pending(&mut self.pending, &mut self.pending_ends, o + tfn, k, ii, &mut ends);
                }
            }
            restored += 1;
        }
        Ok(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AggregateConfig, BarEngine, FillPolicy, LatePolicy, Out};
    use tickflow_model::{parse_timeframes, Decimal, Instrument, Side, Trade, Ts};

    fn trade(sym: &str, ts_ms: i64, id: u64, px: i64, qty: i64) -> Trade {
        Trade {
            instrument: Instrument::new("x", sym).unwrap(),
            trade_id: Some(id),
            ts: Ts::from_millis(ts_ms),
            ingest_ts: Ts(0),
            price: Decimal::from_int(px),
            amount: Decimal::from_int(qty),
            side: if id.is_multiple_of(3) { Side::Sell } else { Side::Buy },
        }
    }

    fn cfg() -> AggregateConfig {
        let mut c = AggregateConfig::new(parse_timeframes("1m,5m,7m").unwrap());
        c.fill = FillPolicy::Carry;
        c.late = LatePolicy::Revise;
        c.allowed_lateness = 600_000_000_000;
        c
    }

    /// A seeded tape over two instruments with gaps (carry), duplicates and late trades, fed as
    /// the operator does: on-time trades, then finalization and late trades at watermarks.
    fn drive(e: &mut BarEngine, tape: &[(Trade, Option<i64>)], out: &mut Out) {
        let mut ends = Vec::new();
        for (t, late_wm) in tape {
            match late_wm {
                None => {
                    e.on_time(t, &mut ends);
                }
                Some(wm) => {
                    e.finalize_until(*wm, out);
                    e.late(t, *wm, out, &mut ends);
                }
            }
            ends.clear();
        }
    }

    fn tape(seed: u64, n: usize) -> Vec<(Trade, Option<i64>)> {
        let mut x = seed;
        let mut ts = 1_000i64;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ts += (x % 40_000) as i64 + if x.is_multiple_of(97) { 900_000 } else { 0 };
                let sym = if x.is_multiple_of(3) { "ETH/USDT" } else { "BTC/USDT" };
                let id = if x.is_multiple_of(29) { i as u64 } else { i as u64 + 1 }; // some duplicates
                let late = x.is_multiple_of(23).then_some(ts + 200_000_000_000);
                let t = trade(sym, if late.is_some() { ts - 150_000 } else { ts }, id, 100 + (x % 50) as i64, 1 + (x % 7) as i64);
                (t, late)
            })
            .collect()
    }

    #[test]
    fn a_restored_engine_continues_exactly_like_the_original() {
        for seed in [3u64, 17, 99, 12345] {
            let t = tape(seed, 600);
            for cut in [1usize, 150, 301, 599] {
                // uninterrupted
                let mut whole = BarEngine::new(cfg()).unwrap();
                let mut a = Out::new();
                drive(&mut whole, &t, &mut a);
                whole.finalize_until(i64::MAX, &mut a);
                // snapshot at the cut → bytes → a new engine → the rest
                let mut first = BarEngine::new(cfg()).unwrap();
                let mut b = Out::new();
                drive(&mut first, &t[..cut], &mut b);
                let state = first.snapshot();
                let bytes = serde_json::to_vec(&state).unwrap();
                let back: super::EngineState = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(back, state, "state → bytes → state");
                let mut second = BarEngine::new(cfg()).unwrap();
                assert_eq!(second.restore(&back, |_| true).unwrap(), state.instruments.len());
                assert_eq!(second.snapshot(), state, "restore → snapshot is the identity");
                drive(&mut second, &t[cut..], &mut b);
                second.finalize_until(i64::MAX, &mut b);
                // within one emission time the order is not part of the contract (sinks sort)
                let sorted = |o: &Out| {
                    let mut v: Vec<String> = o.iter().map(|(t, e)| format!("{t:020} {e:?}")).collect();
                    v.sort();
                    v
                };
                assert_eq!(sorted(&b), sorted(&a), "seed {seed}, cut {cut}");
                assert!(a.len() > 20);
            }
        }
    }

    #[test]
    fn restore_refuses_other_timeframes_and_splits_by_owner() {
        let mut e = BarEngine::new(cfg()).unwrap();
        let mut out = Out::new();
        drive(&mut e, &tape(5, 200), &mut out);
        let state = e.snapshot();
        assert_eq!(state.instruments.len(), 2);
        let mut other = BarEngine::new(AggregateConfig::new(parse_timeframes("1m,5m").unwrap())).unwrap();
        let err = other.restore(&state, |_| true).unwrap_err().to_string();
        assert!(err.contains("1m,5m,7m") && err.contains("1m,5m"), "{err}");
        let btc = |i: &Instrument| i.symbol() == "BTC/USDT";
        let (mut w0, mut w1) = (BarEngine::new(cfg()).unwrap(), BarEngine::new(cfg()).unwrap());
        assert_eq!(w0.restore(&state, btc).unwrap(), 1);
        assert_eq!(w1.restore(&state, |i| !btc(i)).unwrap(), 1);
        let mut both = w0.snapshot().instruments;
        both.extend(w1.snapshot().instruments);
        both.sort_by_key(|i| i.instrument);
        assert_eq!(both, state.instruments, "the split halves add up to the whole");
        assert!(w0.restore(&state, btc).is_err(), "an instrument restored twice is refused");
    }
}
