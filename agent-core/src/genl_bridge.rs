//! The host's generic netlink, for any module: join a family's multicast
//! group and forward what it carries, send a request and return what
//! answered it. Families and groups are looked up by name, so the agent
//! needs no knowledge of the module.

use anyhow::{Context, Result};
use kulink_genl::codec::{self as genl, MsgBuilder, NLM_F_ACK, NLM_F_REQUEST};
use kulink_protocol::{Extension, GenlDelivery, GenlEvent, GenlMessage, GenlRequest};
use tokio::task::JoinHandle;

use crate::genl::{Datagram, GenlSocket};
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

fn message(payload: &[u8]) -> Result<GenlMessage, genl::DecodeError> {
    let header = genl::GenlHeader::parse(payload)?;
    Ok(GenlMessage { command: header.command, version: header.version, attrs: header.attrs.0.to_vec() })
}
