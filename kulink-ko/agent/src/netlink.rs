//! The two generic netlink delivery modes: the `events` multicast group, and
//! unicast subscribers registered with SUBSCRIBE (and dropped with UNSUBSCRIBE
//! or simply by closing the socket).

use anyhow::{Context, Result};
use kulink_agent_core::system::monotonic_ns;
use kulink_ko_contract::extension::{KulinkKo, Notice};
use kulink_ko_contract::genl::{self, Family, MsgBuilder};
use kulink_ko_contract::Channel;
use kulink_ko_contract::{uapi, Event, Stats};
use tokio::sync::{mpsc, oneshot};

use kulink_agent_core::genl::{Datagram, GenlSocket, REQUEST_ACK};

use crate::pace::{Pacer, SocketGauge};

pub type Outbox = kulink_agent_core::Outbox<KulinkKo>;

/// An event a push channel received at `received_ns` (CLOCK_MONOTONIC);
/// latency runs from the kernel's timestamp to then.
pub fn event_msg(channel: Channel, subscriber: Option<String>, received_ns: u64, event: Event) -> Notice {
    Notice::Event { channel, subscriber, latency_ns: Some(received_ns.saturating_sub(event.tstamp_ns)), event }
}

/// Turns received datagrams into typed messages for the host.
struct Emitter {
    family: u16,
    channel: Channel,
    subscriber: Option<String>,
    overruns: u64,
    out: Outbox,
}

impl Emitter {
    fn handle(&mut self, dgram: Datagram<'_>) {
        let bytes = match dgram {
            Datagram::Data(bytes) => bytes,
            Datagram::Overrun => {
                self.overruns += 1;
                self.out.ext(Notice::Overrun {
                    channel: self.channel,
                    subscriber: self.subscriber.clone(),
                    total: self.overruns,
                });
                return;
            }
        };
        let received = monotonic_ns();
        for msg in genl::messages(bytes) {
            match msg.and_then(|m| events_of(self.family, &m)) {
                Ok(events) => {
                    for event in events {
                        self.out.ext(event_msg(self.channel, self.subscriber.clone(), received, event));
                    }
                }
                Err(e) => self.out.warning(format!("{}: undecodable message: {e}", self.channel)),
            }
        }
    }
}

/// The events one message carries: none unless it is a kulink EVENT.
pub fn events_of(family: u16, msg: &genl::Msg<'_>) -> Result<Vec<Event>, genl::DecodeError> {
    match msg.genl()? {
        (uapi::CMD_EVENT, attrs) if msg.kind == family => Event::all_from_msg(attrs),
        _ => Ok(Vec::new()),
    }
}

pub fn kulink_msg(family: &Family, flags: u16, cmd: u8) -> impl FnOnce(u32) -> MsgBuilder {
    let id = family.id;
    move |seq| MsgBuilder::new(id, flags, seq, cmd, uapi::GENL_VERSION)
}

/// Joins a multicast group (`events`: sent from the hook; `relay`: sent by
/// the kthread); the returned task forwards every event as `channel`, one
/// datagram per turn of `pacer`.
pub fn listen_multicast(
    family: &Family,
    group: &str,
    channel: Channel,
    out: Outbox,
    mut pacer: Pacer,
) -> Result<(tokio::task::JoinHandle<()>, SocketGauge)> {
    let id = family.group(group).with_context(|| format!("family kulink has no `{group}` group"))?;
    let mut sock = GenlSocket::open()?;
    sock.join(id)?;
    let gauge = SocketGauge { channel, subscriber: None, handle: sock.handle()? };
    let mut emitter = Emitter { family: family.id, channel, subscriber: None, overruns: 0, out };
    let task = tokio::spawn(async move {
        loop {
            pacer.turn().await;
            match sock.recv().await {
                Ok(dgram) => emitter.handle(dgram),
                Err(e) => {
                    emitter.out.warning(format!("{channel} socket: {e}"));
                    return;
                }
            }
        }
    });
    Ok((task, gauge))
}

/// How a subscriber leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// UNSUBSCRIBE, then close.
    Unsubscribe,
    /// Close without a word, like a killed process.
    Close,
}

/// A unicast subscriber: its own socket, registered with SUBSCRIBE.
pub struct Subscriber {
    leave: mpsc::Sender<(Leave, oneshot::Sender<Result<()>>)>,
    pub gauge: SocketGauge,
}

impl Subscriber {
    pub async fn start(family: &Family, name: &str, out: Outbox, mut pacer: Pacer) -> Result<Self> {
        let mut sock = GenlSocket::open()?;
        let gauge =
            SocketGauge { channel: Channel::NetlinkUnicast, subscriber: Some(name.to_owned()), handle: sock.handle()? };
        let mut emitter = Emitter {
            family: family.id,
            channel: Channel::NetlinkUnicast,
            subscriber: Some(name.to_owned()),
            overruns: 0,
            out,
        };
        sock.request(kulink_msg(family, REQUEST_ACK, uapi::CMD_SUBSCRIBE), |d| emitter.handle(d))
            .await
            .with_context(|| format!("SUBSCRIBE for {name}"))?;
        let (tx, mut rx) = mpsc::channel::<(Leave, oneshot::Sender<Result<()>>)>(1);
        let unsubscribe = kulink_msg(family, REQUEST_ACK, uapi::CMD_UNSUBSCRIBE);
        tokio::spawn(async move {
            let (how, done) = loop {
                // A slow subscriber also hears of leaving only on its turn.
                pacer.turn().await;
                tokio::select! {
                    dgram = sock.recv() => match dgram {
                        Ok(d) => emitter.handle(d),
                        Err(e) => {
                            emitter.out.warning(format!("unicast socket: {e}"));
                            return;
                        }
                    },
                    cmd = rx.recv() => match cmd {
                        Some(cmd) => break cmd,
                        None => return,
                    },
                }
            };
            let result = match how {
                Leave::Unsubscribe => sock.request(unsubscribe, |d| emitter.handle(d)).await.map(drop),
                Leave::Close => Ok(()),
            };
            drop(sock);
            let _ = done.send(result);
        });
        Ok(Self { leave: tx, gauge })
    }

    pub async fn leave(self, how: Leave) -> Result<()> {
        let (done_tx, done_rx) = oneshot::channel();
        self.leave.send((how, done_tx)).await.context("subscriber task ended")?;
        done_rx.await.context("subscriber task ended")?
    }
}

/// GET_STATS on a socket of its own (it receives no events).
pub async fn get_stats(sock: &mut GenlSocket, family: &Family) -> Result<Stats> {
    let reply = sock
        .request(kulink_msg(family, genl::NLM_F_REQUEST, uapi::CMD_GET_STATS), |_| {})
        .await?
        .context("GET_STATS got no reply")?;
    let msg = genl::messages(&reply).next().context("empty GET_STATS reply")??;
    let nest = msg.genl()?.1.find(uapi::A_STATS)?.context("GET_STATS reply lacks KULINK_A_STATS")?;
    Ok(Stats::from_attrs(nest.nested())?)
}
