//! The guest's peer host on the virtual wire: answers ARP, injects frames,
//! and records the ICMP the guest sends back.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::frames::{self, FromGuest, Wire};

/// ICMP the guest sent, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestIcmp {
    /// The ICMP type.
    pub icmp_type: u8,
    /// The ICMP code.
    pub code: u8,
    /// The echo identifier.
    pub id: u16,
    /// The echo sequence number.
    pub seq: u16,
}

/// The host's end of the wire: sends frames to the guest, answers its ARP
/// requests, and records the ICMP it sends.
pub struct Peer {
    sock: Arc<UnixDatagram>,
    guest: PathBuf,
    seen: Arc<Mutex<Vec<GuestIcmp>>>,
    arp_answered: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Sends frames to the guest; any thread may hold one.
#[derive(Clone)]
pub struct FrameSender {
    sock: Arc<UnixDatagram>,
    guest: PathBuf,
}

impl FrameSender {
    /// Sends one Ethernet frame to the guest, waiting up to 5 s while the
    /// guest's queue is full.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.sock.send_to(frame, &self.guest) {
                Ok(_) => return Ok(()),
                // The guest NIC is a datagram socket too: wait out a full queue.
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e).with_context(|| format!("send a frame to {}", self.guest.display())),
            }
        }
    }
}

impl Peer {
    /// Binds the peer's end at `own`; the guest's end is `guest` (QEMU binds it).
    pub fn bind(own: &Path, guest: &Path, wire: Wire) -> Result<Self> {
        let sock = Arc::new(UnixDatagram::bind(own).with_context(|| format!("bind {}", own.display()))?);
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let arp_answered = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (sock, seen, arp, stop, guest) =
                (sock.clone(), seen.clone(), arp_answered.clone(), stop.clone(), guest.to_owned());
            std::thread::spawn(move || listen(&sock, &guest, &wire, &seen, &arp, &stop))
        };
        Ok(Self { sock, guest: guest.to_owned(), seen, arp_answered, stop, thread: Some(thread) })
    }

    /// Sends one Ethernet frame to the guest, waiting up to 5 s while the
    /// guest's queue is full.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        self.sender().send(frame)
    }

    /// A handle that sends frames from another thread.
    pub fn sender(&self) -> FrameSender {
        FrameSender { sock: self.sock.clone(), guest: self.guest.clone() }
    }

    /// Every ICMP message the guest has sent so far, in arrival order.
    pub fn guest_icmp(&self) -> Vec<GuestIcmp> {
        self.seen.lock().expect("peer lock").clone()
    }

    /// How many ARP requests the peer has answered.
    pub fn arp_answered(&self) -> u64 {
        *self.arp_answered.lock().expect("peer lock")
    }

    /// Waits until the guest sent ICMP matching every item of `want`.
    pub fn wait_for(&self, want: &[GuestIcmp], timeout: Duration) -> Vec<GuestIcmp> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.guest_icmp();
            if want.iter().all(|w| seen.contains(w)) || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn listen(
    sock: &UnixDatagram,
    guest: &Path,
    wire: &Wire,
    seen: &Mutex<Vec<GuestIcmp>>,
    arp_answered: &Mutex<u64>,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        };
        match frames::parse(&buf[..n]) {
            FromGuest::ArpRequest { target }
                if target == wire.peer_ip && sock.send_to(&frames::arp_reply(wire), guest).is_ok() =>
            {
                *arp_answered.lock().expect("peer lock") += 1;
            }
            FromGuest::Icmp { icmp_type, code, id, seq, .. } => {
                seen.lock().expect("peer lock").push(GuestIcmp { icmp_type, code, id, seq })
            }
            _ => {}
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Fails unless the guest's socket exists (QEMU creates it at start-up).
pub fn wait_for_socket(path: &Path, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        if Instant::now() >= deadline {
            bail!("QEMU did not create its wire socket {}", path.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
