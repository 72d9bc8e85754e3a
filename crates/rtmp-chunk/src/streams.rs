//! Per-chunk-stream state keyed by chunk stream id: a direct table for the ids that fit the
//! one-byte basic header (where nearly all traffic is), a map for the rest. The table grows to
//! the highest id seen, so a connection that uses chunk streams 2 to 8 holds nine slots, not
//! sixty-four: every connection of a server holds two of these.

use std::collections::HashMap;

const DIRECT: usize = 64;

/// A map from chunk stream id to `T`, fast for ids below 64.
#[derive(Debug)]
pub(crate) struct ChunkStreams<T> {
    direct: Vec<Option<T>>,
    others: HashMap<u32, T>,
    len: usize,
}

impl<T> Default for ChunkStreams<T> {
    fn default() -> Self {
        Self {
            direct: Vec::new(),
            others: HashMap::new(),
            len: 0,
        }
    }
}

impl<T> ChunkStreams<T> {
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        match self.direct.get_mut(id as usize) {
            Some(slot) => slot.as_mut(),
            None if (id as usize) < DIRECT => None,
            None => self.others.get_mut(&id),
        }
    }

    /// The entry for `id`, created with `make` when absent.
    pub(crate) fn get_or_insert_with(&mut self, id: u32, make: impl FnOnce() -> T) -> &mut T {
        let index = id as usize;
        if index < DIRECT && index >= self.direct.len() {
            self.direct.resize_with(index + 1, || None);
        }
        match self.direct.get_mut(index) {
            Some(slot) => {
                if slot.is_none() {
                    self.len += 1;
                }
                slot.get_or_insert_with(make)
            }
            None => {
                let len = &mut self.len;
                self.others.entry(id).or_insert_with(|| {
                    *len += 1;
                    make()
                })
            }
        }
    }

    /// How many chunk streams have an entry.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_mapped_ids() {
        let mut streams = ChunkStreams::default();
        *streams.get_or_insert_with(3, || 0) += 1;
        *streams.get_or_insert_with(3, || 0) += 1;
        *streams.get_or_insert_with(65_599, || 10) += 1;
        assert_eq!(streams.get_mut(3), Some(&mut 2));
        assert_eq!(streams.get_mut(65_599), Some(&mut 11));
        assert_eq!(streams.get_mut(64), None);
        assert_eq!(streams.len(), 2);
        // The table holds up to the highest small id seen; ids past it are absent.
        assert_eq!(streams.direct.len(), 4);
        assert_eq!(streams.get_mut(10), None);
        *streams.get_or_insert_with(63, || 5) += 1;
        assert_eq!(streams.get_mut(63), Some(&mut 6));
        assert_eq!(streams.direct.len(), 64);
        assert_eq!(streams.len(), 3);
    }
}
