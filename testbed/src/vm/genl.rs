//! Netlink through the agent: generic netlink subscriptions, requests and
//! bursts by family name, and what they carried decoded by a YNL spec; the
//! groups of any other protocol by number, and what they carried read as
//! that protocol has it (see [`kulink_genl::classic`]).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use kulink_genl::byte_order::{self, Order};
use kulink_genl::classic::{self, Record};
use kulink_genl::spec::Protocol;
use kulink_genl::{Message, Spec};
use kulink_protocol::{
    Command as AgentCommand, Extension, GenlAnswer, GenlBurst, GenlDelivery, GenlEvent, GenlMessage, GenlRequest,
    NetlinkDelivery, NetlinkEvent, NetlinkRequest, Reply,
};

use super::requests::burst_timeout;
use super::Vm;
use crate::usage_error;

/// Decodes what subscriptions to `family` carried, in order: by `spec`
/// when there is one, as raw attributes otherwise; `order` is the guest's
/// ([`Vm::byte_order`]). A lost message (the agent's socket overran) is an
/// error: a test cannot judge what it did not see.
pub fn decode_deliveries(
    family: &str,
    spec: Option<&Spec>,
    order: Order,
    deliveries: &[GenlDelivery],
) -> Result<Vec<Message>> {
    deliveries
        .iter()
        .filter(|d| d.family == family)
        .map(|d| match &d.event {
            GenlEvent::Message(m) => Message::decode_from(spec, m.command, &m.attrs, order)
                .with_context(|| format!("{}/{}: undecodable message", d.family, d.group)),
            GenlEvent::Lost => bail!("{}/{}: the agent's socket overran and messages were lost", d.family, d.group),
        })
        .collect()
}

/// What subscriptions to netlink protocol `protocol` carried, in order,
/// read as that protocol has it; `order` is the guest's
/// ([`Vm::byte_order`]), and a family's own payloads stay in it (see
/// [`Message::decode_as_from`]). A lost datagram is an error, as for
/// generic netlink.
pub fn netlink_records(protocol: u32, order: Order, deliveries: &[NetlinkDelivery]) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for delivery in deliveries.iter().filter(|d| d.protocol == protocol) {
        match &delivery.event {
            NetlinkEvent::Datagram { bytes, .. } => {
                let undecodable =
                    || format!("netlink protocol {protocol}: undecodable datagram of {} bytes", bytes.len());
                let mut bytes = bytes.clone();
                if !order.is_native() {
                    byte_order::turn_datagram(protocol, &mut bytes, order).with_context(undecodable)?;
                }
                records.extend(classic::records(protocol, &bytes).with_context(undecodable)?)
            }
            NetlinkEvent::Lost => {
                bail!("netlink protocol {protocol}: the agent's socket overran and datagrams were lost")
            }
        }
    }
    Ok(records)
}

impl<X: Extension> Vm<X> {
    /// Joins multicast groups `groups` (numbered from 1) of netlink
    /// protocol `protocol` (see [`classic::protocol_number`]): what they
    /// carry from now on is recorded (see [`Vm::netlink_deliveries`]). The
    /// protocol must exist by then: a module's own unit once it is loaded.
    pub fn netlink_subscribe(&mut self, protocol: u32, groups: &[u32]) -> Result<()> {
        if protocol >= classic::MAX_LINKS || groups.is_empty() || groups.contains(&0) {
            return Err(usage_error(format!(
                "netlink protocol {protocol}, groups {groups:?}: want a protocol below {} and groups numbered from 1",
                classic::MAX_LINKS
            )));
        }
        self.request(AgentCommand::NetlinkSubscribe { protocol, groups: groups.to_vec() }).map(drop)
    }

    /// Sends one message of type `nlmsg_type` with `payload` to the kernel's
    /// socket of netlink protocol `protocol` (the agent adds the header,
    /// `NLM_F_REQUEST` and a sequence number; `flags` may ask for
    /// `NLM_F_ACK`), and reads what answered it: the module's replies, then
    /// the ACK or error ([`Record::Error`]) when there is one.
    pub fn netlink_request(
        &mut self,
        protocol: u32,
        nlmsg_type: u16,
        flags: u16,
        payload: &[u8],
    ) -> Result<Vec<Record>> {
        let request = NetlinkRequest { protocol, nlmsg_type, flags, payload: payload.to_vec() };
        match self.request(AgentCommand::NetlinkRequest(request))? {
            Reply::Netlink(datagrams) => netlink_records(protocol, self.byte_order(), &datagrams),
            other => bail!("a netlink request was answered with {}", other.kind()),
        }
    }

    /// Sends operation `op` of a `netlink-raw` spec (rtnetlink's
    /// `rt-link.yaml`, say) to the kernel's socket of its protocol, with
    /// these fields (a JSON object: the fixed header's members and the
    /// attributes, see [`Spec::encode_body`]) and `flags` (`NLM_F_DUMP`,
    /// say), and decodes the replies; the ACK, `NLMSG_DONE` and an error
    /// (with the kernel's errno and reason) are read, not returned.
    pub fn netlink_call(
        &mut self,
        spec: &Spec,
        op: &str,
        fields: &serde_json::Value,
        flags: u16,
    ) -> Result<Vec<Message>> {
        let Protocol::Raw(protocol) = spec.protocol else {
            return Err(usage_error(format!("{} is a generic netlink family: use genl_call", spec.name)));
        };
        let operation = spec
            .operation(op)
            .filter(|o| o.value != 0)
            .ok_or_else(|| usage_error(format!("{}: no operation {op} that user space sends", spec.name)))?;
        let mut body = spec.encode_body(operation, fields).map_err(|e| usage_error(e.to_string()))?;
        let order = self.byte_order();
        if !order.is_native() {
            byte_order::turn_body(spec, operation, &mut body, Order::NATIVE)?;
        }
        let mut messages = Vec::new();
        for record in self.netlink_request(protocol, operation.value, flags, &body)? {
            match record {
                Record::Message { nlmsg_type, payload, .. } => {
                    // Replies are read as the operation's own when their type is its reply's.
                    let replied = Some(operation).filter(|o| o.reply_value == nlmsg_type);
                    let reply_op = replied.or_else(|| spec.operation_by_value(nlmsg_type)).with_context(|| {
                        format!("{} {op}: a reply of type {nlmsg_type}, which the spec does not name", spec.name)
                    })?;
                    messages.push(
                        Message::decode_as_from(spec, reply_op, &payload, order)
                            .with_context(|| format!("{} {op}: reply of type {nlmsg_type}", spec.name))?,
                    );
                }
                Record::Error { errno: 0, .. } | Record::Done { .. } => {}
                Record::Error { errno, message, .. } => bail!(
                    "{} {op} was refused with errno {errno} ({}){}",
                    spec.name,
                    std::io::Error::from_raw_os_error(errno),
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                ),
                other => bail!("{} {op}: answered with {other:?}", spec.name),
            }
        }
        Ok(messages)
    }

    /// What the protocol subscriptions carried so far, in order.
    pub fn netlink_deliveries(&self) -> &[NetlinkDelivery] {
        self.link.netlink()
    }

    /// Records what the protocol subscriptions carry until `done` holds
    /// for it or the timeout passes; says whether it held.
    pub fn collect_netlink_until(
        &mut self,
        timeout: Duration,
        done: impl FnMut(&[NetlinkDelivery]) -> bool,
    ) -> Result<bool> {
        self.link.collect_netlink_until(timeout, done)
    }

    /// Joins multicast group `group` of generic netlink family `family`
    /// (by name, as the module registered them). What the group carries
    /// from now on is recorded: see [`Vm::genl_deliveries`].
    pub fn genl_subscribe(&mut self, family: &str, group: &str) -> Result<()> {
        self.request(AgentCommand::GenlSubscribe { family: family.into(), group: group.into() }).map(drop)
    }

    /// Sends a generic netlink request; the messages that answered it (a
    /// refusal is an error carrying the kernel's errno).
    pub fn genl_request(&mut self, request: GenlRequest) -> Result<Vec<GenlMessage>> {
        match self.request(AgentCommand::GenlRequest(request))? {
            Reply::Genl(messages) => Ok(messages),
            other => bail!("a generic netlink request was answered with {}", other.kind()),
        }
    }

    /// Sends raw messages to a generic netlink family one by one, on a
    /// socket of their own, and says what answered each (see
    /// [`AgentCommand::GenlBurst`]). Meant for malformed messages: a fuzzer.
    pub fn genl_burst(&mut self, burst: GenlBurst) -> Result<Vec<GenlAnswer>> {
        let count = burst.messages.len();
        match self.request_within(AgentCommand::GenlBurst(burst), burst_timeout(count))? {
            Reply::GenlBurst(answers) if answers.len() == count => Ok(answers),
            other => bail!("a burst of {count} generic netlink messages was answered with {}", other.kind()),
        }
    }

    /// What the generic netlink subscriptions carried so far, in order.
    pub fn genl_deliveries(&self) -> &[GenlDelivery] {
        self.link.genl()
    }

    /// Records what the subscriptions carry until `done` holds for it or
    /// the timeout passes; says whether it held.
    pub fn collect_genl_until(&mut self, timeout: Duration, done: impl FnMut(&[GenlDelivery]) -> bool) -> Result<bool> {
        self.link.collect_genl_until(timeout, done)
    }

    /// The messages the subscriptions to `spec`'s family carried so far,
    /// decoded by it (see [`decode_deliveries`]).
    pub fn genl_messages(&self, spec: &Spec) -> Result<Vec<Message>> {
        decode_deliveries(&spec.name, Some(spec), self.byte_order(), self.genl_deliveries())
    }

    /// Sends operation `op` of `spec`'s family with these attributes (a
    /// JSON object, see [`Spec::encode`]) and decodes the answer.
    pub fn genl_call(&mut self, spec: &Spec, op: &str, attrs: &serde_json::Value, dump: bool) -> Result<Vec<Message>> {
        let (command, mut attrs) = spec.encode(op, attrs).map_err(|e| usage_error(e.to_string()))?;
        let order = self.byte_order();
        if let Some(operation) = spec.operation(op).filter(|_| !order.is_native()) {
            byte_order::turn_body(spec, operation, &mut attrs, Order::NATIVE)?;
        }
        let request = GenlRequest { family: spec.name.clone(), command, version: spec.version, dump, attrs };
        self.genl_request(request)?
            .iter()
            .map(|m| {
                Message::decode_from(Some(spec), m.command, &m.attrs, order)
                    .with_context(|| format!("{} {op} reply", spec.name))
            })
            .collect()
    }
}
