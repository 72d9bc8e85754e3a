//! The message streams of a connection, by id: a sorted list rather than a tree map. A
//! connection has a handful (a player one, a publisher one or two, never more than the
//! session's `max_streams`), and a tree map's first node is sized for eleven: the list costs
//! a server a fraction of the memory per connection.

/// Values by message stream id, in ascending id order.
#[derive(Debug, Clone)]
pub(crate) struct Streams<V> {
    entries: Vec<(u32, V)>,
}

impl<V> Default for Streams<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<V> Streams<V> {
    fn find(&self, id: u32) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |(key, _)| *key)
    }

    /// The value of stream `id`.
    pub(crate) fn get(&self, id: &u32) -> Option<&V> {
        let index = self.find(*id).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    /// The value of stream `id`, to change.
    pub(crate) fn get_mut(&mut self, id: &u32) -> Option<&mut V> {
        let index = self.find(*id).ok()?;
        self.entries.get_mut(index).map(|(_, value)| value)
    }

    /// Whether stream `id` exists.
    pub(crate) fn contains_key(&self, id: &u32) -> bool {
        self.find(*id).is_ok()
    }

    /// Sets the value of stream `id`, returning the one it replaces.
    pub(crate) fn insert(&mut self, id: u32, value: V) -> Option<V> {
        match self.find(id) {
            Ok(index) => self
                .entries
                .get_mut(index)
                .map(|(_, slot)| std::mem::replace(slot, value)),
            Err(index) => {
                self.entries.insert(index, (id, value));
                None
            }
        }
    }

    /// Removes stream `id`, returning its value.
    pub(crate) fn remove(&mut self, id: &u32) -> Option<V> {
        let index = self.find(*id).ok()?;
        Some(self.entries.remove(index).1)
    }

    /// How many streams there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every stream, in ascending id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u32, &V)> {
        self.entries.iter().map(|(id, value)| (id, value))
    }
}

#[cfg(test)]
mod tests {
    use super::Streams;

    #[test]
    fn a_sorted_map_of_stream_ids() {
        let mut streams = Streams::default();
        assert_eq!(streams.insert(5, 'e'), None);
        assert_eq!(streams.insert(1, 'a'), None);
        assert_eq!(streams.insert(3, 'c'), None);
        assert_eq!(streams.insert(3, 'C'), Some('c'));
        assert_eq!(streams.len(), 3);
        assert_eq!(
            streams.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [1, 3, 5]
        );
        assert_eq!(streams.get(&3), Some(&'C'));
        *streams.get_mut(&5).unwrap() = 'E';
        assert_eq!(streams.remove(&5), Some('E'));
        assert_eq!(streams.remove(&5), None);
        assert!(!streams.contains_key(&5) && streams.contains_key(&1));
        assert_eq!(streams.get(&2), None);
    }
}
