//! Did what was sent arrive exactly once, and in order? Each received item
//! is matched to an expected one by a key the test chooses (an event's
//! fields, a message's port and count, a sequence number), so the check
//! works for any channel and any module. kulink.ko's per-channel verdict
//! (its suite's `event_verdict`) is built on it.
//!
//! ```
//! use kulink::delivery::{self, Order};
//!
//! // Notifications (port, count) the test expects, and what came.
//! let expected = [(5000, 2), (5001, 2), (5000, 4)];
//! let got = [(5000, 2), (5000, 4), (5000, 4)];
//! let d = delivery::check(&expected, &got, |&n| n, Order::Kept);
//! assert_eq!((d.matched, d.lost, d.duplicates, d.unexpected), (2, 1, 1, 0));
//! assert!(!d.passed());
//! assert_eq!(d.problems[0], "duplicate: (5000, 4)");
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;

/// Whether arrival must follow the expected order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Items arrive in the order they were sent.
    Kept,
    /// Any order will do (concurrent senders, such as usermode helper
    /// processes, may swap their reports).
    Free,
}

/// How received items matched the expected ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Items expected.
    pub expected: usize,
    /// Items received.
    pub received: usize,
    /// ExpectedMessage items received (each counted once).
    pub matched: usize,
    /// ExpectedMessage items never received.
    pub lost: usize,
    /// Received items whose key was expected, but fewer times.
    pub duplicates: usize,
    /// Received items whose key was not expected at all.
    pub unexpected: usize,
    /// With [`Order::Kept`]: the first copies arrived in the expected
    /// order. Always true with [`Order::Free`].
    pub in_order: bool,
    /// For each received item, the index of the expected item it was
    /// counted as, or `None` for a duplicate or an unexpected item.
    pub matches: Vec<Option<usize>>,
    /// The first few problems in arrival order, then each lost item, for
    /// people.
    pub problems: Vec<String>,
}

impl Delivery {
    /// Every expected item exactly once, nothing else, in order if asked.
    pub fn passed(&self) -> bool {
        self.matched == self.expected && self.duplicates == 0 && self.unexpected == 0 && self.in_order
    }
}

/// At most this many problems are written out; the counts hold them all.
pub const MAX_PROBLEMS: usize = 8;

/// Matches `received` against `expected` by `key`. An expected key may
/// occur more than once: each occurrence wants its own copy. Problems name
/// keys as Rust prints them (`(5000, 4)`); [`check_described`] names them
/// in words of the test's own.
pub fn check<K, T>(expected: &[K], received: &[T], key: impl Fn(&T) -> K, order: Order) -> Delivery
where
    K: Ord + Debug,
{
    check_described(expected, received, key, order, |k| format!("{k:?}"))
}

/// [`check`], with each key named in problems by `describe`.
pub fn check_described<K, T>(
    expected: &[K],
    received: &[T],
    key: impl Fn(&T) -> K,
    order: Order,
    describe: impl Fn(&K) -> String,
) -> Delivery
where
    K: Ord,
{
    let mut slots: BTreeMap<&K, VecDeque<usize>> = BTreeMap::new();
    for (i, k) in expected.iter().enumerate() {
        slots.entry(k).or_default().push_back(i);
    }
    let mut d = Delivery {
        expected: expected.len(),
        received: received.len(),
        matched: 0,
        lost: 0,
        duplicates: 0,
        unexpected: 0,
        in_order: true,
        matches: Vec::with_capacity(received.len()),
        problems: Vec::new(),
    };
    let mut last = None;
    for item in received {
        let k = key(item);
        let slot = match slots.get_mut(&k) {
            None => {
                d.unexpected += 1;
                note(&mut d.problems, format!("unexpected: {}", describe(&k)));
                None
            }
            Some(free) => match free.pop_front() {
                None => {
                    d.duplicates += 1;
                    note(&mut d.problems, format!("duplicate: {}", describe(&k)));
                    None
                }
                Some(pos) => {
                    d.matched += 1;
                    if order == Order::Kept && last.is_some_and(|l| pos < l) {
                        d.in_order = false;
                        note(&mut d.problems, format!("item {pos} arrived after item {}", last.unwrap_or_default()));
                    }
                    last = Some(pos);
                    Some(pos)
                }
            },
        };
        d.matches.push(slot);
    }
    let mut lost: Vec<usize> = slots.into_values().flatten().collect();
    lost.sort_unstable();
    d.lost = lost.len();
    for i in lost {
        note(&mut d.problems, format!("lost: {}", describe(&expected[i])));
    }
    d
}

fn note(problems: &mut Vec<String>, problem: String) {
    if problems.len() < MAX_PROBLEMS {
        problems.push(problem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expected: &[u32], got: &[u32], order: Order) -> Delivery {
        check(expected, got, |&x| x, order)
    }

    #[test]
    fn exactly_the_expected_in_order_passes() {
        let d = run(&[1, 2, 3], &[1, 2, 3], Order::Kept);
        assert!(d.passed(), "{d:?}");
        assert_eq!(d.matches, [Some(0), Some(1), Some(2)]);
        assert!(d.problems.is_empty());
    }

    #[test]
    fn loss_duplicates_strangers_and_swaps_are_each_counted() {
        let d = run(&[1, 2, 3, 4], &[2, 1, 2, 9], Order::Kept);
        assert_eq!((d.matched, d.lost, d.duplicates, d.unexpected, d.in_order), (2, 2, 1, 1, false));
        assert_eq!(d.matches, [Some(1), Some(0), None, None]);
        assert_eq!(d.problems, ["item 0 arrived after item 1", "duplicate: 2", "unexpected: 9", "lost: 3", "lost: 4"]);
        assert!(!d.passed());
    }

    #[test]
    fn free_order_forgives_swaps_only() {
        assert!(run(&[1, 2, 3], &[3, 1, 2], Order::Free).passed());
        assert!(!run(&[1, 2, 3], &[3, 1], Order::Free).passed());
    }

    #[test]
    fn a_key_expected_twice_wants_two_copies() {
        let d = run(&[7, 7], &[7], Order::Kept);
        assert_eq!((d.matched, d.lost, d.duplicates), (1, 1, 0));
        assert!(run(&[7, 7], &[7, 7], Order::Kept).passed());
        assert_eq!(run(&[7, 7], &[7, 7, 7], Order::Kept).duplicates, 1);
    }

    #[test]
    fn problems_stop_at_the_cap_but_counts_do_not() {
        let got: Vec<u32> = (100..120).collect();
        let d = run(&[], &got, Order::Kept);
        assert_eq!((d.unexpected, d.problems.len()), (20, MAX_PROBLEMS));
    }
}
