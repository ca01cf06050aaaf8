//! ICMP echo requests to 127.0.0.1 from a raw socket: traffic that reaches
//! PRE_ROUTING through `lo`, so tests can see how loopback events look.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn};

/// RFC 1071 ones' complement sum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut msg = vec![8, 0, 0, 0];
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(b"kulink loopback");
    let sum = checksum(&msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    msg
}

pub fn ping(id: u16, count: u16) -> Result<()> {
    let sock = socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Icmp)
        .context("raw ICMP socket")?;
    let localhost = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    for seq in 1..=count {
        sendto(sock.as_raw_fd(), &echo_request(id, seq), &localhost, MsgFlags::empty())
            .context("send echo request to 127.0.0.1")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies_to_zero() {
        let msg = echo_request(0x1234, 7);
        assert_eq!(&msg[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(checksum(&msg), 0, "a correct checksum makes the sum all ones");
    }
}
