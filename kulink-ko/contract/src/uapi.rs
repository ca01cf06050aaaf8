//! Mirror of `module/uapi/kulink.h`. `tests/uapi_header.rs` compiles the
//! header and fails on any value or layout that differs from this file.
//! The structs derive zerocopy's traits, which prove at compile time that
//! they have no padding and that any bytes are a valid value: records are
//! read with `FromBytes` and written with `IntoBytes`.

pub use zerocopy::{FromBytes, IntoBytes};
use zerocopy::{Immutable, KnownLayout};

pub const GENL_NAME: &str = "kulink";
pub const GENL_VERSION: u8 = 1;
pub const MCGRP_EVENTS: &str = "events";
pub const MCGRP_RELAY: &str = "relay";
pub const MAX_SUBSCRIBERS: usize = 16;
/// Usermode helper runs per second at load (sysctl `umh_rate`).
pub const UMH_RATE_DEFAULT: u16 = 100;

/// Upper limits of the /proc/sys/kulink knobs, enforced on write.
pub const BATCH_MAX: u32 = 128;
pub const RING_PAGES_MAX: u32 = 256;
pub const UMH_RATE_MAX: u32 = 1000;

pub const CMD_EVENT: u8 = 1;
pub const CMD_SUBSCRIBE: u8 = 2;
pub const CMD_UNSUBSCRIBE: u8 = 3;
pub const CMD_GET_STATS: u8 = 4;
pub const CMD_GENERATE: u8 = 5;

pub const A_EVENT: u16 = 1;
pub const A_STATS: u16 = 2;
pub const A_GEN_COUNT: u16 = 3;
pub const A_GEN_RATE: u16 = 4;
pub const A_GEN_CHANNELS: u16 = 5;

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

/// ICMP types below this can be reported (bits of the icmp_types sysctl).
pub const ICMP_TYPES: u8 = 32;

/// ICMP types whose header carries an identifier and a sequence number,
/// a bit per type: echo reply, echo, timestamp, timestamp reply.
pub const ICMP_ID_SEQ_TYPES: u32 = (1 << 0) | (1 << 8) | (1 << 13) | (1 << 14);

/// Does an event of this ICMP type carry the header's id and sequence?
pub fn icmp_has_id_seq(icmp_type: u8) -> bool {
    icmp_type < ICMP_TYPES && ICMP_ID_SEQ_TYPES & (1 << icmp_type) != 0
}

pub const EVF_SYNTHETIC: u32 = 1;
/// The event came from the generator (`CMD_GENERATE`).
pub const EVF_GENERATED: u32 = 1 << 1;

/// Where a generated event goes, a bit per group of channels.
pub const CHAN_NETLINK: u32 = 1;
pub const CHAN_LOG: u32 = 1 << 1;
pub const CHAN_CHARDEV: u32 = 1 << 2;
pub const CHAN_RELAY: u32 = 1 << 3;
pub const CHAN_UMH: u32 = 1 << 4;
pub const CHAN_ALL: u32 = 0x1f;

/// Limits of one generator run.
pub const GEN_COUNT_MAX: u32 = 10_000_000;
pub const GEN_RATE_MAX: u32 = 10_000_000;

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
pub const STAT_FILTERED: u16 = 13;
pub const STAT_SYNTHETIC: u16 = 14;
pub const STAT_CHARDEV_QUEUED: u16 = 15;
pub const STAT_CHARDEV_DROPPED: u16 = 16;
pub const STAT_RING_WRITTEN: u16 = 17;
pub const STAT_RING_OVERFLOW: u16 = 18;
pub const STAT_SIGIO_SENT: u16 = 19;
pub const STAT_SIGRT_SENT: u16 = 20;
pub const STAT_SIGRT_FAILED: u16 = 21;
pub const STAT_RELAY_SENT: u16 = 22;
pub const STAT_RELAY_DROPPED: u16 = 23;
pub const STAT_UMH_RUN: u16 = 24;
pub const STAT_UMH_LIMITED: u16 = 25;
pub const STAT_UMH_FAILED: u16 = 26;
pub const STAT_GENERATED: u16 = 27;
pub const STAT_MCAST_EVENTS_FAILED: u16 = 28;
pub const STAT_MAX: u16 = 28;

/// `KULINK_EVENT_TEXT_FMT`, the text form of an event (see `Event::parse_text`).
pub const EVENT_TEXT_FMT: &str =
    "seq=%llu ts=%llu ifindex=%u src=%u.%u.%u.%u dst=%u.%u.%u.%u type=%u code=%u id=%u echo_seq=%u len=%u flags=%u\n";

const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((IOC_MAGIC as u32) << 8) | nr
}
pub const IOC_MAGIC: u8 = 0xB8;
pub const IOC_GET_STATS: u32 = ioc(IOC_READ, 1, std::mem::size_of::<RawStats>());
pub const IOC_SET_FILTER: u32 = ioc(IOC_WRITE, 2, 4);
pub const IOC_GET_FILTER: u32 = ioc(IOC_READ, 3, 4);
pub const IOC_RESET: u32 = ioc(0, 4, 0);
pub const IOC_SET_SIGNAL: u32 = ioc(IOC_WRITE, 5, 4);
pub const IOC_GET_DROPPED: u32 = ioc(IOC_READ, 6, 8);
/// Every ioctl of /dev/kulink.
pub const IOCTLS: [u32; 6] =
    [IOC_GET_STATS, IOC_SET_FILTER, IOC_GET_FILTER, IOC_RESET, IOC_SET_SIGNAL, IOC_GET_DROPPED];

pub const RING_VERSION: u32 = 1;

pub const SO_BASE: i32 = 3200;
pub const SO_SET_MSG: i32 = SO_BASE;
pub const SO_GET_MSG: i32 = SO_BASE;
pub const SO_GET_STATS: i32 = SO_BASE + 1;
pub const SO_MAX: i32 = SO_BASE + 1;
pub const SO_MSG_MAX: usize = 128;
pub const SO_REPLY: &str = "a message from kernel";

pub const UMH_PATH: &str = "/sbin/kulink-notify";

/// `struct kulink_event`: the fixed-layout binary record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
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
    ("KULINK_UMH_RATE_DEFAULT", UMH_RATE_DEFAULT as u64),
    ("KULINK_BATCH_MAX", BATCH_MAX as u64),
    ("KULINK_RING_PAGES_MAX", RING_PAGES_MAX as u64),
    ("KULINK_UMH_RATE_MAX", UMH_RATE_MAX as u64),
    ("KULINK_CMD_EVENT", CMD_EVENT as u64),
    ("KULINK_CMD_SUBSCRIBE", CMD_SUBSCRIBE as u64),
    ("KULINK_CMD_UNSUBSCRIBE", CMD_UNSUBSCRIBE as u64),
    ("KULINK_CMD_GET_STATS", CMD_GET_STATS as u64),
    ("KULINK_CMD_GENERATE", CMD_GENERATE as u64),
    ("KULINK_CMD_MAX", CMD_GENERATE as u64),
    ("KULINK_A_EVENT", A_EVENT as u64),
    ("KULINK_A_STATS", A_STATS as u64),
    ("KULINK_A_GEN_COUNT", A_GEN_COUNT as u64),
    ("KULINK_A_GEN_RATE", A_GEN_RATE as u64),
    ("KULINK_A_GEN_CHANNELS", A_GEN_CHANNELS as u64),
    ("KULINK_A_MAX", A_GEN_CHANNELS as u64),
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
    ("KULINK_ICMP_TYPES", ICMP_TYPES as u64),
    ("KULINK_ICMP_ID_SEQ_TYPES", ICMP_ID_SEQ_TYPES as u64),
    ("KULINK_EVF_SYNTHETIC", EVF_SYNTHETIC as u64),
    ("KULINK_EVF_GENERATED", EVF_GENERATED as u64),
    ("KULINK_CHAN_NETLINK", CHAN_NETLINK as u64),
    ("KULINK_CHAN_LOG", CHAN_LOG as u64),
    ("KULINK_CHAN_CHARDEV", CHAN_CHARDEV as u64),
    ("KULINK_CHAN_RELAY", CHAN_RELAY as u64),
    ("KULINK_CHAN_UMH", CHAN_UMH as u64),
    ("KULINK_CHAN_ALL", CHAN_ALL as u64),
    ("KULINK_GEN_COUNT_MAX", GEN_COUNT_MAX as u64),
    ("KULINK_GEN_RATE_MAX", GEN_RATE_MAX as u64),
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
    ("KULINK_STAT_FILTERED", STAT_FILTERED as u64),
    ("KULINK_STAT_SYNTHETIC", STAT_SYNTHETIC as u64),
    ("KULINK_STAT_CHARDEV_QUEUED", STAT_CHARDEV_QUEUED as u64),
    ("KULINK_STAT_CHARDEV_DROPPED", STAT_CHARDEV_DROPPED as u64),
    ("KULINK_STAT_RING_WRITTEN", STAT_RING_WRITTEN as u64),
    ("KULINK_STAT_RING_OVERFLOW", STAT_RING_OVERFLOW as u64),
    ("KULINK_STAT_SIGIO_SENT", STAT_SIGIO_SENT as u64),
    ("KULINK_STAT_SIGRT_SENT", STAT_SIGRT_SENT as u64),
    ("KULINK_STAT_SIGRT_FAILED", STAT_SIGRT_FAILED as u64),
    ("KULINK_STAT_RELAY_SENT", STAT_RELAY_SENT as u64),
    ("KULINK_STAT_RELAY_DROPPED", STAT_RELAY_DROPPED as u64),
    ("KULINK_STAT_UMH_RUN", STAT_UMH_RUN as u64),
    ("KULINK_STAT_UMH_LIMITED", STAT_UMH_LIMITED as u64),
    ("KULINK_STAT_UMH_FAILED", STAT_UMH_FAILED as u64),
    ("KULINK_STAT_GENERATED", STAT_GENERATED as u64),
    ("KULINK_STAT_MCAST_EVENTS_FAILED", STAT_MCAST_EVENTS_FAILED as u64),
    ("KULINK_STAT_MAX", STAT_MAX as u64),
    ("KULINK_IOC_MAGIC", IOC_MAGIC as u64),
    ("KULINK_IOC_GET_STATS", IOC_GET_STATS as u64),
    ("KULINK_IOC_SET_FILTER", IOC_SET_FILTER as u64),
    ("KULINK_IOC_GET_FILTER", IOC_GET_FILTER as u64),
    ("KULINK_IOC_RESET", IOC_RESET as u64),
    ("KULINK_IOC_SET_SIGNAL", IOC_SET_SIGNAL as u64),
    ("KULINK_IOC_GET_DROPPED", IOC_GET_DROPPED as u64),
    ("KULINK_RING_VERSION", RING_VERSION as u64),
    ("KULINK_SO_BASE", SO_BASE as u64),
    ("KULINK_SO_SET_MSG", SO_SET_MSG as u64),
    ("KULINK_SO_GET_MSG", SO_GET_MSG as u64),
    ("KULINK_SO_GET_STATS", SO_GET_STATS as u64),
    ("KULINK_SO_MAX", SO_MAX as u64),
    ("KULINK_SO_MSG_MAX", SO_MSG_MAX as u64),
];

/// String constants of the header, for the same test.
pub const STRINGS: &[(&str, &str)] = &[
    ("KULINK_GENL_NAME", GENL_NAME),
    ("KULINK_MCGRP_EVENTS", MCGRP_EVENTS),
    ("KULINK_MCGRP_RELAY", MCGRP_RELAY),
    ("KULINK_EVENT_TEXT_FMT", EVENT_TEXT_FMT),
    ("KULINK_SO_REPLY", SO_REPLY),
    ("KULINK_UMH_PATH", UMH_PATH),
];

/// `struct kulink_stats_rec`: every counter, in `KULINK_STAT_*` order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RawStats {
    pub packets_seen: u64,
    pub icmp_seen: u64,
    pub icmp_truncated: u64,
    pub events_built: u64,
    pub mcast_sent: u64,
    pub mcast_no_listener: u64,
    pub mcast_failed: u64,
    pub unicast_sent: u64,
    pub unicast_failed: u64,
    pub subscribers: u64,
    pub subscribers_closed: u64,
    pub filtered: u64,
    pub synthetic: u64,
    pub chardev_queued: u64,
    pub chardev_dropped: u64,
    pub ring_written: u64,
    pub ring_overflow: u64,
    pub sigio_sent: u64,
    pub sigrt_sent: u64,
    pub sigrt_failed: u64,
    pub relay_sent: u64,
    pub relay_dropped: u64,
    pub umh_run: u64,
    pub umh_limited: u64,
    pub umh_failed: u64,
    pub generated: u64,
    pub mcast_events_failed: u64,
}

/// `struct kulink_ring_header`: the first page of the mmap ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RingHeader {
    pub version: u32,
    pub record_size: u32,
    pub capacity: u32,
    pub data_offset: u32,
    pub head: u64,
    pub tail: u64,
    pub overflow: u64,
}

/// A C struct's size and some of its fields' offsets, for the header test.
pub struct Layout {
    pub name: &'static str,
    pub size: usize,
    pub fields: Vec<(&'static str, usize)>,
}

pub fn layouts() -> Vec<Layout> {
    use std::mem::{offset_of, size_of};
    let (event_size, event_fields) = raw_event_layout();
    vec![
        Layout { name: "kulink_event", size: event_size, fields: event_fields },
        Layout {
            name: "kulink_ring_header",
            size: size_of::<RingHeader>(),
            fields: vec![
                ("version", offset_of!(RingHeader, version)),
                ("record_size", offset_of!(RingHeader, record_size)),
                ("capacity", offset_of!(RingHeader, capacity)),
                ("data_offset", offset_of!(RingHeader, data_offset)),
                ("head", offset_of!(RingHeader, head)),
                ("tail", offset_of!(RingHeader, tail)),
                ("overflow", offset_of!(RingHeader, overflow)),
            ],
        },
        Layout {
            name: "kulink_stats_rec",
            size: size_of::<RawStats>(),
            fields: vec![
                ("packets_seen", offset_of!(RawStats, packets_seen)),
                ("subscribers", offset_of!(RawStats, subscribers)),
                ("filtered", offset_of!(RawStats, filtered)),
                ("ring_overflow", offset_of!(RawStats, ring_overflow)),
                ("umh_failed", offset_of!(RawStats, umh_failed)),
                ("generated", offset_of!(RawStats, generated)),
            ],
        },
    ]
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_and_timestamp_types_carry_id_and_seq() {
        let carrying: Vec<u8> = (0..=u8::MAX).filter(|&t| icmp_has_id_seq(t)).collect();
        assert_eq!(carrying, [0, 8, 13, 14]);
    }

    #[test]
    fn records_round_trip_through_bytes() {
        let ev = RawEvent { seq: 9, saddr: [192, 0, 2, 1], icmp_type: 8, ..Default::default() };
        let bytes = ev.as_bytes().to_vec();
        assert_eq!(bytes.len(), 48);
        assert_eq!(RawEvent::read_from_bytes(&bytes).ok(), Some(ev));
        assert_eq!(RawEvent::read_from_bytes(&bytes[..47]).ok(), None);
        // Unaligned input is fine.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        assert_eq!(RawEvent::read_from_bytes(&shifted[1..]).ok(), Some(ev));
    }

    #[test]
    fn ioctl_numbers_follow_the_asm_generic_encoding() {
        // _IOR(0xB8, 1, 216-byte struct): read bit, size, magic, number.
        assert_eq!(IOC_GET_STATS, (2 << 30) | (216 << 16) | (0xB8 << 8) | 1);
        assert_eq!(IOC_RESET, (0xB8 << 8) | 4);
    }
}
