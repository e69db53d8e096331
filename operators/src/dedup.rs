//! Trade-id de-duplication with memory bounded by event time (pure core).
//!
//! Venues number trades per instrument, almost always contiguously, so seen ids are kept as
//! ranges `[start, end]`: the common case (next id) extends the last range in O(1) and the set
//! stays tiny however many trades pass. Each range remembers the largest event time it covers;
//! [`IdSet::prune`] forgets ranges entirely older than a horizon, which bounds memory by time.

use std::collections::BTreeMap;

/// A set of seen trade ids, stored as ranges.
#[derive(Clone, Debug, Default)]
pub struct IdSet {
    /// start → (end inclusive, max event time), every range below `hi`
    ranges: BTreeMap<u64, (u64, i64)>,
    /// the highest range (start, end, max event time), kept outside the map for the fast path
    hi: Option<(u64, u64, i64)>,
}

impl IdSet {
    /// Inserts `id` seen at `ts`; false when it was already present (a duplicate).
    #[inline]
    pub fn insert(&mut self, id: u64, ts: i64) -> bool {
        match &mut self.hi {
            None => {
                self.hi = Some((id, id, ts));
                return true;
            }
            Some((s, e, m)) => {
                if e.checked_add(1) == Some(id) {
                    *e = id;
                    *m = (*m).max(ts);
                    return true;
                }
                if id >= *s && id <= *e {
                    return false;
                }
                if id > *e {
                    let (s0, e0, m0) = (*s, *e, *m);
                    self.ranges.insert(s0, (e0, m0));
                    self.hi = Some((id, id, ts));
                    return true;
                }
            }
        }
        // below the highest range: general case on the full set
        if let Some((s, e, m)) = self.hi.take() {
            self.ranges.insert(s, (e, m));
        }
        let fresh = self.insert_slow(id, ts);
        self.hi = self.ranges.pop_last().map(|(s, (e, m))| (s, e, m));
        fresh
    }

    /// Inserts `ids` (seen at `ts`) when they continue the highest range contiguously
    /// (`hi.end + 1, hi.end + 2, …`): the common case of a batch from one venue stream.
    /// Returns false, changing nothing, otherwise.
    #[inline]
    pub fn extend_contiguous(&mut self, ids: &[u64], ts: &[i64]) -> bool {
        let (Some((s, e, m)), Some(&first)) = (self.hi, ids.first()) else { return false };
        if e.checked_add(1) != Some(first) || first.checked_add(ids.len() as u64).is_none() {
            return false;
        }
        let mut ok = true;
        for (i, &id) in ids.iter().enumerate() {
            ok &= id == first + i as u64;
        }
        if !ok {
            return false;
        }
        let max_ts = ts.iter().copied().fold(m, i64::max);
        self.hi = Some((s, first + ids.len() as u64 - 1, max_ts));
        true
    }

    fn insert_slow(&mut self, id: u64, ts: i64) -> bool {
        let below = self.ranges.range(..=id).next_back().map(|(s, r)| (*s, *r));
        if let Some((s, (e, m))) = below {
            if id <= e {
                return false;
            }
            if id == e + 1 {
                let (mut end, mut max_ts) = (id, ts.max(m));
                if let Some((ne, nts)) = self.ranges.remove(&(id + 1)) {
                    end = ne;
                    max_ts = max_ts.max(nts);
                }
                self.ranges.insert(s, (end, max_ts));
                return true;
            }
        }
        let (mut end, mut max_ts) = (id, ts);
        if let Some(next) = id.checked_add(1) {
            if let Some((ne, nts)) = self.ranges.remove(&next) {
                end = ne;
                max_ts = max_ts.max(nts);
            }
        }
        self.ranges.insert(id, (end, max_ts));
        true
    }

    /// True when `id` has been seen (and not pruned).
    pub fn contains(&self, id: u64) -> bool {
        if let Some((s, e, _)) = self.hi {
            if id >= s && id <= e {
                return true;
            }
        }
        self.ranges.range(..=id).next_back().is_some_and(|(_, (e, _))| id <= *e)
    }

    /// Forgets ranges whose trades are all older than `horizon`, walking up from the lowest id:
    /// ids grow with time, so expired ranges sit at the low end, and the walk stops at the first
    /// range still needed. That costs O(ranges forgotten) per call rather than a scan of the set
    /// (which matters when ids are fragmented, e.g. one id sequence shared by many instruments).
    /// A range never goes while any of its trades is at or after `horizon`; ranges behind a
    /// still-needed lower one wait until it expires (memory stays bounded by time).
    pub fn prune(&mut self, horizon: i64) {
        while let Some(first) = self.ranges.first_entry() {
            if first.get().1 >= horizon {
                break;
            }
            first.remove();
        }
        if self.hi.is_some_and(|(_, _, m)| m < horizon) {
            self.hi = self.ranges.pop_last().map(|(s, (e, m))| (s, e, m));
        }
    }

    /// Number of stored ranges (memory use).
    pub fn ranges(&self) -> usize {
        self.ranges.len() + self.hi.is_some() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_ids_stay_one_range() {
        let mut s = IdSet::default();
        for id in 1000..101_000u64 {
            assert!(s.insert(id, id as i64));
        }
        assert_eq!(s.ranges(), 1);
        assert!(!s.insert(5000, 0));
        assert!(!s.insert(1000, 0));
        assert!(s.insert(999, 0));
        assert_eq!(s.ranges(), 1);
    }

    #[test]
    fn out_of_order_ids_merge_and_detect_duplicates() {
        let mut s = IdSet::default();
        let ids = [10u64, 12, 14, 11, 13, 20, 19, 18, 16, 15, 17];
        for id in ids {
            assert!(s.insert(id, 0), "{id}");
        }
        for id in ids {
            assert!(!s.insert(id, 0), "{id} dup");
        }
        assert_eq!(s.ranges(), 1);
        assert!(s.contains(15));
        assert!(!s.contains(21));
        assert!(!s.contains(9));
    }

    #[test]
    fn matches_a_hashset_on_random_input() {
        let mut s = IdSet::default();
        let mut h = std::collections::HashSet::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % 3000;
            assert_eq!(s.insert(id, 0), h.insert(id), "id {id}");
        }
    }

    #[test]
    fn contiguous_batches_extend_in_one_step() {
        let mut s = IdSet::default();
        assert!(!s.extend_contiguous(&[1, 2, 3], &[0, 0, 0]), "needs an existing range");
        s.insert(1, 0);
        assert!(s.extend_contiguous(&[2, 3, 4], &[5, 6, 7]));
        assert!(!s.extend_contiguous(&[5, 7], &[0, 0]), "gap");
        assert!(!s.extend_contiguous(&[4, 5], &[0, 0]), "overlap");
        assert_eq!(s.ranges(), 1);
        assert!(s.contains(4) && !s.contains(5));
        s.prune(7);
        assert!(s.contains(4), "max ts 7 was kept");
    }

    #[test]
    fn prune_never_forgets_an_id_seen_at_or_after_the_horizon() {
        // fragmented ids (one sequence shared by three instruments: every third id here), times
        // rising with ids but jittered, pruned as time goes on; a model remembers everything
        let mut s = IdSet::default();
        let mut seen: Vec<(u64, i64)> = Vec::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..30_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = step * 3;
            let ts = step as i64 * 10 + (x % 500) as i64; // up to 50 steps of disorder
            assert!(s.insert(id, ts));
            seen.push((id, ts));
            if step % 97 == 0 {
                let horizon = step as i64 * 10 - 3_000;
                s.prune(horizon);
                for &(id, ts) in seen.iter().rev().take(600) {
                    if ts >= horizon {
                        assert!(s.contains(id), "id {id} (ts {ts}) forgotten at horizon {horizon}");
                        assert!(!s.insert(id, ts), "duplicate {id} accepted");
                    }
                }
            }
        }
        // memory follows time, not the number of ids seen: ~300 steps of retention + disorder
        assert!(s.ranges() < 1_000, "{} ranges kept", s.ranges());
    }

    #[test]
    fn prune_bounds_memory_by_time() {
        let mut s = IdSet::default();
        for id in (0..100u64).step_by(2) {
            s.insert(id, id as i64);
        }
        assert_eq!(s.ranges(), 50);
        s.prune(50);
        assert_eq!(s.ranges(), 25);
        assert!(!s.contains(10));
        assert!(s.contains(50));
        assert!(s.insert(100, 100)); // fast path still sound after prune
    }
}
