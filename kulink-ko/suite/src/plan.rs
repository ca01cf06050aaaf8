//! What the peer sends, and what each frame must produce on every channel.

use std::net::Ipv4Addr;
use std::time::Duration;

use kulink_ko_contract::uapi;

use kulink::testbed::frames::{self, Wire};
use kulink::testbed::peer::GuestIcmp;

pub use crate::receive_rules::Expected;
use crate::receive_rules::Fate;

#[derive(Debug, Clone)]
/// One frame of a plan.
pub struct Injection {
    /// What kind of frame it is, for people and for [`Plan::count`].
    pub label: &'static str,
    /// The Ethernet frame.
    pub frame: Vec<u8>,
    /// The event it must produce on every channel, or `None` for a frame
    /// kulink.ko must not report.
    pub expect: Option<Expected>,
    /// What the kernel and kulink.ko make of it.
    pub fate: Fate,
    /// The guest must answer it with an echo reply the peer sees.
    pub answered: bool,
}

/// An ordered list of frames; the last one is an echo request that serves as
/// the barrier: once a channel delivered it, it delivered everything before it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The frames, in the order sent.
    pub injections: Vec<Injection>,
    /// Gap between frames, so a TCG guest's queue never overflows.
    pub gap: Duration,
}

/// The marker's echo id: no other frame uses it.
pub const MARKER_ID: u16 = 0xffff;

impl Plan {
    /// A frame the harness built: every echo request it reports is one the
    /// guest answers.
    fn push(&mut self, label: &'static str, frame: Vec<u8>) {
        let fate = Fate::of(&frame);
        let answered = fate.event().is_some_and(|e| e.icmp_type == frames::ECHO_REQUEST);
        self.injections.push(Injection { label, frame, expect: fate.event(), fate, answered });
    }

    /// A frame from elsewhere: what the guest answers is not predicted.
    fn push_foreign(&mut self, label: &'static str, frame: Vec<u8>) {
        let fate = Fate::of(&frame);
        self.injections.push(Injection { label, frame, expect: fate.event(), fate, answered: false });
    }

    fn finish(mut self, wire: &Wire, marker_seq: u16) -> Self {
        self.push("marker echo request", frames::echo_request(wire, MARKER_ID, marker_seq, 16));
        self
    }

    fn empty() -> Self {
        Self { injections: Vec::new(), gap: Duration::from_millis(2) }
    }

    /// The echo requests a standard plan may hold: 1 up to what keeps every
    /// event of the plan within the usermode helper's rate at load, so the
    /// helper channel must see them all.
    pub const ECHOES: std::ops::RangeInclusive<u16> = 1..=(uapi::UMH_RATE_DEFAULT - Self::STANDARD_EXTRA_EVENTS);

    /// Events a standard plan reports besides its echo requests: the
    /// timestamp request, two unreachables and the marker.
    const STANDARD_EXTRA_EVENTS: u16 = 4;

    /// Echo requests with distinct id/seq, other ICMP types, non-ICMP frames
    /// interleaved (which must give no event), and a truncated ICMP packet.
    pub fn standard(wire: &Wire, echoes: u16) -> Self {
        let mut p = Self::empty();
        for i in 0..echoes {
            p.push("echo request", frames::echo_request(wire, 0x1000 + i, i + 1, 56));
            match i % 8 {
                2 => p.push("udp datagram", frames::udp_datagram(wire, 9, b"not icmp")),
                4 => p.push("tcp syn", frames::tcp_syn(wire, 80)),
                6 => p.push("arp request", frames::arp_probe(wire)),
                _ => {}
            }
        }
        p.push("timestamp request", frames::timestamp_request(wire, 0x2000, 1));
        p.push("port unreachable", frames::dest_unreachable(wire, 3, Ipv4Addr::new(198, 51, 100, 7), 53));
        p.push("host unreachable", frames::dest_unreachable(wire, 1, Ipv4Addr::new(198, 51, 100, 8), 123));
        p.push("truncated icmp", frames::truncated_icmp(wire));
        p.finish(wire, 1)
    }

    /// `count` echo requests whose ids start at `first_id`; the marker's
    /// sequence number tells batches apart.
    pub fn echoes(wire: &Wire, first_id: u16, count: u16, batch: u16) -> Self {
        let mut p = Self::empty();
        for i in 0..count {
            p.push("echo request", frames::echo_request(wire, first_id + i, i + 1, 32));
        }
        p.finish(wire, batch)
    }

    /// Frames from a capture or the corpus, as given, then the marker;
    /// `gap` apart, which keeps a TCG guest's queue from overflowing.
    pub fn capture(wire: &Wire, frames: Vec<Vec<u8>>, gap: Duration) -> Self {
        let mut p = Self { injections: Vec::new(), gap };
        for frame in frames {
            p.push_foreign("captured frame", frame);
        }
        p.finish(wire, 1)
    }

    /// Only frames that must produce no event, then the marker.
    pub fn silent(wire: &Wire) -> Self {
        let mut p = Self::empty();
        p.push("udp datagram", frames::udp_datagram(wire, 9, b"x"));
        p.push("tcp syn", frames::tcp_syn(wire, 22));
        p.push("arp request", frames::arp_probe(wire));
        p.push("truncated icmp", frames::truncated_icmp(wire));
        p.finish(wire, 1)
    }

    /// One line per frame, in order: what it is, the event it must give
    /// (or none), and its bytes in hex.
    pub fn describe(&self) -> String {
        self.injections
            .iter()
            .map(|i| {
                let hex: String = i.frame.iter().map(|b| format!("{b:02x}")).collect();
                format!("{:<20} {:<90} {hex}\n", i.label, format!("{:?}", i.expect))
            })
            .collect()
    }

    /// The events every channel must report, in order.
    pub fn expected(&self) -> Vec<Expected> {
        self.injections.iter().filter_map(|i| i.expect).collect()
    }

    /// The event of the final echo request.
    pub fn marker(&self) -> Expected {
        self.injections.last().and_then(|i| i.expect).expect("every plan ends with the marker")
    }

    /// How many frames carry this label.
    pub fn count(&self, label: &str) -> usize {
        self.injections.iter().filter(|i| i.label == label).count()
    }

    /// Frames the kernel hands to kulink.ko's hook.
    pub fn at_hook(&self) -> usize {
        self.injections.iter().filter(|i| i.fate.reaches_hook()).count()
    }

    /// Frames the hook sees as ICMP too short for its header.
    pub fn truncated_icmp(&self) -> usize {
        self.injections.iter().filter(|i| i.fate == Fate::Truncated).count()
    }

    /// How many frames had each fate ([`Fate::class`]), in the order the
    /// fates first came.
    pub fn fates(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for class in self.injections.iter().map(|i| i.fate.class()) {
            match counts.iter_mut().find(|(c, _)| *c == class) {
                Some((_, n)) => *n += 1,
                None => counts.push((class, 1)),
            }
        }
        counts
    }

    /// The echo replies the guest owes: one per answered echo request, same
    /// id/seq.
    pub fn echo_replies(&self) -> Vec<GuestIcmp> {
        self.injections
            .iter()
            .filter(|i| i.answered)
            .filter_map(|i| i.expect)
            .map(|e| GuestIcmp { icmp_type: frames::ECHO_REPLY, code: 0, id: e.echo_id, seq: e.echo_seq })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn standard_plan_has_distinct_events_and_silent_frames() {
        let p = Plan::standard(&Wire::default(), 32);
        let expected = p.expected();
        // 32 echoes + timestamp + 2 unreachables + marker.
        assert_eq!(expected.len(), 36);
        assert_eq!(expected.iter().collect::<BTreeSet<_>>().len(), expected.len(), "events are distinct");
        assert_eq!(p.count("udp datagram") + p.count("tcp syn") + p.count("arp request"), 12);
        assert_eq!(p.count("truncated icmp"), 1);
        assert!(p.injections.iter().filter(|i| i.label == "truncated icmp").all(|i| i.expect.is_none()));
        assert_eq!(p.marker().echo_id, MARKER_ID);
        assert_eq!(p.echo_replies().len(), 33);
    }

    #[test]
    fn the_largest_standard_plan_fits_the_helper_rate() {
        let most = *Plan::ECHOES.end();
        assert_eq!(Plan::standard(&Wire::default(), most).expected().len(), usize::from(uapi::UMH_RATE_DEFAULT));
    }

    #[test]
    fn expected_fields_come_from_the_frame() {
        let w = Wire::default();
        let e = Fate::of(&frames::echo_request(&w, 0x1234, 9, 56)).event().unwrap();
        assert_eq!((e.src, e.dst, e.icmp_type, e.code), (w.peer_ip, w.guest_ip, 8, 0));
        assert_eq!((e.echo_id, e.echo_seq, e.len), (0x1234, 9, 20 + 8 + 56));
        let u = Fate::of(&frames::dest_unreachable(&w, 3, Ipv4Addr::new(198, 51, 100, 7), 53)).event().unwrap();
        assert_eq!((u.icmp_type, u.code, u.echo_id, u.echo_seq), (3, 3, 0, 0));
    }

    #[test]
    fn a_capture_predicts_no_reply_but_the_marker_s() {
        let w = Wire::default();
        let frames = vec![frames::echo_request(&w, 7, 1, 8), frames::udp_datagram(&w, 9, b"x"), vec![0; 10]];
        let p = Plan::capture(&w, frames, Duration::from_millis(1));
        assert_eq!(p.expected().len(), 2);
        assert_eq!(p.echo_replies(), [GuestIcmp { icmp_type: frames::ECHO_REPLY, code: 0, id: MARKER_ID, seq: 1 }]);
        assert_eq!((p.at_hook(), p.truncated_icmp()), (3, 0));
        let fates = p.fates();
        assert_eq!(fates[0], ("reported".to_owned(), 2));
        assert_eq!(fates[2], ("dropped: shorter than an Ethernet header".to_owned(), 1));
    }
}
