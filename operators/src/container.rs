//! `BatchBuilder`: a container builder that ships records in large batches.
//!
//! timely's default builder sizes `Vec` containers to 8 KiB, i.e. ~60 trades per message; at
//! tens of millions of trades per second the per-message cost (progress accounting, channel
//! hand-off, allocation) then dominates. Trades and bars move in batches of [`BATCH`] records
//! instead. Order is preserved (FIFO), and the number of records is preserved.

use std::collections::VecDeque;

use timely::container::{ContainerBuilder, LengthPreservingContainerBuilder, PushInto};

/// Records per container.
pub const BATCH: usize = 4096;

/// A FIFO builder of `Vec<T>` containers holding up to [`BATCH`] records.
pub struct BatchBuilder<T> {
    current: Vec<T>,
    empty: Option<Vec<T>>,
    pending: VecDeque<Vec<T>>,
}

impl<T> Default for BatchBuilder<T> {
    fn default() -> Self {
        BatchBuilder { current: Vec::new(), empty: None, pending: VecDeque::new() }
    }
}

impl<T> PushInto<T> for BatchBuilder<T> {
    #[inline]
    fn push_into(&mut self, item: T) {
        if self.current.capacity() == 0 {
            self.current = self.empty.take().unwrap_or_default();
            self.current.clear();
            self.current.reserve(BATCH);
        }
        self.current.push(item);
        if self.current.len() >= BATCH {
            self.pending.push_back(std::mem::take(&mut self.current));
        }
    }
}

impl<T: 'static> ContainerBuilder for BatchBuilder<T> {
    type Container = Vec<T>;

    #[inline]
    fn extract(&mut self) -> Option<&mut Vec<T>> {
        let c = self.pending.pop_front()?;
        self.empty = Some(c);
        self.empty.as_mut()
    }

    #[inline]
    fn finish(&mut self) -> Option<&mut Vec<T>> {
        if !self.current.is_empty() {
            self.pending.push_back(std::mem::take(&mut self.current));
        }
        self.empty = self.pending.pop_front();
        self.empty.as_mut()
    }
}

impl<T: 'static> LengthPreservingContainerBuilder for BatchBuilder<T> {}
