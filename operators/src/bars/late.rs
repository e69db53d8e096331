//! The late path: trades that arrive after their base window closed (counted, reported, and with
//! [`LatePolicy::Revise`] folded into revisions of the closed bars).

use tickflow_model::{Bar, LateDisposition, LateTrade, Trade, Ts};

use super::accum::BarAccum;
use super::config::{FillPolicy, LatePolicy};
use super::engine::BarEngine;
use super::output::{Emit, Out};
use super::windows::{emit_final, Closed};

impl BarEngine {
    /// Handles a trade that arrived below watermark `wm` (`ts < wm`), emitting at time `wm`.
    /// Call only after [`finalize_until`](Self::finalize_until)`(wm)`.
    pub fn late(&mut self, t: &Trade, wm: i64, out: &mut Out, new_ends: &mut Vec<i64>) {
        let ii = self.lookup(&t.instrument);
        let base = self.tfs[0];
        if base.open_of(t.ts).0 + base.nanos() > wm {
            // its bar is still open: not late at all
            self.on_time(t, new_ends);
            return;
        }
        let st = &mut self.insts[ii];
        // ids older than the retention may be pruned (or their instrument released) depending
        // on when the frontier moved: such a trade is too late whatever the ids say, and is
        // classified without them, so the outcome is a function of the input alone
        let id_horizon = wm.saturating_sub(self.cfg.allowed_lateness).saturating_sub(self.cfg.dedup_retention);
        if let Some(id) = t.trade_id.filter(|_| t.ts.0 >= id_horizon) {
            if !st.ids.insert(id, t.ts.0) {
                self.counters.duplicates += 1;
                return;
            }
        }
        self.counters.trades += 1;
        self.counters.late += 1;
        let too_late = t.ts.0 < wm.saturating_sub(self.cfg.allowed_lateness);
        let disposition = if too_late {
            self.counters.too_late += 1;
            LateDisposition::TooLate
        } else if self.cfg.late == LatePolicy::Drop {
            LateDisposition::Dropped
        } else {
            LateDisposition::Revised
        };
        if disposition == LateDisposition::Revised {
            let inst = st.instrument;
            for k in 0..st.tfs.len() {
                let tfs = &mut st.tfs[k];
                let tfn = tfs.tf.nanos();
                let open = tfs.tf.open_of(t.ts).0;
                if open + tfn > wm {
                    if tfs.add(open, t) {
                        Self::add_pending(&mut self.pending, &mut self.pending_ends, open + tfn, k, ii, new_ends);
                    }
                    continue;
                }
                match tfs.closed.get_mut(&open) {
                    Some(c) => {
                        let acc = match &mut c.acc {
                            Some(a) => {
                                a.add(t);
                                *a
                            }
                            None => BarAccum::from_trade(t),
                        };
                        let old_close = c.bar.close;
                        let mut nb = acc.to_bar(inst, tfs.tf, Ts(open));
                        nb.revision = c.bar.revision + 1;
                        **c = Closed { acc: Some(acc), bar: nb };
                        out.push((wm, Emit::Bar(nb)));
                        self.counters.revisions += 1;
                        if nb.close != old_close {
                            // carried bars after it carry the new close
                            for (_, c2) in tfs.closed.range_mut(open + tfn..) {
                                if c2.acc.is_some() {
                                    break;
                                }
                                let mut cb = Bar::carried(inst, tfs.tf, c2.bar.open_time, nb.close);
                                cb.revision = c2.bar.revision + 1;
                                c2.bar = cb;
                                out.push((wm, Emit::Bar(cb)));
                                self.counters.revisions += 1;
                            }
                            if let Some((lo, _)) = tfs.last {
                                let follows_carry = tfs.closed.range(open..=lo).all(|(o, c)| *o == open || c.acc.is_none());
                                if follows_carry {
                                    tfs.last = Some((lo, nb.close));
                                }
                            }
                        }
                    }
                    None => {
                        let acc = BarAccum::from_trade(t);
                        let bar = acc.to_bar(inst, tfs.tf, Ts(open));
                        let before_last = tfs.last.is_some_and(|(lo, _)| open < lo);
                        emit_final(tfs, &self.cfg, inst, open, Some(acc), bar, wm, out, &mut self.counters);
                        if before_last && self.cfg.fill == FillPolicy::Carry {
                            // windows between this new bar and the next emitted one are now carried
                            let mut o = open + tfn;
                            while !tfs.closed.contains_key(&o) && tfs.last.is_some_and(|(lo, _)| o < lo) {
                                let cb = Bar::carried(inst, tfs.tf, Ts(o), bar.close);
                                tfs.closed.insert(o, Box::new(Closed { acc: None, bar: cb }));
                                out.push((wm, Emit::Bar(cb)));
                                self.counters.bars += 1;
                                self.counters.carried += 1;
                                o += tfn;
                            }
                        }
                    }
                }
            }
        }
        out.push((wm, Emit::Late(LateTrade { trade: *t, watermark: Ts(wm), disposition })));
    }
}
