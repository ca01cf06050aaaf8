//! The deliberately slow consumer, and what was dropped at the agent's own
//! sockets and ring (each /dev/kulink file's count is `chardev`'s). While
//! the host slows the agent down, each reader of a pushed channel waits its
//! turn before every read, so a flood fills the module's queues and every
//! drop can be reconciled with what arrived.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use kulink_agent_core::genl::SocketHandle;
use kulink_ko_contract::extension::{Dropped, Pace};
use kulink_ko_contract::Channel;
use tokio::sync::watch;

/// A reader's view of the pace the host set.
#[derive(Clone)]
pub struct Pacer(watch::Receiver<Pace>);

impl Pacer {
    /// A pace at full speed, and the sender that changes it.
    pub fn new() -> (watch::Sender<Pace>, Self) {
        let (tx, rx) = watch::channel(Pace::default());
        (tx, Self(rx))
    }

    /// Is the reader to make one read per turn, rather than empty its
    /// queue at once?
    pub fn slow(&self) -> bool {
        self.0.borrow().read_every_ms > 0
    }

    /// Waits out the pace before one read; a new pace cuts the wait short.
    pub async fn turn(&mut self) {
        let every = Duration::from_millis(self.0.borrow_and_update().read_every_ms.into());
        if every.is_zero() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = self.0.changed() => {}
        }
    }
}

/// One of the agent's event sockets, watched from outside its task.
pub struct SocketGauge {
    pub channel: Channel,
    pub subscriber: Option<String>,
    pub handle: SocketHandle,
}

impl SocketGauge {
    pub fn dropped(&self) -> Result<Dropped> {
        let count = self.handle.drops().with_context(|| format!("{} socket's drop count", self.channel))?;
        Ok(Dropped { channel: self.channel, subscriber: self.subscriber.clone(), count })
    }
}

/// The ring header's overflow count, as the ring's reader last saw it.
pub type RingOverflow = Arc<AtomicU64>;

pub fn ring_dropped(overflow: &RingOverflow) -> Dropped {
    Dropped { channel: Channel::MmapRing, subscriber: None, count: overflow.load(Ordering::Relaxed) }
}
