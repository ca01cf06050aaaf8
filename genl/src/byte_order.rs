//! Netlink from a machine of the other byte order: a big-endian guest's
//! bytes made this host's, and this host's requests made the guest's.
//!
//! Netlink's own headers and every integer a family keeps in host order
//! are in the order of the machine that wrote them; network-order values
//! (`byte-order: big-endian`), strings and bytes are the same on every
//! machine. Swapping each host-order field reverses its bytes, so one walk
//! turns bytes either way: it reads lengths in the order the bytes are in
//! now, and the decoder and encoder stay those of this machine.

use crate::codec::{align4, DecodeError, NETLINK_CONNECTOR, NETLINK_KOBJECT_UEVENT, NLA_HDRLEN, NLMSG_ERROR};
use crate::codec::{NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED};
use crate::definitions::MemberKind;
use crate::spec::{AttrKind, AttrSet, Operation, Spec};

/// The order a machine keeps its integers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Least significant byte first (x86_64, arm64).
    Little,
    /// Most significant byte first (s390x).
    Big,
}

impl Order {
    /// This machine's.
    pub const NATIVE: Order = if cfg!(target_endian = "big") { Order::Big } else { Order::Little };

    /// Is it this machine's (nothing to turn)?
    pub fn is_native(self) -> bool {
        self == Self::NATIVE
    }

    fn u16(self, bytes: &[u8]) -> u16 {
        let pair = [bytes[0], bytes[1]];
        match self {
            Order::Little => u16::from_le_bytes(pair),
            Order::Big => u16::from_be_bytes(pair),
        }
    }

    fn u32(self, bytes: &[u8]) -> u32 {
        let word = bytes[..4].try_into().expect("4 bytes");
        match self {
            Order::Little => u32::from_le_bytes(word),
            Order::Big => u32::from_be_bytes(word),
        }
    }
}

/// Reverses each `width`-byte field of `bytes` (a whole number of them).
fn swap_each(bytes: &mut [u8], width: usize) {
    if width > 1 {
        bytes.chunks_exact_mut(width).for_each(<[u8]>::reverse);
    }
}

/// The body of a message of operation `op` (its fixed header, then its
/// attributes), in order `now`, turned to the other order.
pub fn turn_body(spec: &Spec, op: &Operation, body: &mut [u8], now: Order) -> Result<(), DecodeError> {
    let set = op.attribute_set.as_deref().and_then(|name| spec.set(name));
    Turn { spec, now }.headed(op.fixed_header.as_deref(), set, body)
}

/// Attributes no spec describes, in order `now`: their headers turned,
/// their payloads left as they are.
pub fn turn_attributes(body: &mut [u8], now: Order) -> Result<(), DecodeError> {
    each_attribute(body, now, |_, _| Ok(()))
}

/// A datagram of netlink protocol `protocol`, in order `now`: each
/// message's header turned, and what this crate reads of their payloads
/// (an error's code and the request it echoes, the connector's `cn_msg`).
/// A family's own payloads are turned by [`turn_body`]; uevents are text.
pub fn turn_datagram(protocol: u32, datagram: &mut [u8], now: Order) -> Result<(), DecodeError> {
    if protocol == NETLINK_KOBJECT_UEVENT {
        return Ok(());
    }
    let mut at = 0;
    while datagram.len() - at >= NLMSG_HDRLEN {
        let len = now.u32(&datagram[at..]) as usize;
        if len < NLMSG_HDRLEN || at + len > datagram.len() {
            return Err(DecodeError::BadLength { what: "nlmsghdr", len });
        }
        let kind = now.u16(&datagram[at + 4..]);
        let flags = now.u16(&datagram[at + 6..]);
        let message = &mut datagram[at..at + len];
        turn_nlmsghdr(message);
        let payload = &mut message[NLMSG_HDRLEN..];
        if kind == NLMSG_ERROR {
            turn_error(payload, flags, now)?;
        } else if protocol == NETLINK_CONNECTOR && payload.len() >= 20 {
            // idx, val, seq, ack (u32), len, flags (u16)
            swap_each(&mut payload[..16], 4);
            swap_each(&mut payload[16..20], 2);
        }
        at += align4(len).min(datagram.len() - at);
    }
    Ok(())
}

/// len (u32), type, flags (u16), seq, pid (u32).
fn turn_nlmsghdr(header: &mut [u8]) {
    swap_each(&mut header[..4], 4);
    swap_each(&mut header[4..8], 2);
    swap_each(&mut header[8..16], 4);
}

/// `struct nlmsgerr`: the errno, the request's header (and its body,
/// unless capped, left as bytes), then the extended ACK's attributes.
fn turn_error(payload: &mut [u8], flags: u16, now: Order) -> Result<(), DecodeError> {
    if payload.len() < 4 + NLMSG_HDRLEN {
        return Ok(());
    }
    swap_each(&mut payload[..4], 4);
    let echoed = if flags & NLM_F_CAPPED != 0 { NLMSG_HDRLEN } else { now.u32(&payload[4..]) as usize };
    turn_nlmsghdr(&mut payload[4..4 + NLMSG_HDRLEN]);
    if flags & NLM_F_ACK_TLVS != 0 {
        let tlvs = payload.get_mut(4 + align4(echoed)..).unwrap_or_default();
        // The reason is a string; the offset of a bad attribute is a u32.
        each_attribute(tlvs, now, |_, payload| {
            if payload.len() == 4 {
                swap_each(payload, 4);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Turns each attribute's header, then hands its type and payload (still
/// in order `now`) to `payload`.
fn each_attribute(
    bytes: &mut [u8],
    now: Order,
    mut payload: impl FnMut(u16, &mut [u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut at = 0;
    while bytes.len() - at >= NLA_HDRLEN {
        let len = usize::from(now.u16(&bytes[at..]));
        if len < NLA_HDRLEN || at + len > bytes.len() {
            return Err(DecodeError::BadLength { what: "nlattr", len });
        }
        let kind = now.u16(&bytes[at + 2..]) & crate::codec::NLA_TYPE_MASK;
        swap_each(&mut bytes[at..at + NLA_HDRLEN], 2);
        payload(kind, &mut bytes[at + NLA_HDRLEN..at + len])?;
        at += align4(len).min(bytes.len() - at);
    }
    Ok(())
}

/// One walk through a spec's types, turning bytes now in order `now`.
struct Turn<'a> {
    spec: &'a Spec,
    now: Order,
}

impl Turn<'_> {
    /// A fixed header (when there is one), then attributes of `set`
    /// (headers only without one).
    fn headed(&self, header: Option<&str>, set: Option<&AttrSet>, body: &mut [u8]) -> Result<(), DecodeError> {
        let size = header.map_or(0, |h| self.spec.struct_size(h));
        let (fixed, attributes) = body.split_at_mut(size.min(body.len()));
        if let Some(header) = header {
            self.structure(header, fixed);
        }
        match set {
            Some(set) => self.set(set, attributes),
            None => turn_attributes(attributes, self.now),
        }
    }

    fn set(&self, set: &AttrSet, bytes: &mut [u8]) -> Result<(), DecodeError> {
        // A sub-message's selector is a string (every kernel spec's is):
        // those already seen, by name.
        let mut strings: Vec<(String, String)> = Vec::new();
        each_attribute(bytes, self.now, |kind, payload| {
            // An attribute the spec does not name is shown as its bytes.
            let Some(attr) = set.attribute_by_value(kind) else { return Ok(()) };
            if attr.kind == AttrKind::String {
                let text = payload.split(|&b| b == 0).next().unwrap_or_default();
                strings.push((attr.name.clone(), String::from_utf8_lossy(text).into_owned()));
            }
            self.value(&attr.kind, payload, &strings)
        })
    }

    fn value(&self, kind: &AttrKind, payload: &mut [u8], strings: &[(String, String)]) -> Result<(), DecodeError> {
        match kind {
            AttrKind::Unsigned { big_endian: false, .. } | AttrKind::Signed { big_endian: false, .. } => {
                payload.reverse()
            }
            AttrKind::Array { width, .. } => swap_each(payload, usize::from(*width)),
            AttrKind::Bitfield32 => swap_each(payload, 4),
            AttrKind::Struct(name) => self.structure(name, payload),
            AttrKind::Nest(inner) => {
                let inner = self.spec.set(inner).expect("a spec's nests name its sets");
                self.set(inner, payload)?;
            }
            AttrKind::NestTypeValue { keys, set } => {
                let set = self.spec.set(set).expect("a spec's nests name its sets");
                self.levels(keys.len(), set, payload)?;
            }
            AttrKind::IndexedArray(element) => {
                each_attribute(payload, self.now, |_, item| self.value(element, item, strings))?
            }
            AttrKind::SubMessage { name, selector } => {
                let sub = self.spec.sub_message(name).expect("a spec's sub-messages are defined");
                let chosen = strings.iter().rev().find(|(n, _)| n == selector).map(|(_, v)| v);
                // A format the spec does not know is shown as its bytes.
                if let Some(format) = sub.formats.iter().find(|f| Some(&f.value) == chosen) {
                    let set = format.attribute_set.as_deref().and_then(|s| self.spec.set(s));
                    self.headed(format.fixed_header.as_deref(), set, payload)?;
                }
            }
            AttrKind::Unsigned { .. }
            | AttrKind::Signed { .. }
            | AttrKind::String
            | AttrKind::Binary
            | AttrKind::Unused
            | AttrKind::Flag
            | AttrKind::Pad => {}
        }
        Ok(())
    }

    /// `levels` nests of one attribute each, then attributes of `set`.
    fn levels(&self, levels: usize, set: &AttrSet, bytes: &mut [u8]) -> Result<(), DecodeError> {
        if levels == 0 {
            return self.set(set, bytes);
        }
        each_attribute(bytes, self.now, |_, inner| self.levels(levels - 1, set, inner))
    }

    /// Struct `name`'s host-order members; a short struct (an older
    /// kernel's) as far as it goes.
    fn structure(&self, name: &str, bytes: &mut [u8]) {
        let members = &self.spec.structure(name).expect("a spec's structs are defined").members;
        let mut at = 0;
        for member in members {
            let size = match &member.kind {
                MemberKind::Integer { width, .. } => usize::from(*width),
                MemberKind::Pad(len) | MemberKind::Binary(len) => *len,
                MemberKind::Struct(inner) => self.spec.struct_size(inner),
            };
            let Some(field) = bytes.get_mut(at..at + size) else { return };
            match &member.kind {
                MemberKind::Integer { big_endian: false, .. } => field.reverse(),
                MemberKind::Struct(inner) => self.structure(inner, field),
                _ => {}
            }
            at += size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{nlmsg_header, AttrWriter};
    use crate::Message;
    use serde_json::json;

    const SPEC: &str = "
name: demo
definitions:
  - name: head
    type: struct
    members:
      - { name: index, type: u32 }
      - { name: proto, type: u16, byte-order: big-endian }
      - { name: pad, type: pad, len: 2 }
attribute-sets:
  - name: main
    attributes:
      - { name: count, type: u64 }
      - { name: port, type: u16, byte-order: big-endian }
      - { name: name, type: string }
      - { name: inner, type: nest, nested-attributes: inner }
      - { name: list, type: binary, sub-type: u32 }
  - name: inner
    attributes:
      - { name: small, type: u16 }
operations:
  fixed-header: head
  list:
    - { name: notify, value: 1, attribute-set: main }
";

    /// Bytes as the other machine writes them: this machine's, turned.
    #[test]
    fn a_message_turned_twice_is_itself_and_decodes_the_same_once_turned_back() {
        let spec = Spec::parse(SPEC).unwrap();
        let op = spec.operation("notify").unwrap();
        let fields = json!({"index": 7, "proto": 0x86dd, "count": 5000, "port": 53, "name": "eth0",
                            "inner": {"small": 258}, "list": [1, 2]});
        let native = spec.encode_body(op, &fields).unwrap();
        let mut other = native.clone();
        let foreign = if Order::NATIVE == Order::Little { Order::Big } else { Order::Little };
        turn_body(&spec, op, &mut other, Order::NATIVE).unwrap();
        assert_ne!(other, native, "host-order fields differ between the orders");
        assert_eq!(&other[4..6], &native[4..6], "a network-order member is the same on both");
        let back = {
            let mut b = other.clone();
            turn_body(&spec, op, &mut b, foreign).unwrap();
            b
        };
        assert_eq!(back, native);
        let decoded = Message::decode_as(&spec, op, &back).unwrap().to_json();
        assert_eq!(decoded["attrs"], fields);
    }

    #[test]
    fn a_foreign_error_gives_its_errno_and_reason() {
        let mut tlvs = AttrWriter::new();
        tlvs.put(crate::codec::NLMSGERR_ATTR_MSG, b"no such port\0");
        let tlvs = tlvs.into_bytes();
        let flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
        let mut payload = (-22i32).to_ne_bytes().to_vec();
        payload.extend(nlmsg_header(16, 0x20, 5, 9));
        payload.extend(&tlvs);
        let mut datagram = nlmsg_header((NLMSG_HDRLEN + payload.len()) as u32, NLMSG_ERROR, flags, 9).to_vec();
        datagram.extend(&payload);
        let native = datagram.clone();
        turn_datagram(0, &mut datagram, Order::NATIVE).unwrap();
        assert_eq!(&datagram[16..20], (-22i32).to_ne_bytes().iter().rev().copied().collect::<Vec<_>>());
        let foreign = if Order::NATIVE == Order::Little { Order::Big } else { Order::Little };
        turn_datagram(0, &mut datagram, foreign).unwrap();
        assert_eq!(datagram, native);
    }
}
