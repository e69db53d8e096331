//! The columnar hot path: [`BarEngine::on_time_batch`] folds a batch of one instrument.

use tickflow_model::{Trade, TradeBatch, TradeKey, Ts};

use super::accum::RunSums;
use super::engine::BarEngine;

impl BarEngine {
    /// Folds a batch (one instrument) that arrived at message time `t`: trades with event time
    /// ≥ `t` are on time and folded in; the others are handed to `late` (the shell stashes them
    /// until the frontier passes `t`).
    ///
    /// Two passes: classify every trade (late / duplicate / accepted), then for each timeframe
    /// fold each run of trades falling in the same window into a local accumulator that is
    /// written back once per window.
    pub fn on_time_batch(&mut self, b: &TradeBatch, t: u64, new_ends: &mut Vec<i64>, mut late: impl FnMut(Trade)) {
        let n = b.len();
        if n == 0 {
            return;
        }
        let ii = self.lookup(&b.instrument);
        let st = &mut self.insts[ii];
        let (ts_col, id_col, px_col, qty_col, side_col) = (&b.ts[..n], &b.trade_id[..n], &b.price[..n], &b.amount[..n], &b.side[..n]);
        // pass 1: classify (fast path: all on time, ids continuing the seen range)
        let sel = &mut self.scratch;
        sel.clear();
        let mut all = true;
        let mut dups = 0u64;
        let fast = ts_col.iter().all(|&ts| ts >= 0 && ts as u64 >= t) && st.ids.extend_contiguous(id_col, ts_col);
        if fast {
            sel.extend(0..n as u32);
        } else {
            for i in 0..n {
                let ts = ts_col[i];
                if ts < 0 || (ts as u64) < t {
                    late(b.get(i));
                    all = false;
                    continue;
                }
                let id = id_col[i];
                if id != u64::MAX && !st.ids.insert(id, ts) {
                    dups += 1;
                    all = false;
                    continue;
                }
                sel.push(i as u32);
            }
        }
        // Trade keys (time, id, price, amount) strictly increase along the batch when ids ascend
        // by one (fast path) and times never decrease, or when no trade has an id and times
        // strictly increase; then a run's first trade is its open and its last its close.
        let ordered = all
            && if fast {
                ts_col.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]))
            } else {
                id_col.iter().all(|&id| id == u64::MAX) && ts_col.windows(2).fold(true, |ok, w| ok & (w[0] < w[1]))
            };
        self.counters.trades += sel.len() as u64;
        self.counters.duplicates += dups;
        if sel.is_empty() {
            return;
        }
        // pass 2: fold runs of same-window trades
        let m = sel.len();
        let idx = |j: usize| if all { j } else { sel[j] as usize };
        for (k, tfs) in st.tfs.iter_mut().enumerate() {
            if tfs.rollup {
                continue;
            }
            let tfn = tfs.tf.nanos();
            let mut j = 0;
            while j < m {
                let i = idx(j);
                let ts = ts_col[i];
                let open = if ts >= tfs.cur.0 && ts < tfs.cur.1 {
                    tfs.cur.0
                } else {
                    let o = tfs.tf.open_of(Ts(ts)).0;
                    tfs.cur = (o, o + tfn);
                    o
                };
                let end = open + tfn;
                let key = |i: usize| TradeKey { ts: ts_col[i], id: id_col[i], price: px_col[i].mantissa(), amount: qty_col[i].mantissa() };
                let (slot, new) = tfs.slot(open, key(i), px_col[i], qty_col[i], side_col[i]);
                if new {
                    Self::add_pending(&mut self.pending, &mut self.pending_ends, end, k, ii, new_ends);
                }
                let mut acc = tfs.open[slot].1;
                if !new {
                    acc.add_parts(key(i), px_col[i], qty_col[i], side_col[i]);
                }
                j += 1;
                // the rest of the run: fold into wrapping locals with an overflow flag, merge
                // once; on any overflow, redo the run on the saturating path (never in practice)
                let run_start = j;
                let mut run = RunSums::default();
                while j < m {
                    let i = idx(j);
                    let ts = ts_col[i];
                    if ts < open || ts >= end {
                        break;
                    }
                    let (p, q) = (px_col[i].mantissa(), qty_col[i].mantissa());
                    if !ordered {
                        run.see_key(key(i));
                    }
                    run.add(p, q, side_col[i]);
                    j += 1;
                }
                if ordered && j > run_start {
                    run.set_keys(key(idx(run_start)), key(idx(j - 1)));
                }
                if j > run_start && acc.merge_run(&run).is_err() {
                    for jj in run_start..j {
                        let i = idx(jj);
                        acc.add_parts(key(i), px_col[i], qty_col[i], side_col[i]);
                    }
                }
                tfs.open[slot].1 = acc;
            }
        }
    }
}
