//! `kulink bench`: figures a person compares, measured on real kernels in
//! one run: how fast a guest boots (`boot`), how fast each of kulink.ko's
//! channels carries events to user space (`channels`), kulink against
//! virtme-ng (`vng`), and all of it with its targets (`summary`) as a
//! table, JSON and a chart (`chart`).

pub mod boot;
pub mod channels;
pub mod chart;
pub mod frames;
pub mod summary;
pub mod vng;

pub use boot::{boot, Boot, BootBench, Silence, Step};
pub use channels::{channels, ChannelBench, ChannelPlan, Measured, Ratios};
pub use summary::{summary, Summary, SummaryPlan};

/// The index of the item whose key is the median (the lower one of an
/// even count).
pub(crate) fn median_index<T>(items: &[T], key: impl Fn(&T) -> u64) -> Option<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| key(&items[i]));
    order.get(items.len().checked_sub(1)? / 2).copied()
}

/// The median of `values` (the lower one of an even count; 0 of none).
pub(crate) fn median(values: impl Iterator<Item = u64>) -> u64 {
    let values: Vec<u64> = values.collect();
    median_index(&values, |v| *v).map_or(0, |i| values[i])
}
