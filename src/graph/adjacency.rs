//! The packed adjacency of a node's out-edges ([`OutList`]): each entry is
//! its event's id, followed, for a one-to-one event, by a word with its
//! receiver and [`RECV`] set, so the common hop of an account chain reads
//! its target from the word after its event. A multi-leg event's entry is
//! one word (its receivers are its output slots). Reading an entry is
//! constant time; finding the first entry at or after an event is a binary
//! search over the words.

use super::ids::{NONE, RECV};

/// One outgoing adjacency entry: the event, and for a one-to-one transfer its
/// receiver (`NONE` for a multi-leg UTXO transaction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutEdge {
    pub(crate) event: u32,
    pub(crate) target: u32,
}

/// A node's out-edges in time order, packed into words: each entry is its
/// event's id, followed for a one-to-one event by a word with its receiver
/// and [`RECV`] set. A multi-leg event (whose receivers are its output
/// slots) takes one word, so no word is spent on an empty receiver field.
/// Positions below are word positions of entry starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutList<'a> {
    pub(crate) words: &'a [u32],
}

impl<'a> OutList<'a> {
    /// Whether the node sends at all.
    #[inline]
    pub(crate) fn is_empty(self) -> bool {
        self.words.is_empty()
    }

    /// Words in the list (one past the last entry's position).
    #[inline]
    pub(crate) fn end(self) -> usize {
        self.words.len()
    }

    /// The receiver of the entry starting at `p`, if it has a receiver word.
    #[inline]
    fn receiver(self, p: usize) -> Option<u32> {
        self.words
            .get(p + 1)
            .filter(|&&w| w & RECV != 0)
            .map(|&w| w & !RECV)
    }

    /// The entry starting at `p`, if `p` is before the end.
    #[inline]
    pub(crate) fn get(self, p: usize) -> Option<OutEdge> {
        Some(OutEdge {
            event: *self.words.get(p)?,
            target: self.receiver(p).unwrap_or(NONE),
        })
    }

    /// The position of the entry after the one at `p`.
    #[inline]
    pub(crate) fn next_pos(self, p: usize) -> usize {
        p + 1 + usize::from(self.receiver(p).is_some())
    }

    /// The position of the first entry whose event fails `pred` (the end
    /// if none does); `pred` must hold for a prefix of the events, as in
    /// [`slice::partition_point`].
    ///
    /// A binary search over words, each keyed by the event of its entry (a
    /// receiver word by the word before it), so keys never decrease and
    /// the first word failing `pred` starts an entry. Like the standard
    /// library's, it narrows without branching on the comparison.
    #[inline]
    pub(crate) fn partition_point(self, pred: impl Fn(u32) -> bool) -> usize {
        let w = self.words;
        // A list starts with an event word, so `i - 1` exists when needed.
        let key = |i: usize| w[i - usize::from(w[i] & RECV != 0)];
        let mut size = w.len();
        if size == 0 {
            return 0;
        }
        let mut base = 0usize;
        while size > 1 {
            let half = size / 2;
            let mid = base + half;
            base = if pred(key(mid)) { mid } else { base };
            size -= half;
        }
        base + usize::from(pred(key(base)))
    }

    /// The last entry.
    pub(crate) fn last(self) -> Option<OutEdge> {
        self.iter().next_back()
    }

    /// The entries from position `p` (an entry start or the end) on.
    pub(crate) fn suffix(self, p: usize) -> OutList<'a> {
        OutList {
            words: &self.words[p..],
        }
    }

    /// The entries before position `p` (an entry start or the end).
    pub(crate) fn prefix(self, p: usize) -> OutList<'a> {
        OutList {
            words: &self.words[..p],
        }
    }

    /// The entries in order.
    pub(crate) fn iter(self) -> OutIter<'a> {
        OutIter {
            list: self,
            at: 0,
            end: self.words.len(),
        }
    }
}

impl<'a> IntoIterator for OutList<'a> {
    type Item = OutEdge;
    type IntoIter = OutIter<'a>;
    fn into_iter(self) -> OutIter<'a> {
        self.iter()
    }
}

/// Iterator over an [`OutList`], from either end.
#[derive(Clone, Debug)]
pub(crate) struct OutIter<'a> {
    list: OutList<'a>,
    /// Next entry from the front.
    at: usize,
    /// One past the next entry from the back.
    end: usize,
}

impl Iterator for OutIter<'_> {
    type Item = OutEdge;
    #[inline]
    fn next(&mut self) -> Option<OutEdge> {
        if self.at >= self.end {
            return None;
        }
        let o = self.list.get(self.at)?;
        self.at += 1 + usize::from(o.target != NONE);
        Some(o)
    }
}

impl DoubleEndedIterator for OutIter<'_> {
    fn next_back(&mut self) -> Option<OutEdge> {
        if self.at >= self.end {
            return None;
        }
        let w = self.list.words;
        self.end -= if w[self.end - 1] & RECV != 0 { 2 } else { 1 };
        self.list.get(self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::OutList;
    use crate::graph::ids::{NONE, RECV};

    /// Packed out-edges: entries of one and two words read back forwards,
    /// backwards and by binary search from every starting point.
    #[test]
    fn out_list_reads_packed_entries() {
        // (event, receiver or NONE)
        let entries = [
            (3, 7),
            (5, NONE),
            (6, NONE),
            (9, 1),
            (12, 0),
            (20, NONE),
            (21, 4),
        ];
        let mut words = Vec::new();
        let mut starts = Vec::new();
        for &(e, t) in &entries {
            starts.push(words.len());
            words.push(e);
            if t != NONE {
                words.push(RECV | t);
            }
        }
        let list = OutList { words: &words };
        let got: Vec<_> = list.iter().map(|o| (o.event, o.target)).collect();
        assert_eq!(got, entries);
        let back: Vec<_> = list.iter().rev().map(|o| (o.event, o.target)).collect();
        assert_eq!(back, entries.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(list.last().map(|o| o.event), Some(21));
        for (k, &p) in starts.iter().enumerate() {
            assert_eq!(list.get(p).map(|o| o.event), Some(entries[k].0));
            let next = starts.get(k + 1).copied().unwrap_or(words.len());
            assert_eq!(list.next_pos(p), next);
            let pre: Vec<_> = list.prefix(p).iter().map(|o| o.event).collect();
            assert_eq!(pre, entries[..k].iter().map(|x| x.0).collect::<Vec<_>>());
        }
        for t in 0..25 {
            let want = entries
                .iter()
                .position(|x| x.0 >= t)
                .map_or(words.len(), |k| starts[k]);
            assert_eq!(list.partition_point(|e| e < t), want, "t {t}");
        }
        let empty = OutList { words: &[] };
        assert!(empty.is_empty() && empty.last().is_none() && empty.iter().next().is_none());
        assert_eq!(empty.partition_point(|_| true), 0);
    }
}
