//! A corpus of malformed and unusual frames, each with the fate it is
//! stated to have: whether the kernel hands it to `PRE_ROUTING`, and
//! whether kulink.ko reports it. The statements are written here by hand,
//! apart from the rules of [`crate::receive_rules`], and a test holds them equal;
//! a run on a real kernel then holds both to what the kernel does.
//!
//! `corpus/malformed.pcap` ships these frames for any tool, with
//! `corpus/malformed.tsv` listing each one's class, label and fate; a test
//! checks that both files are what this module writes.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use kulink::testbed::frames::{self, Wire};

/// The fate a corpus frame is stated to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stated {
    /// The kernel drops it before `PRE_ROUTING` (or it is not IPv4).
    Dropped,
    /// It reaches kulink.ko's hook, which reports nothing.
    NoEvent,
    /// It reaches the hook as ICMP shorter than its header: counted, not
    /// reported.
    Truncated,
    /// kulink.ko reports it, once, on every channel.
    Reported,
}

impl Stated {
    /// The word the manifest uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dropped => "dropped",
            Self::NoEvent => "no-event",
            Self::Truncated => "truncated",
            Self::Reported => "reported",
        }
    }
}

/// One frame of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The kind of oddity (`fragments reversed`, `ip options`, ...).
    pub class: &'static str,
    /// This frame among its class.
    pub label: String,
    /// The Ethernet frame, addressed from the wire's peer to its guest.
    pub frame: Vec<u8>,
    /// What becomes of it.
    pub stated: Stated,
}

const ETH: usize = 14;

/// Every frame of the corpus, in the order it is sent, for this wire.
pub fn entries(wire: &Wire) -> Vec<Entry> {
    use Stated::*;
    let mut out = Vec::new();
    let mut add = |class: &'static str, label: &str, frame: Vec<u8>, stated: Stated| {
        out.push(Entry { class, label: label.to_owned(), frame, stated });
    };
    // Each class gets echo ids of its own, so no two reports look alike.
    let echo = |id: u16, payload: usize| frames::echo_request(wire, id, 1, payload);

    let whole = echo(0x5001, 32);
    add("ethernet", "10 bytes: cut in the source address", whole[..10].to_vec(), Dropped);
    add("ethernet", "13 bytes: cut in the ethertype", whole[..13].to_vec(), Dropped);
    add("ipv4 header", "10 bytes of IPv4", whole[..ETH + 10].to_vec(), Dropped);
    add("ipv4 header", "19 bytes of IPv4", whole[..ETH + 19].to_vec(), Dropped);
    add("ip version", "version 6 under the IPv4 ethertype", edit_ip(echo(0x5002, 32), |ip| ip[0] = 0x65), Dropped);
    add("ihl", "IHL 4", edit_ip(echo(0x5003, 32), |ip| ip[0] = 0x44), Dropped);
    add("ihl", "IHL 0", edit_ip(echo(0x5004, 32), |ip| ip[0] = 0x40), Dropped);
    add("ihl", "IHL 15 beyond a 28-byte packet", edit_ip(echo(0x5005, 0), |ip| ip[0] = 0x4f), Dropped);
    add("total length", "100 bytes beyond the frame", edit_ip(echo(0x5006, 32), |ip| add_total(ip, 100)), Dropped);
    add("total length", "16: inside the header", edit_ip(echo(0x5007, 32), |ip| set_total(ip, 16)), Dropped);
    let mut trailing = echo(0x5008, 32);
    trailing.extend_from_slice(&[0xee; 20]);
    add("total length", "20 bytes short of the frame: the rest is trimmed", trailing, Reported);
    add("total length", "24: 4 bytes of ICMP", edit_ip(echo(0x5009, 32), |ip| set_total(ip, 24)), Truncated);
    add("checksum", "bad IPv4 header checksum", edit_raw(echo(0x500a, 32), |f| f[ETH + 10] ^= 0xff), Dropped);
    add("checksum", "bad ICMP checksum", edit_raw(echo(0x500b, 32), |f| f[ETH + 22] ^= 0xff), Reported);
    add("ip options", "NOP, NOP, NOP, end of list", with_options(echo(0x500c, 32), [1, 1, 1, 0]), Reported);
    add("ip options", "router alert", with_options(echo(0x500d, 32), [148, 4, 0, 0]), Reported);
    add("icmp length", "no ICMP at all", edit_ip(echo(0x500e, 32), |ip| set_total(ip, 20)), Truncated);
    add("icmp length", "2 bytes of ICMP", edit_ip(echo(0x500f, 32), |ip| set_total(ip, 22)), Truncated);

    // Fragments of one datagram share an IP id no other datagram here uses.
    let in_order = fragments(&echo(0x5010, 200), 64, 0x5010);
    for (i, frag) in in_order.into_iter().enumerate() {
        add("fragments in order", &format!("fragment {} of 4", i + 1), frag, if i == 0 { Reported } else { NoEvent });
    }
    let reversed = fragments(&echo(0x5011, 200), 64, 0x5011);
    for (i, frag) in reversed.into_iter().enumerate().rev() {
        add("fragments reversed", &format!("fragment {} of 4", i + 1), frag, if i == 0 { Reported } else { NoEvent });
    }
    // The first 64 bytes twice, then all of it from byte 32: the kernel
    // throws such a datagram away, but only after PRE_ROUTING.
    let overlapped = echo(0x5012, 200);
    let first = fragments(&overlapped, 64, 0x5012);
    let from_32 = fragments_from(&overlapped, 32, overlapped.len() - ETH - 20, 0x5012);
    add("fragments overlapping", "bytes 0-63", first[0].clone(), Reported);
    add("fragments overlapping", "bytes 0-63 again", first[0].clone(), Reported);
    add("fragments overlapping", "bytes 32 to the end", from_32, NoEvent);
    let big = fragments(&echo(0x5013, 65_535 - 28), 1480, 0x5013);
    let count = big.len();
    for (i, frag) in big.into_iter().enumerate() {
        let label = format!("fragment {} of {count}", i + 1);
        add("64 KiB ICMP in fragments", &label, frag, if i == 0 { Reported } else { NoEvent });
    }

    add("vlan", "priority tag (VLAN 0)", vlan_tagged(echo(0x5014, 32), 0), Dropped);
    add("vlan", "VLAN 100", vlan_tagged(echo(0x5015, 32), 100), Dropped);
    add("ethertype", "IPv6 with an ICMPv6 echo request", icmpv6_echo(wire), Dropped);
    add(
        "ethertype",
        "802.3 length field",
        edit_raw(echo(0x5016, 32), |f| f[12..14].copy_from_slice(&[0, 60])),
        Dropped,
    );
    add(
        "ethertype",
        "unknown 0x88b5",
        edit_raw(echo(0x5017, 32), |f| f[12..14].copy_from_slice(&[0x88, 0xb5])),
        Dropped,
    );
    add("not icmp", "UDP datagram", frames::udp_datagram(wire, 9, b"corpus"), NoEvent);
    add("not icmp", "TCP SYN", frames::tcp_syn(wire, 80), NoEvent);
    add("icmp types", "unassigned type 31", edit_raw(echo(0x5018, 32), |f| f[ETH + 20] = 31), Reported);
    add("icmp types", "type 255", edit_raw(echo(0x501a, 32), |f| f[ETH + 20] = 255), NoEvent);
    out
}

/// Changes the IPv4 header, then makes its checksum right again.
fn edit_ip(mut frame: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    edit(&mut frame[ETH..]);
    let ihl = (usize::from(frame[ETH] & 0x0f) * 4).clamp(20, frame.len() - ETH);
    set_ip_checksum(&mut frame[ETH..ETH + ihl]);
    frame
}

/// Changes bytes and leaves every checksum as it was.
fn edit_raw(mut frame: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut frame);
    frame
}

fn set_total(ip: &mut [u8], total: u16) {
    ip[2..4].copy_from_slice(&total.to_be_bytes());
}

fn add_total(ip: &mut [u8], more: u16) {
    let total = u16::from_be_bytes([ip[2], ip[3]]);
    set_total(ip, total + more);
}

/// Writes the IPv4 header checksum (word 5) over the header as it is.
fn set_ip_checksum(header: &mut [u8]) {
    let sum = pnet_packet::util::checksum(header, 5);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// The frame with 4 bytes of options after its IPv4 header (IHL 6).
fn with_options(frame: Vec<u8>, options: [u8; 4]) -> Vec<u8> {
    let mut out = frame[..ETH + 20].to_vec();
    out.extend_from_slice(&options);
    out.extend_from_slice(&frame[ETH + 20..]);
    edit_ip(out, |ip| {
        ip[0] = 0x46;
        add_total(ip, 4);
    })
}

/// An IPv4 frame's payload cut into fragments of `size` bytes (a multiple
/// of 8), in order, each with IP id `id`.
fn fragments(frame: &[u8], size: usize, id: u16) -> Vec<Vec<u8>> {
    let payload_len = frame.len() - ETH - 20;
    let cut = |start| fragments_from(frame, start, (start + size).min(payload_len), id);
    (0..payload_len).step_by(size).map(cut).collect()
}

/// The fragment of an IPv4 frame's payload from `start` (a multiple of 8)
/// to `end`, with IP id `id`; more fragments follow unless it reaches the
/// end.
fn fragments_from(frame: &[u8], start: usize, end: usize, id: u16) -> Vec<u8> {
    let payload = &frame[ETH + 20..];
    let mut out = frame[..ETH + 20].to_vec();
    out.extend_from_slice(&payload[start..end]);
    let more = if end < payload.len() { 0x2000 } else { 0 };
    edit_ip(out, |ip| {
        set_total(ip, (20 + end - start) as u16);
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[6..8].copy_from_slice(&(more | (start / 8) as u16).to_be_bytes());
    })
}

/// The frame with an 802.1Q tag for `vlan` before its ethertype.
fn vlan_tagged(frame: Vec<u8>, vlan: u16) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00]);
    out.extend_from_slice(&vlan.to_be_bytes());
    out.extend_from_slice(&frame[12..]);
    out
}

/// An ICMPv6 echo request from a link-local address to the guest's.
fn icmpv6_echo(wire: &Wire) -> Vec<u8> {
    let echo = frames::echo_request(wire, 0x5019, 1, 8);
    let mut out = echo[..12].to_vec();
    out.extend_from_slice(&[0x86, 0xdd]);
    let body = [128u8, 0, 0, 0, 0x50, 0x19, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    out.extend_from_slice(&[0x60, 0, 0, 0, 0, body.len() as u8, 58, 64]);
    out.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    out.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    out.extend_from_slice(&body);
    out
}

/// The manifest: one line per frame, `number class label fate`,
/// tab-separated, numbered as the pcap's records.
pub fn manifest(entries: &[Entry]) -> String {
    let mut text = String::from("# frame\tclass\tlabel\tfate (dropped: before PRE_ROUTING)\n");
    for (i, e) in entries.iter().enumerate() {
        writeln!(text, "{}\t{}\t{}\t{}", i + 1, e.class, e.label, e.stated.name()).expect("a String takes writes");
    }
    text
}

/// Writes `malformed.pcap` and `malformed.tsv` into `dir`.
pub fn write(dir: &Path, wire: &Wire) -> Result<()> {
    let entries = entries(wire);
    let frames: Vec<Vec<u8>> = entries.iter().map(|e| e.frame.clone()).collect();
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    kulink::testbed::pcap::write(&dir.join("malformed.pcap"), &frames)?;
    std::fs::write(dir.join("malformed.tsv"), manifest(&entries))
        .with_context(|| format!("write into {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receive_rules::Fate;

    #[test]
    fn the_stated_fates_follow_the_receive_rules() {
        let disagree: Vec<String> = entries(&Wire::default())
            .iter()
            .filter_map(|e| {
                let fate = Fate::of(&e.frame);
                let kind = match fate {
                    Fate::Dropped(_) => Stated::Dropped,
                    Fate::Ignored(_) => Stated::NoEvent,
                    Fate::Truncated => Stated::Truncated,
                    Fate::Reported(_) => Stated::Reported,
                };
                (kind != e.stated)
                    .then(|| format!("{} / {}: stated {:?}, the rules say {fate:?}", e.class, e.label, e.stated))
            })
            .collect();
        assert!(disagree.is_empty(), "{}", disagree.join("\n"));
    }

    #[test]
    fn the_corpus_covers_every_fate_and_its_reports_are_distinct() {
        let entries = entries(&Wire::default());
        for stated in [Stated::Dropped, Stated::NoEvent, Stated::Truncated, Stated::Reported] {
            assert!(entries.iter().any(|e| e.stated == stated), "no {stated:?} frame");
        }
        let reported: Vec<_> = entries.iter().filter_map(|e| Fate::of(&e.frame).event()).collect();
        let distinct: std::collections::BTreeSet<_> = reported.iter().collect();
        // The overlapping class repeats its first fragment on purpose.
        assert_eq!(distinct.len(), reported.len() - 1);
        let biggest = entries.iter().filter(|e| e.class == "64 KiB ICMP in fragments");
        let bytes: usize = biggest.map(|e| e.frame.len() - ETH - 20).sum();
        assert_eq!(bytes, 65_535 - 20, "the fragments carry a whole 64 KiB datagram");
    }

    #[test]
    fn the_shipped_files_are_what_the_corpus_writes() {
        let shipped = crate::project_dir().join("corpus");
        let fresh = std::env::temp_dir().join(format!("kulink-corpus-{}", std::process::id()));
        write(&fresh, &Wire::default()).unwrap();
        if std::env::var_os("KULINK_BLESS").is_some() {
            write(&shipped, &Wire::default()).unwrap();
        }
        for name in ["malformed.pcap", "malformed.tsv"] {
            let want = std::fs::read(fresh.join(name)).unwrap();
            let got = std::fs::read(shipped.join(name)).unwrap_or_default();
            assert!(got == want, "corpus/{name} is not what corpus.rs writes: run this test with KULINK_BLESS=1");
        }
        std::fs::remove_dir_all(&fresh).unwrap();
    }
}
