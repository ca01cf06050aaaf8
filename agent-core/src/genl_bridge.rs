//! The host's generic netlink, for any module: join a family's multicast
//! group and forward what it carries, send a request and return what
//! answered it. Families and groups are looked up by name, so the agent
//! needs no knowledge of the module.

use anyhow::{Context, Result};
use kulink_genl::codec::{self as genl, MsgBuilder, NLM_F_ACK, NLM_F_REQUEST};
use kulink_protocol::{
    Extension, GenlAnswer, GenlBurst, GenlDelivery, GenlEvent, GenlMessage, GenlRequest, NetlinkDelivery, NetlinkEvent,
    NetlinkRequest, NOBODY,
};
use tokio::task::JoinHandle;

use crate::genl::{Datagram, GenlSocket};
use crate::unprivileged;
use crate::Outbox;

/// `NLM_F_DUMP`: `NLM_F_ROOT | NLM_F_MATCH`.
const NLM_F_DUMP: u16 = 0x300;

/// Joins `group` of `family` on a socket of its own, and forwards each
/// message of that family as an `AgentMsg::Genl` until aborted.
pub async fn subscribe<X: Extension>(family: &str, group: &str, outbox: Outbox<X>) -> Result<JoinHandle<()>> {
    let mut sock = GenlSocket::open()?;
    let found = sock.resolve(family).await?;
    let group_id = found.group(group).with_context(|| {
        let names: Vec<&str> = found.groups.iter().map(|(name, _)| name.as_str()).collect();
        format!("family {family} has no multicast group {group} (it has: {})", names.join(", "))
    })?;
    sock.join(group_id)?;
    let (family, group) = (family.to_owned(), group.to_owned());
    Ok(tokio::spawn(async move {
        let deliver = |event| {
            outbox.send(crate::AgentMsg::Genl(GenlDelivery { family: family.clone(), group: group.clone(), event }))
        };
        loop {
            match sock.recv().await {
                Ok(Datagram::Overrun) => deliver(GenlEvent::Lost),
                Ok(Datagram::Data(bytes)) => {
                    for msg in genl::messages(bytes) {
                        match msg.and_then(|m| Ok((m.kind, message(m.payload)?))) {
                            Ok((kind, msg)) if kind == found.id => deliver(GenlEvent::Message(msg)),
                            Ok(_) => {}
                            Err(e) => outbox.warning(format!("{family}/{group}: undecodable message: {e}")),
                        }
                    }
                }
                Err(e) => {
                    outbox.warning(format!("{family}/{group}: the subscription ended: {e}"));
                    return;
                }
            }
        }
    }))
}

/// Joins `groups` of netlink protocol `protocol` on a socket of its own,
/// and forwards each datagram as an `AgentMsg::Netlink` until aborted: as
/// it came, for the host to read (netlink messages, or a uevent's text).
pub fn subscribe_protocol<X: Extension>(protocol: u32, groups: &[u32], outbox: Outbox<X>) -> Result<JoinHandle<()>> {
    let number = isize::try_from(protocol).context("protocol number")?;
    let mut sock = GenlSocket::open_protocol(number)?;
    for group in groups {
        sock.join(*group)?;
    }
    Ok(tokio::spawn(async move {
        let deliver = |event| outbox.send(crate::AgentMsg::Netlink(NetlinkDelivery { protocol, event }));
        loop {
            match sock.recv_from().await {
                Ok((Datagram::Overrun, _)) => deliver(NetlinkEvent::Lost),
                Ok((Datagram::Data(bytes), groups)) => {
                    deliver(NetlinkEvent::Datagram { groups, bytes: bytes.to_vec() })
                }
                Err(e) => {
                    outbox.warning(format!("netlink protocol {protocol}: the subscription ended: {e}"));
                    return;
                }
            }
        }
    }))
}

/// How long a module that answers without an ACK may stay silent before
/// its answer is taken as whole.
const ANSWER_QUIET: std::time::Duration = std::time::Duration::from_millis(500);

/// Sends `request` to its protocol's kernel socket, on a socket of its own
/// (which joined no group: all it hears answers it), and returns every
/// datagram that came: up to the ACK or error of its sequence number or an
/// `NLMSG_DONE`, or until nothing came for half a second.
pub async fn protocol_request(request: &NetlinkRequest) -> Result<Vec<NetlinkDelivery>> {
    let protocol = request.protocol;
    let mut sock = GenlSocket::open_protocol(isize::try_from(protocol).context("protocol number")?)?;
    let seq = sock.next_seq();
    let len = u32::try_from(genl::NLMSG_HDRLEN + request.payload.len()).context("payload size")?;
    let mut message = genl::nlmsg_header(len, request.nlmsg_type, NLM_F_REQUEST | request.flags, seq).to_vec();
    message.extend_from_slice(&request.payload);
    sock.send(&message).await?;
    let mut answers = Vec::new();
    loop {
        let Ok(datagram) = tokio::time::timeout(ANSWER_QUIET, sock.recv()).await else {
            return Ok(answers);
        };
        let Datagram::Data(bytes) = datagram? else {
            anyhow::bail!("netlink protocol {protocol}: the socket overran while waiting for the answer");
        };
        // The connector's own messages are NLMSG_DONE: only an ACK or error ends its answer.
        let ends = |m: &genl::Msg<'_>| {
            m.seq == seq
                && (m.kind == genl::NLMSG_ERROR || (m.kind == genl::NLMSG_DONE && protocol != genl::NETLINK_CONNECTOR))
        };
        let last = genl::messages(bytes).any(|m| m.is_ok_and(|m| ends(&m)));
        answers.push(NetlinkDelivery { protocol, event: NetlinkEvent::Datagram { groups: 0, bytes: bytes.to_vec() } });
        if last {
            return Ok(answers);
        }
    }
}

/// Sends `request` on a socket of its own and returns what answered it.
pub async fn request(request: &GenlRequest) -> Result<Vec<GenlMessage>> {
    let mut sock = GenlSocket::open()?;
    let found = sock.resolve(&request.family).await?;
    // A dump ends with NLMSG_DONE; a plain request with its ACK.
    let flags = NLM_F_REQUEST | if request.dump { NLM_F_DUMP } else { NLM_F_ACK };
    let answers = sock
        .exchange(|seq| {
            MsgBuilder::new(found.id, flags, seq, request.command, request.version).raw_attrs(&request.attrs)
        })
        .await
        .with_context(|| format!("{} command {}", request.family, request.command))?;
    answers.iter().map(|payload| Ok(message(payload)?)).collect()
}

/// Sends each message of the burst as it is, as root or as [`NOBODY`] on
/// a socket of that user's (netlink checks the capabilities of both the
/// socket's opener and the sender), and records what answered it.
pub async fn burst(burst: GenlBurst) -> Result<Vec<GenlAnswer>> {
    if burst.unprivileged {
        unprivileged::run_as(NOBODY, move || async move { send_each(&burst).await }).await
    } else {
        send_each(&burst).await
    }
}

/// Sends each message of the burst as it is and records what answered it.
/// Generic netlink handles a request inside `sendmsg` and makes each part
/// of a dump inside `recvmsg`, so once a message is sent, draining the
/// socket until it is empty gathers every answer to it: no timeout.
async fn send_each(burst: &GenlBurst) -> Result<Vec<GenlAnswer>> {
    let mut sock = GenlSocket::open()?;
    let family = sock.resolve(&burst.family).await?;
    let mut answers = Vec::with_capacity(burst.messages.len());
    for (seq, raw) in (1u32..).zip(&burst.messages) {
        let len = (genl::NLMSG_HDRLEN + raw.body.len()) as i64 + i64::from(raw.len_delta);
        let len = len.clamp(0, i64::from(u32::MAX)) as u32;
        let mut msg = genl::nlmsg_header(len, family.id, raw.flags, seq).to_vec();
        msg.extend_from_slice(&raw.body);
        let mut answer = GenlAnswer::default();
        if let Err(e) = sock.send(&msg).await {
            answer.send_errno = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error);
        }
        while let Some(datagram) = sock.try_recv()? {
            let Datagram::Data(bytes) = datagram else { anyhow::bail!("the burst's socket overran") };
            for m in genl::messages(bytes) {
                let m = m?;
                match m.kind {
                    genl::NLMSG_ERROR => answer.error = Some(m.error_code()?),
                    genl::NLMSG_DONE => answer.done = true,
                    _ => answer.replies += 1,
                }
            }
        }
        answers.push(answer);
    }
    Ok(answers)
}

fn message(payload: &[u8]) -> Result<GenlMessage, genl::DecodeError> {
    let header = genl::GenlHeader::parse(payload)?;
    Ok(GenlMessage { command: header.command, version: header.version, attrs: header.attrs.0.to_vec() })
}
