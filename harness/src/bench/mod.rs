//! `kulink bench`: figures a person compares, measured on real kernels in
//! one run: how fast a guest boots (`boot`) and how fast each of
//! kulink.ko's channels carries events to user space (`channels`).

pub mod boot;
pub mod channels;
pub mod frames;

pub use boot::{boot, Boot, BootBench, Silence, Step};
pub use channels::{channels, ChannelBench, Measured, Plan, Ratios};
