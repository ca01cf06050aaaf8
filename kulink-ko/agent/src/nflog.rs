//! The kernel's own path from a netfilter hook to user space, NFLOG
//! (nfnetlink_log), read beside kulink.ko's for `kulink bench`: a socket
//! bound to a log group, configured and decoded with
//! netlink-packet-netfilter, packets taken whole.

use std::io;

use anyhow::{bail, Context, Result};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};

use netlink_packet_netfilter::nflog::{
    config_request, ConfigCmd, ConfigMode, ConfigNla, PacketNla, Timeout, ULogMessage,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use tokio::io::unix::AsyncFd;

/// How much of each packet is copied, as many ICMP headers need.
const COPY_RANGE: u32 = 128;
/// The largest buffer nfnetlink_log batches into.
const NLBUFSIZ: u32 = 128 * 1024;
/// Flush a batch that is not full after 10 ms (hundredths of a second).
const FLUSH_HUNDREDTHS: u32 = 1;

/// A socket bound to one NFLOG group.
pub struct NflogSocket {
    fd: AsyncFd<Socket>,
    buf: Vec<u8>,
}

/// What one datagram held.
pub enum Received {
    /// The IPv4 packets it carried (each up to [`COPY_RANGE`] bytes).
    Packets(Vec<Vec<u8>>),
    /// The kernel dropped messages for this socket (ENOBUFS).
    Overrun,
}

impl NflogSocket {
    /// Binds `group`, packets copied, batched up to `queue_threshold`
    /// packets per message, with a receive buffer of `rcvbuf` bytes.
    pub fn bind(group: u16, queue_threshold: u32, rcvbuf: usize) -> Result<Self> {
        let mut sock = Socket::new(NETLINK_NETFILTER).context("netfilter netlink socket")?;
        sock.bind_auto().context("bind netfilter netlink socket")?;
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &rcvbuf)
            .context("SO_RCVBUFFORCE on the NFLOG socket")?;
        let config = [
            ConfigNla::Cmd(ConfigCmd::Bind),
            ConfigNla::Mode(ConfigMode::new_packet(COPY_RANGE)),
            ConfigNla::NlBufSiz(NLBUFSIZ),
            ConfigNla::QThresh(queue_threshold),
            ConfigNla::Timeout(Timeout::new(FLUSH_HUNDREDTHS)),
        ];
        // The bind comes alone: the others configure the instance it makes.
        for nlas in [vec![config[0].clone()], config[1..].to_vec()] {
            let mut msg = config_request(NetfilterProtoFamily::IPv4, group, nlas);
            msg.header.sequence_number = 1;
            let mut bytes = vec![0; msg.buffer_len()];
            msg.serialize(&mut bytes);
            sock.send(&bytes, 0).context("send an NFLOG configuration")?;
            let mut answer = Vec::with_capacity(4096);
            sock.recv(&mut answer, 0).context("read the NFLOG configuration's ACK")?;
            let ack = NetlinkMessage::<NetfilterMessage>::deserialize(&answer).context("decode the ACK")?;
            if let NetlinkPayload::Error(e) = ack.payload {
                if let Some(code) = e.code {
                    let err = io::Error::from_raw_os_error(-code.get());
                    bail!("NFLOG group {group}: {err} (does the kernel have CONFIG_NETFILTER_NETLINK_LOG?)");
                }
            }
        }
        sock.set_non_blocking(true)?;
        // SAFETY: the Socket owns its fd and keeps it open until dropped;
        // AsyncFd owns the Socket from here on.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| anyhow::anyhow!("register the NFLOG socket: {e}"))?;
        Ok(Self { fd, buf: Vec::with_capacity(NLBUFSIZ as usize) })
    }

    /// The next datagram's packets.
    pub async fn recv(&mut self) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            self.buf.clear();
            let buf = &mut self.buf;
            match guard.try_io(|fd| fd.get_ref().recv(buf, 0)) {
                Ok(Ok(_)) => return Ok(Received::Packets(packets(&self.buf))),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Received::Overrun),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The packets of every NFLOG message in a datagram; anything else (an
/// ACK, a message that does not decode) is skipped.
fn packets(datagram: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut rest = datagram;
    while let Some(len) = rest.get(..4).map(|l| u32::from_ne_bytes(l.try_into().unwrap()) as usize) {
        let Some(one) = rest.get(..len).filter(|_| len >= kulink_ko_contract::genl::NLMSG_HDRLEN) else { break };
        rest = rest.get(kulink_ko_contract::genl::align4(len)..).unwrap_or_default();
        let Ok(msg) = NetlinkMessage::<NetfilterMessage>::deserialize(one) else { continue };
        if let NetlinkPayload::InnerMessage(NetfilterMessage {
            inner: NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)),
            ..
        }) = msg.payload
        {
            found.extend(nlas.into_iter().filter_map(|nla| match nla {
                PacketNla::Payload(bytes) => Some(bytes),
                _ => None,
            }));
        }
    }
    found
}

/// The ICMP echo identifier of an IPv4 packet that is an echo request.
pub fn echo_request_id(packet: &[u8]) -> Option<u16> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    let icmp = packet.get(header_len..header_len + 8)?;
    (packet.get(9) == Some(&1) && icmp[0] == 8).then(|| u16::from_be_bytes([icmp[4], icmp[5]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_s_identifier_is_read_past_the_ip_header() {
        let mut packet = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 192, 0, 2, 15];
        packet.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert_eq!(echo_request_id(&packet), Some(0x1234));
        packet[20] = 0; // an echo reply
        assert_eq!(echo_request_id(&packet), None);
        assert_eq!(echo_request_id(&packet[..24]), None);
    }
}
