//! Trade-id de-duplication with memory bounded by event time (pure core).
//!
//! Venues mostly number trades per instrument, contiguously, so the highest run of seen ids is
//! kept as one range `[start, end]`: the common case (next id, or a batch continuing it) extends
//! it in O(1) and the set stays tiny however many trades pass. When a gap closes that run, a
//! long run is kept as a range and a short one as bits in 4096-id bitmap blocks when ids are
//! locally dense (as a range when they are sparse). Short, dense runs are what a shared id
//! sequence produces (one venue-wide counter split over many instruments): those cost a bit per
//! id slot instead of a map entry per trade. Ranges and blocks remember the
//! largest event time they cover; [`IdSet::prune`] forgets those entirely older than a horizon,
//! which bounds memory by time.

use std::collections::BTreeMap;

/// Ids per bitmap block.
const BLOCK_IDS: u64 = 4096;
/// Runs shorter than this go to bitmap blocks, longer ones stay ranges.
const SHORT_RUN: u64 = 64;

/// 4096 ids as bits, with the largest event time of the ids set.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Block {
    #[serde(with = "bits_serde")]
    bits: Box<[u64; (BLOCK_IDS / 64) as usize]>,
    max_ts: i64,
}

/// A block's words as a plain sequence (serde has no impls for arrays of 64).
mod bits_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    const WORDS: usize = (super::BLOCK_IDS / 64) as usize;

    pub fn serialize<S: Serializer>(bits: &[u64; WORDS], s: S) -> Result<S::Ok, S::Error> {
        bits.as_slice().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<[u64; WORDS]>, D::Error> {
        let v = Vec::<u64>::deserialize(d)?;
        let n = v.len();
        v.into_boxed_slice().try_into().map_err(|_| serde::de::Error::custom(format!("a bitmap block has {WORDS} words, not {n}")))
    }
}

/// Where `id`'s bit lives: (block key, word in the block, mask in the word).
#[inline]
fn bit_of(id: u64) -> (u64, usize, u64) {
    let k = id % BLOCK_IDS;
    (id / BLOCK_IDS, (k / 64) as usize, 1 << (k % 64))
}

/// A set of seen trade ids: the highest run, older long runs as ranges, short runs as bits.
/// Serializable, so a checkpoint carries the de-duplication window.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdSet {
    /// start → (end inclusive, max event time); every range is below `hi`
    ranges: BTreeMap<u64, (u64, i64)>,
    /// id / 4096 → block; every id set is below `hi`
    blocks: BTreeMap<u64, Block>,
    /// the highest run (start, end, max event time), outside the maps for the fast path
    hi: Option<(u64, u64, i64)>,
    /// the start of the last short run stored (tells locally dense ids from sparse ones)
    last_short: Option<u64>,
    /// stored entries after the last full prune scan (a heuristic, not state: not saved)
    #[serde(skip)]
    scanned: ScanMark,
}

/// Entries left by the last full prune scan. Equal whatever its value: it schedules work and
/// never changes what the set contains.
#[derive(Clone, Copy, Debug, Default)]
struct ScanMark(usize);

impl PartialEq for ScanMark {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for ScanMark {}

impl IdSet {
    /// Inserts `id` seen at `ts`; false when it was already present (a duplicate).
    #[inline]
    pub fn insert(&mut self, id: u64, ts: i64) -> bool {
        let Some((s, e, m)) = self.hi.as_mut() else {
            self.hi = Some((id, id, ts));
            return true;
        };
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
            self.hi = Some((id, id, ts));
            self.store(s0, e0, m0);
            return true;
        }
        // below the highest run
        if self.contains_stored(id) {
            return false;
        }
        self.store(id, id, ts);
        true
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

    /// Keeps a run `[s, e]` that holds no stored id: bits when it is short and ids are locally
    /// dense (its block exists, or the previous short run was in the same or a neighbouring
    /// block), else a range — sparse ids (e.g. hash-like) would cost a block each as bits.
    fn store(&mut self, s: u64, e: u64, max_ts: i64) {
        let short = e - s < SHORT_RUN;
        let block = s / BLOCK_IDS;
        let dense = self.blocks.contains_key(&block) || self.last_short.is_some_and(|l| (l / BLOCK_IDS).abs_diff(block) <= 1);
        if short {
            self.last_short = Some(s);
        }
        if short && dense {
            (s..=e).for_each(|id| self.set_bit(id, max_ts));
        } else {
            self.ranges.insert(s, (e, max_ts));
        }
    }

    fn set_bit(&mut self, id: u64, ts: i64) {
        let (key, word, mask) = bit_of(id);
        let b = self.blocks.entry(key).or_insert_with(|| Block { bits: Box::new([0; (BLOCK_IDS / 64) as usize]), max_ts: ts });
        b.bits[word] |= mask;
        b.max_ts = b.max_ts.max(ts);
    }

    fn contains_stored(&self, id: u64) -> bool {
        if self.ranges.range(..=id).next_back().is_some_and(|(_, (e, _))| id <= *e) {
            return true;
        }
        let (key, word, mask) = bit_of(id);
        self.blocks.get(&key).is_some_and(|b| b.bits[word] & mask != 0)
    }

    /// True when `id` has been seen (and not pruned).
    #[cfg(test)]
    pub(crate) fn contains(&self, id: u64) -> bool {
        if let Some((s, e, _)) = self.hi {
            if id >= s && id <= e {
                return true;
            }
        }
        self.contains_stored(id)
    }

    /// Forgets stored ranges and blocks whose trades are all older than `horizon`, walking up
    /// from the lowest id: ids grow with time, so expired ones sit at the low end, and each walk
    /// stops at the first one still needed — O(forgotten), not a scan of the set. Nothing with a
    /// trade at or after `horizon` ever goes; entries behind a still-needed lower one wait until
    /// it expires (memory stays bounded by time). The highest run is kept: it is one entry, and
    /// the next ids continue it.
    ///
    /// Ids that do not grow with time (hashed UUIDs, e.g. Bybit's) defeat that walk: a recent low
    /// id holds back every expired entry above it. So once the set has doubled since the last
    /// full scan, one scan drops every expired entry: memory stays within twice the ids inside the
    /// window, at amortized O(1) per id.
    pub fn prune(&mut self, horizon: i64) {
        while let Some(first) = self.ranges.first_entry() {
            if first.get().1 >= horizon {
                break;
            }
            first.remove();
        }
        while let Some(first) = self.blocks.first_entry() {
            if first.get().max_ts >= horizon {
                break;
            }
            first.remove();
        }
        let n = self.ranges.len() + self.blocks.len();
        if n > 2 * self.scanned.0.max(256) {
            self.ranges.retain(|_, (_, ts)| *ts >= horizon);
            self.blocks.retain(|_, b| b.max_ts >= horizon);
            self.scanned = ScanMark(self.ranges.len() + self.blocks.len());
        }
    }

    /// Drops the maps' buffers when they hold nothing (an idle instrument keeps its highest run
    /// inline and no heap).
    pub fn release_if_empty(&mut self) {
        if self.ranges.is_empty() {
            self.ranges = BTreeMap::new();
        }
        if self.blocks.is_empty() {
            self.blocks = BTreeMap::new();
        }
    }

    /// True when no id was seen at or after `horizon`: nothing here can flag a duplicate of a
    /// trade that is not too late.
    pub fn expired(&self, horizon: i64) -> bool {
        self.ranges.is_empty() && self.blocks.is_empty() && self.hi.is_none_or(|(_, _, m)| m < horizon)
    }

    /// Stored entries (ranges, bitmap blocks and the highest run): the memory in use.
    #[cfg(test)]
    pub(crate) fn stored(&self) -> usize {
        self.ranges.len() + self.blocks.len() + self.hi.is_some() as usize
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
        assert_eq!(s.stored(), 1);
        assert!(!s.insert(5000, 0));
        assert!(!s.insert(1000, 0));
        assert!(s.insert(999, 0));
        assert!(!s.insert(999, 0));
        assert_eq!(s.stored(), 2, "the run and one stored entry");
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
        assert_eq!(s.stored(), 3, "the first short run (a range), one bitmap block and the highest run");
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
    fn matches_a_hashset_on_runs_gaps_and_resends() {
        // runs of random length (ranges and bitmap bits), gaps, jumps back (resends, late ids)
        let mut s = IdSet::default();
        let mut h = std::collections::HashSet::new();
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = 1_000u64;
        for _ in 0..3_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + x % 150;
            let start = match x % 5 {
                0 => next.saturating_sub(x % 400), // back into seen ids
                1 => next + 1 + x % 3,             // a small gap
                _ => next,
            };
            for id in start..start + len {
                assert_eq!(s.insert(id, id as i64), h.insert(id), "id {id}");
            }
            next = next.max(start + len);
            if x.is_multiple_of(7) {
                let batch: Vec<u64> = (next..next + 10).collect();
                if s.extend_contiguous(&batch, &[0; 10]) {
                    assert!(batch.iter().all(|id| h.insert(*id)), "extend took ids already seen");
                    next += 10;
                }
            }
        }
        for id in 0..next + 10 {
            assert_eq!(s.contains(id), h.contains(&id), "contains {id}");
        }
    }

    #[test]
    fn sparse_ids_stay_ranges_instead_of_a_block_each() {
        let mut s = IdSet::default();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut ids = Vec::new();
        for i in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x >> 8; // hash-like ids, far apart
            ids.push(id);
            assert!(s.insert(id, i));
        }
        assert!(s.blocks.len() < 10, "{} bitmap blocks for sparse ids", s.blocks.len());
        assert!(ids.iter().all(|&id| s.contains(id) && !s.insert(id, 0)));
    }

    #[test]
    fn contiguous_batches_extend_in_one_step() {
        let mut s = IdSet::default();
        assert!(!s.extend_contiguous(&[1, 2, 3], &[0, 0, 0]), "needs an existing range");
        s.insert(1, 0);
        assert!(s.extend_contiguous(&[2, 3, 4], &[5, 6, 7]));
        assert!(!s.extend_contiguous(&[5, 7], &[0, 0]), "gap");
        assert!(!s.extend_contiguous(&[4, 5], &[0, 0]), "overlap");
        assert_eq!(s.stored(), 1);
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
        assert!(s.stored() < 1_000, "{} ranges kept", s.stored());
    }

    #[test]
    fn prune_bounds_memory_by_time() {
        // every other id (two instruments sharing one sequence), event time = id
        let mut s = IdSet::default();
        for id in (0..40_000u64).step_by(2) {
            assert!(s.insert(id, id as i64));
        }
        assert_eq!(s.stored(), 1 + 10 + 1, "the first id (a range), ten 4096-id blocks and the highest run, not 20,000 entries");
        s.prune(20_000);
        // blocks go whole once their newest id is older than the horizon
        assert!(!s.contains(10) && !s.contains(16_000));
        assert!(s.contains(16_384) && s.contains(30_000) && s.contains(39_998));
        assert_eq!(s.stored(), 6 + 1);
        assert!(!s.insert(30_000, 0), "still a duplicate");
        assert!(s.insert(40_000, 40_000)); // fast path still sound after prune
        assert!(s.insert(40_001, 40_001));
        // long runs closed by a gap stay ranges
        let mut r = IdSet::default();
        for id in (0..1000u64).chain(2000..3000) {
            r.insert(id, id as i64);
        }
        assert_eq!(r.stored(), 2);
        r.prune(1000);
        assert_eq!(r.stored(), 1);
        assert!(!r.contains(500) && r.contains(2500));
    }

    /// #14 item 13: hashed (unordered) ids, 200 per second of event time, pruned with a
    /// 10-second window: the set stays within a small multiple of the ~2,000 ids inside the
    /// window (it grew without bound: 6M trades kept 286 MB), and no id inside it is forgotten.
    #[test]
    fn prune_bounds_unordered_ids_by_time() {
        let mut set = IdSet::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut window = std::collections::VecDeque::new();
        let mut peak = 0;
        for i in 0..200_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ts = i * 5_000_000; // 200 per second
            assert!(set.insert(x, ts));
            window.push_back((x, ts));
            let horizon = ts - 10_000_000_000;
            while window.front().is_some_and(|(_, t)| *t < horizon) {
                window.pop_front();
            }
            if i % 100 == 0 {
                set.prune(horizon);
                peak = peak.max(set.stored());
            }
        }
        assert!(peak < 4 * 2_000 + 600, "{peak} entries for ~2,000 ids in the window");
        assert!(window.iter().all(|(id, _)| set.contains(*id)), "an id inside the window was forgotten");
    }
}
