//! Mirror of `module/uapi/kulink.h`. `tests/uapi_header.rs` compiles the
//! header and fails on any value or layout that differs from this file.

pub const GENL_NAME: &str = "kulink";
pub const GENL_VERSION: u8 = 1;
pub const MCGRP_EVENTS: &str = "events";
pub const MAX_SUBSCRIBERS: usize = 16;

pub const CMD_EVENT: u8 = 1;
pub const CMD_SUBSCRIBE: u8 = 2;
pub const CMD_UNSUBSCRIBE: u8 = 3;
pub const CMD_GET_STATS: u8 = 4;

pub const A_EVENT: u16 = 1;
pub const A_STATS: u16 = 2;

pub const EV_SEQ: u16 = 1;
pub const EV_TSTAMP_NS: u16 = 2;
pub const EV_IFINDEX: u16 = 3;
pub const EV_SADDR: u16 = 4;
pub const EV_DADDR: u16 = 5;
pub const EV_TYPE: u16 = 6;
pub const EV_CODE: u16 = 7;
pub const EV_ECHO_ID: u16 = 8;
pub const EV_ECHO_SEQ: u16 = 9;
pub const EV_LEN: u16 = 10;
pub const EV_FLAGS: u16 = 11;
pub const EV_PAD: u16 = 12;

pub const EVF_SYNTHETIC: u32 = 1;

pub const STAT_PACKETS_SEEN: u16 = 1;
pub const STAT_ICMP_SEEN: u16 = 2;
pub const STAT_ICMP_TRUNCATED: u16 = 3;
pub const STAT_EVENTS_BUILT: u16 = 4;
pub const STAT_MCAST_SENT: u16 = 5;
pub const STAT_MCAST_NO_LISTENER: u16 = 6;
pub const STAT_MCAST_FAILED: u16 = 7;
pub const STAT_UNICAST_SENT: u16 = 8;
pub const STAT_UNICAST_FAILED: u16 = 9;
pub const STAT_SUBSCRIBERS: u16 = 10;
pub const STAT_SUBSCRIBERS_CLOSED: u16 = 11;
pub const STAT_PAD: u16 = 12;

/// `struct kulink_event`: the fixed-layout binary record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    pub seq: u64,
    pub tstamp_ns: u64,
    pub ifindex: u32,
    /// Network byte order, as in the header.
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub len: u32,
    pub flags: u32,
    pub echo_id: u16,
    pub echo_seq: u16,
    pub icmp_type: u8,
    pub code: u8,
    pub reserved: [u8; 6],
}

/// Every named value above, as the header spells it, for the header test.
pub const CONSTANTS: &[(&str, u64)] = &[
    ("KULINK_GENL_VERSION", GENL_VERSION as u64),
    ("KULINK_MAX_SUBSCRIBERS", MAX_SUBSCRIBERS as u64),
    ("KULINK_CMD_EVENT", CMD_EVENT as u64),
    ("KULINK_CMD_SUBSCRIBE", CMD_SUBSCRIBE as u64),
    ("KULINK_CMD_UNSUBSCRIBE", CMD_UNSUBSCRIBE as u64),
    ("KULINK_CMD_GET_STATS", CMD_GET_STATS as u64),
    ("KULINK_CMD_MAX", CMD_GET_STATS as u64),
    ("KULINK_A_EVENT", A_EVENT as u64),
    ("KULINK_A_STATS", A_STATS as u64),
    ("KULINK_A_MAX", A_STATS as u64),
    ("KULINK_EV_SEQ", EV_SEQ as u64),
    ("KULINK_EV_TSTAMP_NS", EV_TSTAMP_NS as u64),
    ("KULINK_EV_IFINDEX", EV_IFINDEX as u64),
    ("KULINK_EV_SADDR", EV_SADDR as u64),
    ("KULINK_EV_DADDR", EV_DADDR as u64),
    ("KULINK_EV_TYPE", EV_TYPE as u64),
    ("KULINK_EV_CODE", EV_CODE as u64),
    ("KULINK_EV_ECHO_ID", EV_ECHO_ID as u64),
    ("KULINK_EV_ECHO_SEQ", EV_ECHO_SEQ as u64),
    ("KULINK_EV_LEN", EV_LEN as u64),
    ("KULINK_EV_FLAGS", EV_FLAGS as u64),
    ("KULINK_EV_PAD", EV_PAD as u64),
    ("KULINK_EV_MAX", EV_PAD as u64),
    ("KULINK_EVF_SYNTHETIC", EVF_SYNTHETIC as u64),
    ("KULINK_STAT_PACKETS_SEEN", STAT_PACKETS_SEEN as u64),
    ("KULINK_STAT_ICMP_SEEN", STAT_ICMP_SEEN as u64),
    ("KULINK_STAT_ICMP_TRUNCATED", STAT_ICMP_TRUNCATED as u64),
    ("KULINK_STAT_EVENTS_BUILT", STAT_EVENTS_BUILT as u64),
    ("KULINK_STAT_MCAST_SENT", STAT_MCAST_SENT as u64),
    ("KULINK_STAT_MCAST_NO_LISTENER", STAT_MCAST_NO_LISTENER as u64),
    ("KULINK_STAT_MCAST_FAILED", STAT_MCAST_FAILED as u64),
    ("KULINK_STAT_UNICAST_SENT", STAT_UNICAST_SENT as u64),
    ("KULINK_STAT_UNICAST_FAILED", STAT_UNICAST_FAILED as u64),
    ("KULINK_STAT_SUBSCRIBERS", STAT_SUBSCRIBERS as u64),
    ("KULINK_STAT_SUBSCRIBERS_CLOSED", STAT_SUBSCRIBERS_CLOSED as u64),
    ("KULINK_STAT_PAD", STAT_PAD as u64),
    ("KULINK_STAT_MAX", STAT_PAD as u64),
];

/// String constants of the header, for the same test.
pub const STRINGS: &[(&str, &str)] = &[("KULINK_GENL_NAME", GENL_NAME), ("KULINK_MCGRP_EVENTS", MCGRP_EVENTS)];

/// `(field, offset)` of `struct kulink_event`, plus its size, for the same test.
pub fn raw_event_layout() -> (usize, Vec<(&'static str, usize)>) {
    use std::mem::{offset_of, size_of};
    let fields = vec![
        ("seq", offset_of!(RawEvent, seq)),
        ("tstamp_ns", offset_of!(RawEvent, tstamp_ns)),
        ("ifindex", offset_of!(RawEvent, ifindex)),
        ("saddr", offset_of!(RawEvent, saddr)),
        ("daddr", offset_of!(RawEvent, daddr)),
        ("len", offset_of!(RawEvent, len)),
        ("flags", offset_of!(RawEvent, flags)),
        ("echo_id", offset_of!(RawEvent, echo_id)),
        ("echo_seq", offset_of!(RawEvent, echo_seq)),
        ("type", offset_of!(RawEvent, icmp_type)),
        ("code", offset_of!(RawEvent, code)),
        ("reserved", offset_of!(RawEvent, reserved)),
    ];
    (size_of::<RawEvent>(), fields)
}
