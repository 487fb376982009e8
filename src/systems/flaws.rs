//! Flaw sets: which of a system's named flaws a run switches on.
//!
//! Every system names its flaws as a small enum ([`FlawKind`]); [`FlawSet`] is a bit set over it,
//! cheap to copy into every actor and handler. What it does not do: know what a flaw changes —
//! each system checks `flaws.has(…)` where its logic differs.

use std::fmt;
use std::marker::PhantomData;

/// A system's flaw enum: every variant in [`FlawKind::ALL`], at most 16, each with its name in
/// scenario files.
pub trait FlawKind: Copy + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    /// One line for `settle list`: the bug it reintroduces.
    fn doc(self) -> &'static str;
    /// The variant's bit (its discriminant), below 16.
    fn bit(self) -> u16;

    /// The flaw called `name` in scenario files.
    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// A set of flaws of one system.
pub struct FlawSet<F> {
    bits: u16,
    kind: PhantomData<F>,
}

impl<F: FlawKind> FlawSet<F> {
    pub fn has(self, f: F) -> bool {
        self.bits & (1 << f.bit()) != 0
    }

    pub fn insert(&mut self, f: F) {
        self.bits |= 1 << f.bit();
    }

    pub fn iter(self) -> impl Iterator<Item = F> {
        F::ALL.iter().copied().filter(move |f| self.has(*f))
    }
}

// Written out rather than derived: a derive would ask `F` itself for each trait.
impl<F> Clone for FlawSet<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for FlawSet<F> {}

impl<F> Default for FlawSet<F> {
    fn default() -> Self {
        FlawSet { bits: 0, kind: PhantomData }
    }
}

impl<F> PartialEq for FlawSet<F> {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}

impl<F> Eq for FlawSet<F> {}

impl<F: FlawKind> fmt::Debug for FlawSet<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(FlawKind::name)).finish()
    }
}

impl<F: FlawKind> FromIterator<F> for FlawSet<F> {
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        let mut s = FlawSet::default();
        for f in iter {
            s.insert(f);
        }
        s
    }
}
