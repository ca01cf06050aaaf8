//! Replaying a capture on the wire: the Ethernet frames of a pcap file go
//! to the guest in order, readdressed from the peer to the guest, and the
//! replay ends once the guest has taken every one of them in.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;

use crate::frames::Wire;
use crate::usage_error;

/// Bounds what a capture may hold: a test's traffic, not a trace.
pub const MAX_FRAMES: usize = 100_000;

/// The frames of an Ethernet pcap file, as captured (frames too short for
/// an Ethernet header too: a test may send them on purpose). Anything else
/// (another link type, a pcapng file, a cut record) is a usage error, found
/// before any guest boots.
pub fn read(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bad = |what: String| usage_error(format!("--pcap {}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open it: {e}")))?;
    let mut reader = PcapReader::new(file).map_err(|e| bad(format!("not a pcap file ({e}); pcapng is not read")))?;
    let link = reader.header().datalink;
    if link != DataLink::ETHERNET {
        return Err(bad(format!("link type {link:?}: only Ethernet captures can be replayed")));
    }
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| bad(format!("record {}: {e}", frames.len() + 1)))?;
        if packet.data.len() != packet.orig_len as usize {
            return Err(bad(format!("record {} was cut to the snap length", frames.len() + 1)));
        }
        frames.push(packet.data.into_owned());
        if frames.len() > MAX_FRAMES {
            return Err(bad(format!("more than {MAX_FRAMES} frames")));
        }
    }
    Ok(frames)
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

/// Writes `frames` as an Ethernet pcap file, one record a millisecond
/// apart from the epoch, so the same frames always give the same bytes.
pub fn write(path: &Path, frames: &[Vec<u8>]) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut writer = PcapWriter::new(file).with_context(|| format!("write {}", path.display()))?;
    for (i, frame) in frames.iter().enumerate() {
        let packet = PcapPacket::new(Duration::from_millis(i as u64), frame.len() as u32, frame);
        writer.write_packet(&packet).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
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
        let path = crate::paths::repo_root().join("examples/udpcount/traffic.pcap");
        let frames = read(&path).unwrap();
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
        let _ = std::fs::remove_dir_all(&dir);
    }
}
