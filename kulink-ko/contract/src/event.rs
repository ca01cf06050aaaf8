//! Typed kulink events and statistics, decoded from their netlink attributes.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::genl::{Attrs, DecodeError, MsgBuilder};
use crate::uapi::{self, RawEvent, RawStats};

/// A text line or file that does not follow kulink's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError(pub String);

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TextError {}

/// One ICMP packet as kulink.ko reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub tstamp_ns: u64,
    pub ifindex: u32,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub icmp_type: u8,
    pub code: u8,
    pub echo_id: u16,
    pub echo_seq: u16,
    pub len: u32,
    pub flags: u32,
}

impl Event {
    /// Decodes the contents of one `KULINK_A_EVENT` nest; every field is required.
    pub fn from_attrs(attrs: Attrs<'_>) -> Result<Self, DecodeError> {
        let get = |kind: u16, name: &'static str| attrs.find(kind)?.ok_or(DecodeError::Missing(name));
        Ok(Self {
            seq: get(uapi::EV_SEQ, "KULINK_EV_SEQ")?.u64()?,
            tstamp_ns: get(uapi::EV_TSTAMP_NS, "KULINK_EV_TSTAMP_NS")?.u64()?,
            ifindex: get(uapi::EV_IFINDEX, "KULINK_EV_IFINDEX")?.u32()?,
            src: get(uapi::EV_SADDR, "KULINK_EV_SADDR")?.bytes4()?.into(),
            dst: get(uapi::EV_DADDR, "KULINK_EV_DADDR")?.bytes4()?.into(),
            icmp_type: get(uapi::EV_TYPE, "KULINK_EV_TYPE")?.u8()?,
            code: get(uapi::EV_CODE, "KULINK_EV_CODE")?.u8()?,
            echo_id: get(uapi::EV_ECHO_ID, "KULINK_EV_ECHO_ID")?.u16()?,
            echo_seq: get(uapi::EV_ECHO_SEQ, "KULINK_EV_ECHO_SEQ")?.u16()?,
            len: get(uapi::EV_LEN, "KULINK_EV_LEN")?.u32()?,
            flags: get(uapi::EV_FLAGS, "KULINK_EV_FLAGS")?.u32()?,
        })
    }

    /// All events in the attributes of one `KULINK_CMD_EVENT` message.
    pub fn all_from_msg(attrs: Attrs<'_>) -> Result<Vec<Self>, DecodeError> {
        let mut events = Vec::new();
        for attr in attrs.iter() {
            let attr = attr?;
            if attr.kind == uapi::A_EVENT {
                events.push(Self::from_attrs(attr.nested())?);
            }
        }
        Ok(events)
    }

    /// Parses one line in `KULINK_EVENT_TEXT_FMT` (procfs, kulinkfs, the
    /// usermode helper's arguments joined by spaces).
    pub fn parse_text(line: &str) -> Result<Self, TextError> {
        let mut fields = std::collections::BTreeMap::new();
        for word in line.split_whitespace() {
            let (key, value) = word.split_once('=').ok_or_else(|| TextError(format!("`{word}` is not key=value")))?;
            fields.insert(key, value);
        }
        fn get<T: std::str::FromStr>(f: &std::collections::BTreeMap<&str, &str>, key: &str) -> Result<T, TextError> {
            let raw = f.get(key).ok_or_else(|| TextError(format!("no `{key}=`")))?;
            raw.parse().map_err(|_| TextError(format!("bad value `{raw}` for `{key}`")))
        }
        Ok(Self {
            seq: get(&fields, "seq")?,
            tstamp_ns: get(&fields, "ts")?,
            ifindex: get(&fields, "ifindex")?,
            src: get(&fields, "src")?,
            dst: get(&fields, "dst")?,
            icmp_type: get(&fields, "type")?,
            code: get(&fields, "code")?,
            echo_id: get(&fields, "id")?,
            echo_seq: get(&fields, "echo_seq")?,
            len: get(&fields, "len")?,
            flags: get(&fields, "flags")?,
        })
    }

    /// From the binary record of `/dev/kulink` and the mmap ring.
    pub fn from_raw(raw: &RawEvent) -> Self {
        Self {
            seq: raw.seq,
            tstamp_ns: raw.tstamp_ns,
            ifindex: raw.ifindex,
            src: raw.saddr.into(),
            dst: raw.daddr.into(),
            icmp_type: raw.icmp_type,
            code: raw.code,
            echo_id: raw.echo_id,
            echo_seq: raw.echo_seq,
            len: raw.len,
            flags: raw.flags,
        }
    }

    /// To the binary record (what a synthetic write sends).
    pub fn to_raw(&self) -> RawEvent {
        RawEvent {
            seq: self.seq,
            tstamp_ns: self.tstamp_ns,
            ifindex: self.ifindex,
            saddr: self.src.octets(),
            daddr: self.dst.octets(),
            len: self.len,
            flags: self.flags,
            echo_id: self.echo_id,
            echo_seq: self.echo_seq,
            icmp_type: self.icmp_type,
            code: self.code,
            reserved: [0; 6],
        }
    }

    /// Encodes the event as the module does (used by tests of the decoder).
    pub fn encode_into(&self, msg: MsgBuilder) -> MsgBuilder {
        msg.begin_nest(uapi::A_EVENT)
            .attr(uapi::EV_SEQ, &self.seq.to_ne_bytes())
            .attr(uapi::EV_TSTAMP_NS, &self.tstamp_ns.to_ne_bytes())
            .attr(uapi::EV_IFINDEX, &self.ifindex.to_ne_bytes())
            .attr(uapi::EV_SADDR, &self.src.octets())
            .attr(uapi::EV_DADDR, &self.dst.octets())
            .attr(uapi::EV_TYPE, &[self.icmp_type])
            .attr(uapi::EV_CODE, &[self.code])
            .attr(uapi::EV_ECHO_ID, &self.echo_id.to_ne_bytes())
            .attr(uapi::EV_ECHO_SEQ, &self.echo_seq.to_ne_bytes())
            .attr(uapi::EV_LEN, &self.len.to_ne_bytes())
            .attr(uapi::EV_FLAGS, &self.flags.to_ne_bytes())
            .end_nest()
    }
}

/// Declares `Stats` once: field, `KULINK_STAT_*` attribute. The order is
/// the order of `struct kulink_stats_rec` and of the text files.
macro_rules! stats {
    ($($field:ident = $attr:ident),* $(,)?) => {
        /// The module's counters for one network namespace (`KULINK_CMD_GET_STATS`,
        /// `/proc/kulink/stats`, kulinkfs `stats`, the ioctl and the sockopt).
        /// A counter missing from JSON is 0: records of runs made before it
        /// existed still load.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Stats {
            $(pub $field: u64,)*
        }

        impl Stats {
            /// Decodes the contents of a `KULINK_A_STATS` nest; unknown counters are
            /// skipped so an older agent can read a newer module.
            pub fn from_attrs(attrs: Attrs<'_>) -> Result<Self, DecodeError> {
                let mut s = Self::default();
                for attr in attrs.iter() {
                    let attr = attr?;
                    match attr.kind {
                        $(uapi::$attr => s.$field = attr.u64()?,)*
                        _ => {}
                    }
                }
                Ok(s)
            }

            pub fn from_raw(raw: &RawStats) -> Self {
                Self { $($field: raw.$field,)* }
            }

            /// Parses "name value" lines; every counter must be there.
            pub fn parse_text(text: &str) -> Result<Self, TextError> {
                let values: std::collections::BTreeMap<&str, &str> =
                    text.lines().filter_map(|l| l.split_once(' ')).map(|(k, v)| (k.trim(), v.trim())).collect();
                let get = |name: &str| -> Result<u64, TextError> {
                    let raw = values.get(name).ok_or_else(|| TextError(format!("no counter `{name}`")))?;
                    raw.parse().map_err(|_| TextError(format!("bad value `{raw}` for `{name}`")))
                };
                Ok(Self { $($field: get(stringify!($field))?,)* })
            }

            /// `(name, value)` of every counter, in order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field),)*]
            }

            /// The counter of this name, if there is one.
            pub fn get(&self, name: &str) -> Option<u64> {
                match name {
                    $(stringify!($field) => Some(self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

stats! {
    packets_seen = STAT_PACKETS_SEEN,
    icmp_seen = STAT_ICMP_SEEN,
    icmp_truncated = STAT_ICMP_TRUNCATED,
    events_built = STAT_EVENTS_BUILT,
    mcast_sent = STAT_MCAST_SENT,
    mcast_no_listener = STAT_MCAST_NO_LISTENER,
    mcast_failed = STAT_MCAST_FAILED,
    unicast_sent = STAT_UNICAST_SENT,
    unicast_failed = STAT_UNICAST_FAILED,
    subscribers = STAT_SUBSCRIBERS,
    subscribers_closed = STAT_SUBSCRIBERS_CLOSED,
    filtered = STAT_FILTERED,
    synthetic = STAT_SYNTHETIC,
    chardev_queued = STAT_CHARDEV_QUEUED,
    chardev_dropped = STAT_CHARDEV_DROPPED,
    ring_written = STAT_RING_WRITTEN,
    ring_overflow = STAT_RING_OVERFLOW,
    sigio_sent = STAT_SIGIO_SENT,
    sigrt_sent = STAT_SIGRT_SENT,
    sigrt_failed = STAT_SIGRT_FAILED,
    relay_sent = STAT_RELAY_SENT,
    relay_dropped = STAT_RELAY_DROPPED,
    umh_run = STAT_UMH_RUN,
    umh_limited = STAT_UMH_LIMITED,
    umh_failed = STAT_UMH_FAILED,
    generated = STAT_GENERATED,
    mcast_events_failed = STAT_MCAST_EVENTS_FAILED,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genl::messages;

    fn sample() -> Event {
        Event {
            seq: 42,
            tstamp_ns: 1_234_567_890,
            ifindex: 2,
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 15),
            icmp_type: 8,
            code: 0,
            echo_id: 0x1234,
            echo_seq: 7,
            len: 84,
            flags: 0,
        }
    }

    #[test]
    fn event_round_trips_through_attributes() {
        let ev = sample();
        let mut other = ev;
        other.seq = 43;
        let msg = other.encode_into(ev.encode_into(MsgBuilder::new(0x20, 0, 0, uapi::CMD_EVENT, 1))).finish();
        let m = messages(&msg).next().unwrap().unwrap();
        let (cmd, attrs) = m.genl().unwrap();
        assert_eq!(cmd, uapi::CMD_EVENT);
        assert_eq!(Event::all_from_msg(attrs).unwrap(), vec![ev, other]);
    }

    #[test]
    fn event_missing_a_field_is_an_error() {
        let msg = MsgBuilder::new(0x20, 0, 0, uapi::CMD_EVENT, 1)
            .begin_nest(uapi::A_EVENT)
            .attr(uapi::EV_SEQ, &1u64.to_ne_bytes())
            .end_nest()
            .finish();
        let m = messages(&msg).next().unwrap().unwrap();
        let err = Event::all_from_msg(m.genl().unwrap().1).unwrap_err();
        assert_eq!(err, DecodeError::Missing("KULINK_EV_TSTAMP_NS"));
    }

    #[test]
    fn event_text_round_trips_and_rejects_garbage() {
        let ev = sample();
        let line = format!(
            "seq={} ts={} ifindex={} src={} dst={} type={} code={} id={} echo_seq={} len={} flags={}\n",
            ev.seq,
            ev.tstamp_ns,
            ev.ifindex,
            ev.src,
            ev.dst,
            ev.icmp_type,
            ev.code,
            ev.echo_id,
            ev.echo_seq,
            ev.len,
            ev.flags
        );
        assert_eq!(Event::parse_text(&line).unwrap(), ev);
        assert!(Event::parse_text("seq=1 ts=2").is_err());
        assert!(Event::parse_text(&line.replace("type=8", "type=800")).is_err());
        assert!(Event::parse_text("garbage").is_err());
    }

    #[test]
    fn raw_records_round_trip() {
        let ev = sample();
        assert_eq!(Event::from_raw(&ev.to_raw()), ev);
        assert_eq!(ev.to_raw().saddr, [192, 0, 2, 1], "addresses stay in network order");
    }

    #[test]
    fn stats_text_needs_every_counter() {
        let s = Stats { events_built: 7, umh_failed: 2, ..Default::default() };
        let text: String = s.fields().iter().map(|(k, v)| format!("{k:<20} {v}\n")).collect();
        assert_eq!(Stats::parse_text(&text).unwrap(), s);
        assert!(Stats::parse_text("events_built 7\n").is_err());
    }

    #[test]
    fn stats_skip_unknown_counters() {
        let msg = MsgBuilder::new(0x20, 0, 0, uapi::CMD_GET_STATS, 1)
            .begin_nest(uapi::A_STATS)
            .attr(uapi::STAT_EVENTS_BUILT, &5u64.to_ne_bytes())
            .attr(999, &1u64.to_ne_bytes())
            .attr(uapi::STAT_SUBSCRIBERS, &2u64.to_ne_bytes())
            .end_nest()
            .finish();
        let m = messages(&msg).next().unwrap().unwrap();
        let nest = m.genl().unwrap().1.find(uapi::A_STATS).unwrap().unwrap();
        let s = Stats::from_attrs(nest.nested()).unwrap();
        assert_eq!((s.events_built, s.subscribers, s.packets_seen), (5, 2, 0));
    }
}
