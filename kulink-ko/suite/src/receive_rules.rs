//! What becomes of a frame the peer sends to the guest's `eth0`: the
//! kernel's receive checks up to `NF_INET_PRE_ROUTING` (in the order
//! `__netif_receive_skb_core` and `ip_rcv_core` make them), then what
//! kulink.ko's hook does with what reaches it. The README lists the same
//! rules for people; the malformed corpus ([`crate::corpus`]) states each
//! frame's fate independently, and a test holds the two together.

use std::net::Ipv4Addr;

use kulink_ko_contract::uapi;
use serde::{Deserialize, Serialize};

const ETH_HEADER: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPV4_MIN_HEADER: usize = 20;
const IP_OFFSET_MASK: u16 = 0x1fff;
const IPPROTO_ICMP: u8 = 1;
const ICMP_HEADER: usize = 8;

/// The fields of an event the harness can predict from the frame it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Expected {
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Echo identifier (0 for other types).
    pub echo_id: u16,
    /// Echo sequence number (0 for other types).
    pub echo_seq: u16,
    /// IPv4 total length.
    pub len: u32,
}

/// As a person reads it: `ICMP 8/0 10.0.0.1 -> 10.0.0.2, echo 7 seq 1, 84 bytes`.
impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ICMP {}/{} {} -> {}", self.icmp_type, self.code, self.src, self.dst)?;
        if self.echo_id != 0 || self.echo_seq != 0 {
            write!(f, ", echo {} seq {}", self.echo_id, self.echo_seq)?;
        }
        write!(f, ", {} bytes", self.len)
    }
}

impl Expected {
    /// The predictable fields of an event kulink.ko reported.
    pub fn of(ev: &kulink_ko_contract::Event) -> Self {
        Self {
            src: ev.src,
            dst: ev.dst,
            icmp_type: ev.icmp_type,
            code: ev.code,
            echo_id: ev.echo_id,
            echo_seq: ev.echo_seq,
            len: ev.len,
        }
    }
}

/// What the kernel and kulink.ko make of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Never reaches kulink.ko's hook: not IPv4, or dropped by the kernel
    /// before `PRE_ROUTING`, for this reason.
    Dropped(&'static str),
    /// Reaches the hook, which reports nothing, for this reason.
    Ignored(&'static str),
    /// Reaches the hook as ICMP too short for its 8-byte header: counted in
    /// `icmp_truncated`, no event.
    Truncated,
    /// Reported as this event on every channel.
    Reported(Expected),
}

impl Fate {
    /// Of a frame as the guest's NIC receives it.
    pub fn of(frame: &[u8]) -> Self {
        let Some(ethertype) = frame.get(12..ETH_HEADER).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            return Self::Dropped("shorter than an Ethernet header");
        };
        let ip = match ethertype {
            ETHERTYPE_IPV4 => &frame[ETH_HEADER..],
            // virtio-net passes a tagged frame only for a VLAN the guest
            // registered (VLAN 0 too: the 8021q module registers it); the
            // testbed's guests register none.
            ETHERTYPE_VLAN => return Self::Dropped("a VLAN the guest's NIC does not take"),
            _ => return Self::Dropped("not IPv4"),
        };
        Self::of_ipv4(ip)
    }

    /// Of an IPv4 packet (with whatever trails it in the frame).
    fn of_ipv4(ip: &[u8]) -> Self {
        if ip.len() < IPV4_MIN_HEADER {
            return Self::Dropped("shorter than an IPv4 header");
        }
        let (version, ihl) = (ip[0] >> 4, usize::from(ip[0] & 0x0f) * 4);
        if version != 4 {
            return Self::Dropped("IP version is not 4");
        }
        if ihl < IPV4_MIN_HEADER {
            return Self::Dropped("IHL below 5");
        }
        if ihl > ip.len() {
            return Self::Dropped("IHL beyond the packet");
        }
        if !header_checksum_holds(&ip[..ihl]) {
            return Self::Dropped("bad IPv4 header checksum");
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if total > ip.len() {
            return Self::Dropped("total length beyond the frame");
        }
        if total < ihl {
            return Self::Dropped("total length inside the header");
        }
        // The kernel trims what follows the total length.
        let ip = &ip[..total];
        if ip[9] != IPPROTO_ICMP {
            return Self::Ignored("not ICMP");
        }
        if u16::from_be_bytes([ip[6], ip[7]]) & IP_OFFSET_MASK != 0 {
            return Self::Ignored("a later fragment");
        }
        let icmp = &ip[ihl..];
        if icmp.len() < ICMP_HEADER {
            return Self::Truncated;
        }
        // kulink.ko's icmp_types filter has a bit for each type below 32
        // (all set at load); higher types are counted as filtered.
        if icmp[0] >= uapi::ICMP_TYPES {
            return Self::Ignored("ICMP type 32 or above (filtered)");
        }
        let carries_id = uapi::icmp_has_id_seq(icmp[0]);
        let word = |i: usize| if carries_id { u16::from_be_bytes([icmp[i], icmp[i + 1]]) } else { 0 };
        let address = |i: usize| Ipv4Addr::new(ip[i], ip[i + 1], ip[i + 2], ip[i + 3]);
        Self::Reported(Expected {
            src: address(12),
            dst: address(16),
            icmp_type: icmp[0],
            code: icmp[1],
            echo_id: word(4),
            echo_seq: word(6),
            len: total as u32,
        })
    }

    /// The event kulink.ko reports for the frame, if any.
    pub fn event(&self) -> Option<Expected> {
        match self {
            Self::Reported(e) => Some(*e),
            _ => None,
        }
    }

    /// The frame reaches kulink.ko's hook (`packets_seen` counts it).
    pub fn reaches_hook(&self) -> bool {
        !matches!(self, Self::Dropped(_))
    }

    /// One line for people: `reported`, `truncated ICMP`, or what dropped
    /// or ignored it.
    pub fn class(&self) -> String {
        match self {
            Self::Dropped(why) => format!("dropped: {why}"),
            Self::Ignored(why) => format!("no event: {why}"),
            Self::Truncated => "no event: truncated ICMP (counted)".into(),
            Self::Reported(_) => "reported".into(),
        }
    }
}

/// The one's-complement sum of the header, its checksum field included,
/// is all ones (as `ip_fast_csum` checks it): the checksum over every word,
/// none skipped, is zero.
fn header_checksum_holds(header: &[u8]) -> bool {
    pnet_packet::util::checksum(header, header.len() / 2) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use kulink::testbed::frames::{self, Wire};

    #[test]
    fn well_formed_frames_get_the_fate_the_plans_always_gave_them() {
        let wire = Wire::default();
        let echo = Fate::of(&frames::echo_request(&wire, 0x1234, 7, 56));
        let want = Expected {
            src: wire.peer_ip,
            dst: wire.guest_ip,
            icmp_type: 8,
            code: 0,
            echo_id: 0x1234,
            echo_seq: 7,
            len: 20 + 8 + 56,
        };
        assert_eq!(echo, Fate::Reported(want));
        assert_eq!(Fate::of(&frames::udp_datagram(&wire, 9, b"x")), Fate::Ignored("not ICMP"));
        assert_eq!(Fate::of(&frames::arp_probe(&wire)), Fate::Dropped("not IPv4"));
        assert_eq!(Fate::of(&frames::truncated_icmp(&wire)), Fate::Truncated);
        assert!(Fate::Truncated.reaches_hook() && !Fate::Dropped("x").reaches_hook());
    }

    #[test]
    fn a_header_checksum_is_checked_over_the_whole_header() {
        let wire = Wire::default();
        let mut frame = frames::echo_request(&wire, 1, 1, 8);
        assert!(header_checksum_holds(&frame[14..34]));
        frame[24] ^= 0x01;
        assert!(!header_checksum_holds(&frame[14..34]));
        assert_eq!(Fate::of(&frame), Fate::Dropped("bad IPv4 header checksum"));
    }
}
