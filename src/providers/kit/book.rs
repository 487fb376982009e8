//! The ground-truth book: what the provider knows about each of its objects — fixed facts, the
//! current state, and every state it has had with the simulated time it took it — so invariants
//! can ask "what does the provider say now", "did it ever say paid", and the status API can
//! answer as of an earlier instant (a stale read).
//!
//! Objects are keyed by id in a `BTreeMap` (deterministic iteration) and also kept in creation
//! order, which list APIs page through. States are whole values: a history entry is the state as
//! it was, not a diff, so `as_of` needs no replay.
//!
//! What it does not do: decide which transitions are legal (each provider's status machine does,
//! in the closure it passes to [`Book::update`]), or send anything.

use std::collections::BTreeMap;

/// One object: fixed facts `M` and its states `S` over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<M, S> {
    pub meta: M,
    /// Simulated milliseconds at creation.
    pub created_ms: u64,
    /// Every state with the time it began, oldest first; never empty.
    history: Vec<(u64, S)>,
}

impl<M, S> Record<M, S> {
    /// The state now.
    pub fn current(&self) -> &S {
        match self.history.last() {
            Some((_, s)) => s,
            None => unreachable!("a record is created with its first state"),
        }
    }

    /// When the current state began.
    pub fn changed_ms(&self) -> u64 {
        self.history.last().map_or(self.created_ms, |(t, _)| *t)
    }

    /// Every state with the time it began, oldest first.
    pub fn history(&self) -> &[(u64, S)] {
        &self.history
    }

    /// The state the object was in at `t_ms`: the newest that began at or before it, or the
    /// first state when `t_ms` is before the object existed.
    pub fn as_of(&self, t_ms: u64) -> &S {
        let n = self.history.partition_point(|(t, _)| *t <= t_ms);
        &self.history[n.saturating_sub(1)].1
    }

    /// Whether any state so far satisfies `pred` (the history only grows).
    pub fn ever(&self, pred: impl Fn(&S) -> bool) -> bool {
        self.history.iter().any(|(_, s)| pred(s))
    }
}

/// Every object of one kind a provider holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Book<M, S> {
    records: BTreeMap<String, Record<M, S>>,
    /// Ids in creation order.
    order: Vec<String>,
}

impl<M, S> Default for Book<M, S> {
    fn default() -> Self {
        Book { records: BTreeMap::new(), order: Vec::new() }
    }
}

impl<M, S: Clone> Book<M, S> {
    /// Adds an object in `state` at `t_ms`. Returns false (and changes nothing) if `id` exists.
    pub fn insert(&mut self, id: &str, meta: M, t_ms: u64, state: S) -> bool {
        if self.records.contains_key(id) {
            return false;
        }
        self.records.insert(id.to_string(), Record { meta, created_ms: t_ms, history: vec![(t_ms, state)] });
        self.order.push(id.to_string());
        true
    }

    pub fn get(&self, id: &str) -> Option<&Record<M, S>> {
        self.records.get(id)
    }

    /// The current state of `id`.
    pub fn current(&self, id: &str) -> Option<&S> {
        self.records.get(id).map(Record::current)
    }

    /// Moves `id` to the state `next` returns for its current one, at `t_ms`; `next` returns
    /// `None` to refuse (an illegal transition). Returns the new state, or `None` when `id` is
    /// unknown or the change was refused. Times never go backwards within a record.
    pub fn update(&mut self, id: &str, t_ms: u64, next: impl FnOnce(&M, &S) -> Option<S>) -> Option<&S> {
        let r = self.records.get_mut(id)?;
        let new = next(&r.meta, r.current())?;
        debug_assert!(t_ms >= r.changed_ms(), "a record's history must be in time order");
        r.history.push((t_ms, new));
        Some(r.current())
    }

    /// Records in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Record<M, S>)> {
        self.records.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Ids in creation order (oldest first).
    pub fn ids_in_creation_order(&self) -> &[String] {
        &self.order
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Book<&'static str, u8> {
        let mut b = Book::default();
        assert!(b.insert("b", "second", 10, 0));
        assert!(b.insert("a", "first", 20, 0));
        b
    }

    #[test]
    fn history_keeps_every_state_with_its_time() {
        let mut b = book();
        assert_eq!(b.update("a", 30, |_, s| Some(s + 1)), Some(&1));
        assert_eq!(b.update("a", 40, |_, s| Some(s + 1)), Some(&2));
        let r = b.get("a").unwrap();
        assert_eq!(r.history(), &[(20, 0), (30, 1), (40, 2)]);
        assert_eq!(*r.current(), 2);
        assert_eq!(r.changed_ms(), 40);
        assert!(r.ever(|s| *s == 1));
        assert!(!r.ever(|s| *s == 3));
    }

    #[test]
    fn as_of_answers_the_state_at_an_earlier_instant() {
        let mut b = book();
        b.update("a", 30, |_, _| Some(5));
        let r = b.get("a").unwrap();
        assert_eq!(*r.as_of(29), 0);
        assert_eq!(*r.as_of(30), 5);
        assert_eq!(*r.as_of(1_000), 5);
        assert_eq!(*r.as_of(0), 0, "before creation: the first state");
    }

    #[test]
    fn refused_changes_and_duplicate_ids_change_nothing() {
        let mut b = book();
        assert_eq!(b.update("a", 30, |_, _| None), None);
        assert_eq!(b.get("a").unwrap().history().len(), 1);
        assert_eq!(b.update("zz", 30, |_, _| Some(1)), None);
        assert!(!b.insert("a", "again", 50, 9));
        assert_eq!(*b.current("a").unwrap(), 0);
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn ids_keep_creation_order_and_iteration_is_by_id() {
        let b = book();
        assert_eq!(b.ids_in_creation_order(), ["b", "a"]);
        assert_eq!(b.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b"]);
    }
}
