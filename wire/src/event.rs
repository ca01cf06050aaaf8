//! Typed kulink events and statistics, decoded from their netlink attributes.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::genl::{Attrs, DecodeError, MsgBuilder};
use crate::uapi;

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

/// The module's counters for one network namespace (`KULINK_CMD_GET_STATS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
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
}

impl Stats {
    /// Decodes the contents of a `KULINK_A_STATS` nest; unknown counters are
    /// skipped so an older agent can read a newer module.
    pub fn from_attrs(attrs: Attrs<'_>) -> Result<Self, DecodeError> {
        let mut s = Self::default();
        for attr in attrs.iter() {
            let attr = attr?;
            let slot = match attr.kind {
                uapi::STAT_PACKETS_SEEN => &mut s.packets_seen,
                uapi::STAT_ICMP_SEEN => &mut s.icmp_seen,
                uapi::STAT_ICMP_TRUNCATED => &mut s.icmp_truncated,
                uapi::STAT_EVENTS_BUILT => &mut s.events_built,
                uapi::STAT_MCAST_SENT => &mut s.mcast_sent,
                uapi::STAT_MCAST_NO_LISTENER => &mut s.mcast_no_listener,
                uapi::STAT_MCAST_FAILED => &mut s.mcast_failed,
                uapi::STAT_UNICAST_SENT => &mut s.unicast_sent,
                uapi::STAT_UNICAST_FAILED => &mut s.unicast_failed,
                uapi::STAT_SUBSCRIBERS => &mut s.subscribers,
                uapi::STAT_SUBSCRIBERS_CLOSED => &mut s.subscribers_closed,
                _ => continue,
            };
            *slot = attr.u64()?;
        }
        Ok(s)
    }
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
