//! Event-time watermark of one source partition (pure core, no timely).
//!
//! `watermark = max event time seen − out_of_orderness`. A trade whose event time is below the
//! watermark *at the moment it is read* is late. Because the watermark depends only on the
//! partition's own sequence of event times, the late/on-time classification is the same on every
//! run, at every replay speed and for every worker count. Live partitions may also advance the
//! watermark from the wall clock after an idle timeout, so quiet symbols still close bars; file
//! and replay partitions never consult the clock.

/// Watermark tracker for one partition.
#[derive(Clone, Debug)]
pub struct Watermark {
    out_of_orderness: i64,
    max_seen: Option<i64>,
    wm: Option<i64>,
}

/// How a trade relates to the watermark when it was read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// At or above the watermark (or the first trade of the partition).
    OnTime,
    /// Below the watermark, which is given.
    Late(i64),
}

impl Watermark {
    /// A tracker allowing `out_of_orderness` nanoseconds of disorder.
    pub fn new(out_of_orderness: i64) -> Self {
        Watermark { out_of_orderness: out_of_orderness.max(0), max_seen: None, wm: None }
    }
    /// Classifies `ts`, then folds it into the watermark.
    #[inline]
    pub fn observe(&mut self, ts: i64) -> Arrival {
        let arrival = match self.wm {
            Some(w) if ts < w => Arrival::Late(w),
            _ => Arrival::OnTime,
        };
        if self.max_seen.is_none_or(|m| ts > m) {
            self.max_seen = Some(ts);
            let cand = ts.saturating_sub(self.out_of_orderness);
            if self.wm.is_none_or(|w| cand > w) {
                self.wm = Some(cand);
            }
        }
        arrival
    }
    /// Observes a whole batch if every trade in it is on time (then returns true and the state
    /// equals observing them one by one); otherwise returns false and leaves the state as it
    /// was. One pass with a running maximum, no per-trade branching on the result.
    #[inline]
    pub fn observe_all_on_time(&mut self, ts: &[i64]) -> bool {
        let Some(&first) = ts.first() else { return true };
        let mut max = self.max_seen.unwrap_or(first);
        let mut floor = self.wm.unwrap_or(i64::MIN);
        let mut ok = true;
        for &t in ts {
            ok &= t >= floor;
            max = max.max(t);
            floor = floor.max(max.saturating_sub(self.out_of_orderness));
        }
        if ok {
            self.max_seen = Some(max);
            self.wm = Some(floor);
        }
        ok
    }
    /// Advances the watermark to at least `ts` (idle timeout on live partitions).
    pub fn advance_to(&mut self, ts: i64) {
        if self.wm.is_none_or(|w| ts > w) {
            self.wm = Some(ts);
        }
    }
    /// A tracker continuing from a checkpointed `max_seen` and watermark.
    pub fn restored(out_of_orderness: i64, max_seen: Option<i64>, wm: Option<i64>) -> Self {
        Watermark { out_of_orderness: out_of_orderness.max(0), max_seen, wm }
    }
    /// The index of the first of `ts` whose observation would take the watermark to `bound` or
    /// beyond (observing the ones before it leaves it below).
    pub fn first_reaching(&self, ts: &[i64], bound: i64) -> Option<usize> {
        if self.wm.is_some_and(|w| w >= bound) {
            return Some(0);
        }
        let mut max = self.max_seen;
        for (i, &t) in ts.iter().enumerate() {
            if max.is_none_or(|m| t > m) {
                max = Some(t);
                if t.saturating_sub(self.out_of_orderness) >= bound {
                    return Some(i);
                }
            }
        }
        None
    }
    /// The current watermark, `None` before the first trade.
    pub fn current(&self) -> Option<i64> {
        self.wm
    }
    /// The largest event time seen.
    pub fn max_seen(&self) -> Option<i64> {
        self.max_seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_observation_equals_one_by_one() {
        let mut x: u64 = 5;
        for _ in 0..2000 {
            let mut ts = Vec::new();
            let mut t = 1000i64;
            for _ in 0..(x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += (x % 40) as i64 - 12;
                ts.push(t);
            }
            let mut a = Watermark::new(15);
            a.observe(1000 + (x % 30) as i64);
            let mut b = a.clone();
            let one_by_one = ts.iter().all(|&t| a.observe(t) == Arrival::OnTime);
            let before = b.clone();
            let batch = b.observe_all_on_time(&ts);
            assert_eq!(batch, one_by_one, "{ts:?}");
            if batch {
                assert_eq!((a.current(), a.max_seen()), (b.current(), b.max_seen()));
            } else {
                assert_eq!((before.current(), before.max_seen()), (b.current(), b.max_seen()));
            }
        }
    }

    #[test]
    fn late_is_relative_to_the_running_maximum() {
        let mut w = Watermark::new(10);
        assert_eq!(w.observe(100), Arrival::OnTime);
        assert_eq!(w.current(), Some(90));
        assert_eq!(w.observe(95), Arrival::OnTime); // within disorder
        assert_eq!(w.observe(90), Arrival::OnTime); // exactly at the watermark
        assert_eq!(w.observe(89), Arrival::Late(90));
        assert_eq!(w.observe(120), Arrival::OnTime);
        assert_eq!(w.current(), Some(110));
        w.advance_to(105); // never moves back
        assert_eq!(w.current(), Some(110));
        w.advance_to(200);
        assert_eq!(w.observe(150), Arrival::Late(200));
        assert_eq!(w.max_seen(), Some(150));
    }
}
