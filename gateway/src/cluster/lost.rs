//! Lost batches as the receipts name them ([`super::link`]): spans of batch
//! numbers, bounded in count. Merging spans on overflow covers the numbers
//! between too: relays refused that may have been handed over, never one
//! acked that was not.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::wire::Span;

/// Spans of lost batches kept per node, each way; beyond, the oldest two
/// are merged.
pub const MAX_SPANS: usize = 32;

/// A node's batches to this one found missing, with when: named in this
/// node's receipts to it.
#[derive(Default)]
pub struct Missed(VecDeque<(Span, Instant)>);

impl Missed {
    pub fn push(&mut self, span: Span) {
        self.0.push_back((span, Instant::now()));
        if self.0.len() > MAX_SPANS
            && let Some(((a, _), _)) = self.0.pop_front()
            && let Some(((next, _), _)) = self.0.front_mut()
        {
            *next = a;
        }
    }

    /// The spans found within `keep`, for a receipt.
    pub fn recent(&mut self, keep: Duration) -> Vec<Span> {
        let now = Instant::now();
        while self
            .0
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > keep)
        {
            self.0.pop_front();
        }
        self.0.iter().map(|(span, _)| *span).collect()
    }
}

/// Whether `seq` is in one of `spans`.
pub fn covers(spans: &[Span], seq: u64) -> bool {
    spans.iter().any(|&(a, b)| a <= seq && seq <= b)
}

/// Adds `span` to the sorted, disjoint `spans`, beyond [`MAX_SPANS`]
/// merging the first two.
pub fn add_span(spans: &mut Vec<Span>, span: Span) {
    if span.0 > span.1 {
        return;
    }
    spans.push(span);
    spans.sort_unstable();
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for &(a, b) in spans.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    while merged.len() > MAX_SPANS {
        let (_, b) = merged.remove(1);
        merged[0].1 = b;
    }
    *spans = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_and_stay_bounded_covering_at_least_what_was_added() {
        let mut spans = Vec::new();
        for span in [(5, 7), (1, 2), (3, 4), (6, 9), (20, 20), (9, 8)] {
            add_span(&mut spans, span);
        }
        assert_eq!(spans, [(1, 9), (20, 20)]);
        add_span(&mut spans, (20, 20));
        assert_eq!(spans, [(1, 9), (20, 20)]);
        let mut many = Vec::new();
        for i in 0..100u64 {
            add_span(&mut many, (10 * i, 10 * i + 1));
        }
        assert_eq!(many.len(), MAX_SPANS);
        // Merged at the old end: every number added is still covered.
        for i in 0..100u64 {
            let covered = |n: u64| many.iter().any(|&(a, b)| a <= n && n <= b);
            assert!(covered(10 * i) && covered(10 * i + 1), "{i}");
        }
        assert_eq!(many[MAX_SPANS - 1], (990, 991));
    }
}
