//! Consistent cuts for checkpoints: where the sources hold, and what they record there.
//!
//! Checkpoints are taken at **event-time boundaries** `B` on a fixed grid (`interval` apart).
//! The rule that makes a cut consistent without stopping the world:
//!
//! - Every feed reads until the next trade would take its watermark to `B` or beyond; it keeps
//!   that trade and the rest of its last poll pending, records its position and watermark there
//!   ([`FeedPosition`]), and reads no further (it is *held*). A feed that ends before `B` records
//!   its final position. So every trade read before the cut travels at a timely time below `B`
//!   (on-time trades at the source capability ≤ every unheld watermark < `B`, late ones at
//!   their partition watermark < `B`), and every trade after it at `B` or later.
//! - A held feed counts as watermark `B` for the source capability. Once every feed of every
//!   worker is held (or done), the frontier reaches `B`: every operator has processed all data
//!   below `B` and reacted to frontier `B`, and none has seen data at `B` or later. That state,
//!   with the recorded positions, is the checkpoint. The worker's checkpointer takes it between
//!   steps and then releases the feeds ([`SourceBarrier::release_to`]) towards the next
//!   boundary — only once every worker has taken its part, which the checkpointer learns from a
//!   timely frontier; every worker proposes the next boundary (at least one `interval` on, more
//!   when replaying fast) and all take the largest proposal, so they agree on it.
//! - The end of a bounded input (or a stop) is not a boundary: every feed keeps holding the
//!   frontier at its last watermark until every worker's feeds ended, then all end together
//!   without finalizing the open windows (a resumed run continues them).
//!
//! Holding never changes which trades are late or which time any record travels at, so outputs
//! are the same with and without checkpoints; a run restored from the checkpoint at `B` (state
//! restored, each partition read again from its recorded position) produces what the
//! uninterrupted run produced after `B`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use timely::scheduling::Activator;

/// Where one feed stood at a checkpoint boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPosition {
    /// The feed's name (`topic/partition` for Kafka).
    pub feed: String,
    /// The position of the first record not read before the boundary (a Kafka offset).
    pub position: Option<i64>,
    /// The largest event time read before it.
    pub max_seen: Option<i64>,
    /// The watermark before it.
    pub watermark: Option<i64>,
    /// True when the feed had stopped reading (ended, or the run was stopped) before the
    /// boundary.
    pub ended: bool,
}

/// The shared state between a worker's source and its checkpointer (see the module docs).
#[derive(Debug)]
pub struct SourceBarrier {
    interval: i64,
    boundary: i64,
    /// Feeds that reached the current boundary, by name.
    held: BTreeMap<String, FeedPosition>,
    /// Feeds that ended, by name (final for every later boundary).
    ended: BTreeMap<String, FeedPosition>,
    /// Feeds this worker's source was given.
    feeds: usize,
    /// Restored watermarks by feed name.
    restore: BTreeMap<String, FeedPosition>,
    activator: Option<Activator>,
    stopping: bool,
    /// Every feed ended: the source holds at this watermark until [`Self::drained`].
    draining: Option<i64>,
    drained: bool,
}

/// A [`SourceBarrier`] shared within one worker.
pub type Barrier = Rc<RefCell<SourceBarrier>>;

impl SourceBarrier {
    /// A barrier whose first boundary is `first` and then every `interval` ns; `restore` gives
    /// feeds (by name) the watermark they had at a restored checkpoint.
    pub fn new(first: i64, interval: i64, restore: impl IntoIterator<Item = FeedPosition>) -> Barrier {
        Rc::new(RefCell::new(SourceBarrier {
            interval: interval.max(1),
            boundary: first,
            held: BTreeMap::new(),
            ended: BTreeMap::new(),
            feeds: 0,
            restore: restore.into_iter().map(|p| (p.feed.clone(), p)).collect(),
            activator: None,
            stopping: false,
            draining: None,
            drained: false,
        }))
    }
    /// The boundary the feeds hold at.
    pub fn boundary(&self) -> i64 {
        self.boundary
    }
    /// The grid step.
    pub fn interval(&self) -> i64 {
        self.interval
    }
    /// The positions of every feed at the current boundary, when all of this worker's feeds have
    /// reached it or ended; `None` while some still read towards it.
    pub fn positions(&self) -> Option<Vec<FeedPosition>> {
        if self.held.len() + self.ended.len() < self.feeds {
            return None;
        }
        let mut all: Vec<FeedPosition> = self.ended.values().chain(self.held.values()).cloned().collect();
        all.sort_by(|a, b| a.feed.cmp(&b.feed));
        Some(all)
    }
    /// Lets the held feeds read on towards the next boundary, at least one grid step on and at
    /// `next` when that is further (every worker must release to the same boundary, after every
    /// worker took its part of the checkpoint at the current one).
    pub fn release_to(&mut self, next: i64) {
        self.boundary = self.boundary.saturating_add(self.interval).max(next);
        if !self.stopping {
            // a stopped source reads no more: its held feeds stay where they were
            self.held.clear();
        }
        if let Some(a) = &self.activator {
            a.activate();
        }
    }

    /// Stops the source (a shutdown): feeds not held record where they stopped reading, held
    /// ones keep their position at the boundary, and the source ends without reading on.
    pub fn stop(&mut self) {
        self.stopping = true;
        if let Some(a) = &self.activator {
            a.activate();
        }
    }
    /// True once the source reads no more: every feed ended, or the source was stopped.
    pub fn finished(&self) -> bool {
        self.stopping || (self.feeds > 0 && self.ended.len() >= self.feeds)
    }

    /// No more boundaries in this run (a partition was exhausted, so the frontier cannot pass
    /// its watermark before the end): held feeds read on to the end.
    pub fn holds_off(&mut self) {
        self.boundary = i64::MAX;
        if !self.stopping {
            self.held.clear();
        }
        if let Some(a) = &self.activator {
            a.activate();
        }
    }
    /// True once some feed of this worker that had data ended (or the run was stopped): the
    /// frontier cannot pass its watermark before the end.
    pub fn any_ended(&self) -> bool {
        self.stopping || self.ended.values().any(|p| p.watermark.is_some())
    }
    /// True when this worker's source reads nothing more and holds no capability: it has no
    /// feeds, or every feed ended and the end was drained.
    pub fn idle_or_ended(&self) -> bool {
        self.feeds == 0 || self.draining.is_some()
    }

    /// The watermark the source holds at after every feed ended, until [`Self::drained`].
    pub fn draining(&self) -> Option<i64> {
        self.draining.filter(|_| !self.drained)
    }
    /// Everything below the draining watermark was processed: the source may end.
    pub fn drained(&mut self) {
        self.drained = true;
        if let Some(a) = &self.activator {
            a.activate();
        }
    }

    // --- used by the source ---

    /// Holds at `w` after every feed ended; true once drained.
    pub(crate) fn drain(&mut self, w: i64) -> bool {
        self.draining = Some(w);
        self.drained
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping
    }

    pub(crate) fn register(&mut self, feeds: usize, activator: Activator) {
        self.feeds = feeds;
        self.activator = Some(activator);
    }
    pub(crate) fn restored(&self, feed: &str) -> Option<&FeedPosition> {
        self.restore.get(feed)
    }
    pub(crate) fn hold(&mut self, p: FeedPosition) {
        self.held.insert(p.feed.clone(), p);
    }
    pub(crate) fn is_held(&self, feed: &str) -> bool {
        self.held.contains_key(feed)
    }
    pub(crate) fn end(&mut self, p: FeedPosition) {
        self.held.remove(&p.feed);
        self.ended.insert(p.feed.clone(), p);
    }
}
