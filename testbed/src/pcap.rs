//! Replaying a capture on the wire: the Ethernet frames of a pcap file go
//! to the guest in order, readdressed from the peer to the guest, and the
//! replay ends once the guest has taken every one of them in.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::frames::Wire;
use crate::usage_error;

/// Bounds what a capture may hold: a test's traffic, not a trace.
pub const MAX_FRAMES: usize = 100_000;

// The classic pcap format is read and written here rather than with the
// pcap-file crate: two fixed-size headers are all it takes, and that crate
// brought seven packages (its own derive macro on syn 1) into every module
// author's test build.

/// The classic pcap file's magic number, microsecond timestamps.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// The same with nanosecond timestamps.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
const ETHERNET: u32 = 1;
/// The snap length kulink writes: whole frames.
const SNAPLEN: u32 = 65_535;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// The frames of an Ethernet pcap file, as captured (frames too short for
/// an Ethernet header too: a test may send them on purpose). Anything else
/// (another link type, a pcapng file, a cut record) is a usage error, found
/// before any guest boots.
pub fn read(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bad = |what: String| usage_error(format!("--pcap {}: {what}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot open it: {e}")))?;
    let not_pcap = || bad("not a pcap file (no classic pcap header); pcapng is not read".into());
    let magic = bytes.get(..4).ok_or_else(not_pcap)?;
    // The writer's byte order: the magic number reads right in it.
    let big_endian = match (u32::from_le_bytes(word(magic)), u32::from_be_bytes(word(magic))) {
        (MAGIC_MICROS | MAGIC_NANOS, _) => false,
        (_, MAGIC_MICROS | MAGIC_NANOS) => true,
        _ => return Err(not_pcap()),
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| if big_endian { u32::from_be_bytes(word(b)) } else { u32::from_le_bytes(word(b)) })
    };
    let link = u32_at(20).ok_or_else(not_pcap)?;
    if link != ETHERNET {
        return Err(bad(format!("link type {link}: only Ethernet captures can be replayed")));
    }
    let mut frames = Vec::new();
    let mut at = FILE_HEADER;
    while at < bytes.len() {
        let record = frames.len() + 1;
        let cut = || bad(format!("record {record}: the file ends inside it"));
        let (included, original) = (u32_at(at + 8).ok_or_else(cut)?, u32_at(at + 12).ok_or_else(cut)?);
        let data = at + RECORD_HEADER;
        let frame = bytes.get(data..data + included as usize).ok_or_else(cut)?;
        if included != original {
            return Err(bad(format!("record {record} was cut to the snap length")));
        }
        frames.push(frame.to_vec());
        if frames.len() > MAX_FRAMES {
            return Err(bad(format!("more than {MAX_FRAMES} frames")));
        }
        at = data + included as usize;
    }
    Ok(frames)
}

fn word(bytes: &[u8]) -> [u8; 4] {
    bytes.try_into().expect("four bytes")
}

/// The frame as the peer sends it to the guest: destination the guest's
/// MAC, source the peer's (as much of them as a short frame holds).
/// Addresses above Ethernet stay as captured.
pub fn readdress(frame: &[u8], wire: &Wire) -> Vec<u8> {
    let mut out = frame.to_vec();
    let addresses = [wire.guest_mac.octets(), wire.peer_mac.octets()].concat();
    let n = out.len().min(addresses.len());
    out[..n].copy_from_slice(&addresses[..n]);
    out
}

/// Writes `frames` as an Ethernet pcap file (little-endian, microsecond
/// timestamps), one record a millisecond apart from the epoch, so the same
/// frames always give the same bytes.
pub fn write(path: &Path, frames: &[Vec<u8>]) -> Result<()> {
    let mut out = Vec::with_capacity(FILE_HEADER + frames.iter().map(|f| RECORD_HEADER + f.len()).sum::<usize>());
    // Version 2.4, no time zone correction, no accuracy claimed.
    for field in [MAGIC_MICROS, 0x0004_0002, 0, 0, SNAPLEN, ETHERNET] {
        out.extend(field.to_le_bytes());
    }
    for (i, frame) in frames.iter().enumerate() {
        let at = Duration::from_millis(i as u64);
        let len = u32::try_from(frame.len()).context("a frame of 4 GiB or more")?;
        for field in [at.as_secs() as u32, at.subsec_micros(), len, len] {
            out.extend(field.to_le_bytes());
        }
        out.extend(frame);
    }
    std::fs::write(path, out).with_context(|| format!("write {}", path.display()))
}

/// Sends `frames` with `gap` between them, then an echo request, and waits
/// for its reply: the guest handles its NIC's frames in order, so by then
/// it has taken in every frame of the capture.
pub fn replay(vm_peer: &crate::peer::Peer, wire: &Wire, frames: &[Vec<u8>], gap: Duration) -> Result<()> {
    for frame in frames {
        vm_peer.send(&readdress(frame, wire))?;
        std::thread::sleep(gap);
    }
    let barrier = crate::peer::GuestIcmp { icmp_type: 0, code: 0, id: BARRIER_ID, seq: frames.len() as u16 };
    vm_peer.send(&crate::frames::echo_request(wire, barrier.id, barrier.seq, 8))?;
    let seen = vm_peer.wait_for(&[barrier], Duration::from_secs(20));
    seen.contains(&barrier)
        .then_some(())
        .with_context(|| format!("the guest did not answer the echo request sent after the {} frames", frames.len()))
}

/// The echo id of the request that closes a replay.
pub const BARRIER_ID: u16 = 0x6b6c;

#[cfg(test)]
mod tests {

    #[test]
    fn written_frames_read_back_short_ones_too() {
        let path = std::env::temp_dir().join(format!("kulink-pcap-{}.pcap", std::process::id()));
        let frames = vec![vec![1u8; 10], crate::frames::echo_request(&Wire::default(), 1, 2, 8)];
        write(&path, &frames).unwrap();
        assert_eq!(read(&path).unwrap(), frames);
        let short = readdress(&frames[0], &Wire::default());
        assert_eq!(&short[..6], &Wire::default().guest_mac.octets());
        assert_eq!(&short[6..], &Wire::default().peer_mac.octets()[..4]);
        std::fs::remove_file(&path).unwrap();
    }
    use super::*;

    #[test]
    fn the_example_capture_reads_and_is_readdressed() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/udpcount/traffic.pcap"));
        let frames = read(path).unwrap();
        assert_eq!(frames.len(), 10);
        let wire = Wire { guest_mac: pnet_base::MacAddr::new(2, 0, 0, 0, 0, 9), ..Wire::default() };
        let moved = readdress(&frames[0], &wire);
        assert_eq!(&moved[0..6], &[2, 0, 0, 0, 0, 9]);
        assert_eq!(&moved[6..12], &wire.peer_mac.octets());
        assert_eq!(&moved[12..], &frames[0][12..]);
    }

    #[test]
    fn what_is_not_an_ethernet_pcap_is_a_usage_error() {
        let dir = std::env::temp_dir().join(format!("kulink-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("notes.txt");
        std::fs::write(&text, "not a capture").unwrap();
        let err = read(&text).unwrap_err();
        assert!(format!("{err:#}").contains("not a pcap file"), "{err:#}");
        assert_eq!(crate::exit_code(&err), crate::EXIT_USAGE);
        assert!(format!("{:#}", read(&dir.join("gone.pcap")).unwrap_err()).contains("cannot open it"));
        let capture = dir.join("cut.pcap");
        write(&capture, &[vec![7u8; 60]]).unwrap();
        let whole = std::fs::read(&capture).unwrap();
        std::fs::write(&capture, &whole[..whole.len() - 1]).unwrap();
        assert!(format!("{:#}", read(&capture).unwrap_err()).contains("record 1: the file ends inside it"));
        // A big-endian writer's file reads the same.
        let mut swapped = Vec::new();
        for field in whole[..24].chunks(4).chain(whole[24..40].chunks(4)) {
            swapped.extend(field.iter().rev());
        }
        swapped.extend(&whole[40..]);
        std::fs::write(&capture, &swapped).unwrap();
        assert_eq!(read(&capture).unwrap(), [vec![7u8; 60]]);
        let mut other_link = whole.clone();
        other_link[20] = 113; // Linux cooked capture
        std::fs::write(&capture, &other_link).unwrap();
        assert!(format!("{:#}", read(&capture).unwrap_err()).contains("link type 113"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
