//! An async netlink socket on top of netlink-sys and tokio's AsyncFd:
//! generic netlink's, or any protocol's. The codec lives in kulink-genl;
//! this file only moves datagrams.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use kulink_genl::codec::{self as genl, Family, Msg, MsgBuilder, NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST};
use kulink_protocol::NO_NETLINK_PROTOCOL;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};
use tokio::io::unix::AsyncFd;

/// Big enough that a burst at TCG speed does not overrun a reader.
pub const RCVBUF: usize = 4 << 20;

pub enum Datagram<'a> {
    Data(&'a [u8]),
    /// The kernel dropped messages for this socket (ENOBUFS).
    Overrun,
}

pub struct GenlSocket {
    fd: AsyncFd<Socket>,
    buf: Vec<u8>,
    seq: u32,
}

impl GenlSocket {
    pub fn open() -> Result<Self> {
        Self::open_protocol(NETLINK_GENERIC)
    }

    /// A socket of netlink protocol `protocol`. The kernel refuses one for
    /// a protocol nothing registered (EPROTONOSUPPORT).
    pub fn open_protocol(protocol: isize) -> Result<Self> {
        let mut sock = Socket::new(protocol).map_err(|e| match e.raw_os_error() {
            Some(libc::EPROTONOSUPPORT) => anyhow::anyhow!("{NO_NETLINK_PROTOCOL} {protocol}"),
            _ => anyhow::Error::new(e).context(format!("netlink socket of protocol {protocol}")),
        })?;
        sock.bind_auto().with_context(|| format!("bind netlink socket of protocol {protocol}"))?;
        sock.set_non_blocking(true)?;
        force_rcvbuf(&sock, RCVBUF);
        sock.set_ext_ack(true).ok();
        // SAFETY: the Socket owns its fd, keeps it open until dropped and
        // always reports the same one; AsyncFd owns the Socket from here.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| anyhow::anyhow!("register netlink socket: {e}"))?;
        Ok(Self { fd, buf: Vec::with_capacity(64 << 10), seq: 0 })
    }

    /// A second handle on this socket, for whoever must read its drop
    /// count or resize its buffer while a task reads from it.
    pub fn handle(&self) -> io::Result<SocketHandle> {
        self.fd.get_ref().as_fd().try_clone_to_owned().map(SocketHandle)
    }

    /// Joins a multicast group. A message this socket has no room for then
    /// fails the sender's broadcast with ENOBUFS (NETLINK_BROADCAST_ERROR):
    /// without it the kernel drops it silently, and a sender whose only
    /// listener overran hears ESRCH, as if nobody listened.
    pub fn join(&self, group: u32) -> Result<()> {
        let sock = self.fd.get_ref();
        sock.set_broadcast_error(true).context("NETLINK_BROADCAST_ERROR")?;
        // setsockopt works for group numbers above 32, unlike bind().
        sock.add_membership(group).with_context(|| format!("join multicast group {group}"))
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    pub async fn send(&self, msg: &[u8]) -> Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| fd.get_ref().send(msg, 0)) {
                Ok(res) => {
                    res.context("send to generic netlink")?;
                    return Ok(());
                }
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn recv(&mut self) -> io::Result<Datagram<'_>> {
        loop {
            let mut guard = self.fd.readable().await?;
            self.buf.clear();
            let buf = &mut self.buf;
            match guard.try_io(|fd| fd.get_ref().recv(buf, 0)) {
                Ok(Ok(_)) => return Ok(Datagram::Data(&self.buf)),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Datagram::Overrun),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// The next datagram, with the groups it was sent to (the sender's
    /// address: a bit for each group up to 32).
    pub async fn recv_from(&mut self) -> io::Result<(Datagram<'_>, u32)> {
        loop {
            let mut guard = self.fd.readable().await?;
            self.buf.clear();
            let buf = &mut self.buf;
            match guard.try_io(|fd| fd.get_ref().recv_from(buf, 0)) {
                Ok(Ok((_, from))) => return Ok((Datagram::Data(&self.buf), from.multicast_groups())),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok((Datagram::Overrun, 0)),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// A datagram already queued on the socket, if any: what the kernel
    /// answered while a message was sent (or while the last one was read).
    pub fn try_recv(&mut self) -> io::Result<Option<Datagram<'_>>> {
        self.buf.clear();
        match self.fd.get_ref().recv(&mut self.buf, 0) {
            Ok(_) => Ok(Some(Datagram::Data(&self.buf))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Some(Datagram::Overrun)),
            Err(e) => Err(e),
        }
    }

    /// Sends a request and waits for its ACK or reply. Unrelated messages that
    /// arrive meanwhile (events) go to `other`, so nothing is lost.
    pub async fn request(
        &mut self,
        build: impl FnOnce(u32) -> MsgBuilder,
        mut other: impl FnMut(Datagram<'_>),
    ) -> Result<Option<Vec<u8>>> {
        let seq = self.next_seq();
        let msg = build(seq).finish();
        self.send(&msg).await?;
        loop {
            let dgram = self.recv().await?;
            let Datagram::Data(bytes) = dgram else {
                other(Datagram::Overrun);
                continue;
            };
            let mut answer = None;
            for m in genl::messages(bytes) {
                let m = m?;
                if m.seq != seq {
                    continue;
                }
                answer =
                    Some(if m.kind == NLMSG_ERROR { ack_result(&m).map(|()| None)? } else { Some(bytes.to_vec()) });
            }
            match answer {
                Some(result) => return Ok(result),
                None => other(Datagram::Data(bytes)),
            }
        }
    }

    /// Sends a request and gathers every message that answers it: the
    /// reply of a plain request (which asks for an ACK), each part of a
    /// dump up to NLMSG_DONE. Unrelated messages are dropped: use a socket
    /// of its own for this.
    pub async fn exchange(&mut self, build: impl FnOnce(u32) -> MsgBuilder) -> Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        let msg = build(seq).finish();
        self.send(&msg).await?;
        let mut answers = Vec::new();
        loop {
            let Datagram::Data(bytes) = self.recv().await? else {
                anyhow::bail!("the socket overran while waiting for a reply");
            };
            for m in genl::messages(bytes) {
                let m = m?;
                if m.seq != seq {
                    continue;
                }
                match m.kind {
                    // Both end the answer; both carry an errno (0: fine).
                    NLMSG_ERROR | genl::NLMSG_DONE => {
                        ack_result(&m)?;
                        return Ok(answers);
                    }
                    _ => answers.push(m.payload.to_vec()),
                }
            }
        }
    }

    /// Looks a family up through the generic netlink controller.
    pub async fn resolve(&mut self, name: &str) -> Result<Family> {
        let reply = self
            .request(
                |seq| {
                    let mut cname = name.as_bytes().to_vec();
                    cname.push(0);
                    MsgBuilder::new(genl::GENL_ID_CTRL, NLM_F_REQUEST, seq, genl::CTRL_CMD_GETFAMILY, 1)
                        .attr(genl::CTRL_ATTR_FAMILY_NAME, &cname)
                },
                |_| {},
            )
            .await
            .with_context(|| format!("resolve generic netlink family {name} (is the module loaded?)"))?
            .context("controller sent no family")?;
        let msg = genl::messages(&reply).next().context("empty controller reply")??;
        Ok(Family::parse(msg.genl()?.1)?)
    }
}

/// Request flags for a command that wants an ACK.
pub const REQUEST_ACK: u16 = NLM_F_REQUEST | NLM_F_ACK;

fn ack_result(msg: &Msg<'_>) -> Result<()> {
    let code = msg.error_code()?;
    if code != 0 {
        let why = msg.error_message().map(|m| format!(" ({m})")).unwrap_or_default();
        // Kept as an io::Error so callers can read the errno back.
        return Err(io::Error::from_raw_os_error(-code))
            .with_context(|| format!("the kernel refused the request{why}"));
    }
    Ok(())
}

/// A duplicate of a socket's descriptor: the same kernel socket.
pub struct SocketHandle(OwnedFd);

impl SocketHandle {
    /// Messages the kernel dropped because the receive buffer was full
    /// (the sk_drops netlink_overrun() counts), from SO_MEMINFO: nix has
    /// no binding for it.
    pub fn drops(&self) -> io::Result<u64> {
        let mut info = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
        let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into `info` and
        // stores the length it wrote.
        let rc = unsafe {
            libc::getsockopt(self.0.as_raw_fd(), libc::SOL_SOCKET, libc::SO_MEMINFO, info.as_mut_ptr().cast(), &mut len)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if (len as usize) < std::mem::size_of_val(&info) {
            return Err(io::Error::other(format!("SO_MEMINFO gave {len} bytes, too few for SK_MEMINFO_DROPS")));
        }
        Ok(u64::from(info[libc::SK_MEMINFO_DROPS as usize]))
    }

    /// Sets the receive buffer (SO_RCVBUFFORCE: the agent is root, and may
    /// go above rmem_max). The kernel doubles it for its bookkeeping.
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        Ok(nix::sys::socket::setsockopt(&self.0, nix::sys::socket::sockopt::RcvBufForce, &bytes)?)
    }
}

/// Raises the receive buffer past rmem_max where it may (root in the
/// first user namespace); else to what SO_RCVBUF allows.
fn force_rcvbuf(sock: &Socket, bytes: usize) {
    use nix::sys::socket::{setsockopt, sockopt};
    // Both through nix, which hands the kernel the C int it reads:
    // netlink-sys's `set_rx_buf_sz` passes its argument's own bytes, and a
    // usize's first four on a big-endian guest are its high half (0), so
    // a process without CAP_NET_ADMIN got the smallest buffer there.
    if setsockopt(sock, sockopt::RcvBufForce, &bytes).is_err() {
        let _ = setsockopt(sock, sockopt::RcvBuf, &bytes);
    }
}
