//! What the classic netlink protocols carry, read as each has it: a
//! kobject uevent's text, a connector message (`struct cn_msg`), or any
//! other protocol's netlink messages (a module's own unit) as header and
//! payload.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::codec::{messages, DecodeError, NLMSG_DONE, NLMSG_ERROR};
pub use crate::codec::{NETLINK_CONNECTOR, NETLINK_KOBJECT_UEVENT};

/// The protocols `<linux/netlink.h>` names, by the name after `NETLINK_`
/// in lower case (`uevent` is short for `kobject_uevent`).
const PROTOCOLS: &[(&str, u32)] = &[
    ("route", 0),
    ("usersock", 2),
    ("firewall", 3),
    ("sock_diag", 4),
    ("nflog", 5),
    ("xfrm", 6),
    ("selinux", 7),
    ("iscsi", 8),
    ("audit", 9),
    ("fib_lookup", 10),
    ("connector", NETLINK_CONNECTOR),
    ("netfilter", 12),
    ("ip6_fw", 13),
    ("dnrtmsg", 14),
    ("kobject_uevent", NETLINK_KOBJECT_UEVENT),
    ("uevent", NETLINK_KOBJECT_UEVENT),
    ("generic", 16),
    ("scsitransport", 18),
    ("ecryptfs", 19),
    ("rdma", 20),
    ("crypto", 21),
    ("smc", 22),
];

/// The kernel's limit on protocol numbers (`MAX_LINKS`).
pub const MAX_LINKS: u32 = 32;

/// A protocol by number (below [`MAX_LINKS`]) or by name.
///
/// ```
/// use kulink_genl::classic::protocol_number;
/// assert_eq!(protocol_number("connector"), Ok(11));
/// assert_eq!(protocol_number("31"), Ok(31));
/// assert!(protocol_number("32").unwrap_err().contains("below 32"));
/// ```
pub fn protocol_number(text: &str) -> Result<u32, String> {
    if let Ok(number) = text.parse::<u32>() {
        return if number < MAX_LINKS {
            Ok(number)
        } else {
            Err(format!("protocol {number}: netlink protocols are below {MAX_LINKS}"))
        };
    }
    let name = text.to_ascii_lowercase();
    let name = name.strip_prefix("netlink_").unwrap_or(&name);
    PROTOCOLS.iter().find(|(n, _)| *n == name).map(|(_, number)| *number).ok_or_else(|| {
        let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
        format!("{text} is not a netlink protocol number or one of {}", names.join(", "))
    })
}

/// One thing a protocol carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A kobject uevent: `ACTION@DEVPATH`, then its `KEY=VALUE` variables.
    Uevent {
        /// `add`, `remove`, `change`, `bind`...
        action: String,
        /// The kobject's path under /sys.
        devpath: String,
        /// Its variables (`SUBSYSTEM`, `SEQNUM`, `MAJOR`...).
        vars: BTreeMap<String, String>,
    },
    /// A connector message.
    Connector {
        /// The callback id's `idx`.
        idx: u32,
        /// The callback id's `val`.
        val: u32,
        /// Its sequence number.
        seq: u32,
        /// Its acknowledge number.
        ack: u32,
        /// Its flags.
        flags: u16,
        /// Its data (hex in JSON).
        #[serde(serialize_with = "as_hex")]
        data: Vec<u8>,
        /// The data as text, when it is a NUL-terminated string.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// `NLMSG_ERROR`: an ACK (0) or the errno a request was refused with.
    Error {
        /// The errno, positive; 0 for an ACK.
        errno: i32,
        /// The reason the kernel gave (`NL_SET_ERR_MSG`), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The request's sequence number.
        seq: u32,
    },
    /// `NLMSG_DONE`: the end of a dump (the connector's own messages use
    /// the same type and are read as such).
    Done {
        /// The request's sequence number.
        seq: u32,
    },
    /// A message of any other protocol: its header and payload.
    Message {
        /// `nlmsg_type`.
        nlmsg_type: u16,
        /// `nlmsg_flags`.
        flags: u16,
        /// `nlmsg_seq`.
        seq: u32,
        /// `nlmsg_pid`: the sender's port (0 for the kernel).
        pid: u32,
        /// What follows the header (hex in JSON).
        #[serde(serialize_with = "as_hex")]
        payload: Vec<u8>,
    },
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// The records in one datagram of `protocol`.
pub fn records(protocol: u32, datagram: &[u8]) -> Result<Vec<Record>, DecodeError> {
    if protocol == NETLINK_KOBJECT_UEVENT {
        return uevent(datagram).map(|r| vec![r]);
    }
    messages(datagram)
        .map(|msg| {
            let msg = msg?;
            match msg.kind {
                NLMSG_ERROR => {
                    let message = msg.error_message().map(str::to_owned);
                    return Ok(Record::Error { errno: -msg.error_code()?, message, seq: msg.seq });
                }
                NLMSG_DONE if protocol != NETLINK_CONNECTOR => return Ok(Record::Done { seq: msg.seq }),
                _ if protocol == NETLINK_CONNECTOR => return connector(msg.payload),
                _ => {}
            }
            let payload = msg.payload.to_vec();
            Ok(Record::Message { nlmsg_type: msg.kind, flags: msg.flags, seq: msg.seq, pid: msg.portid, payload })
        })
        .collect()
}

/// `struct cn_msg`: id (idx, val), seq, ack, len, flags, then `len` bytes.
fn connector(payload: &[u8]) -> Result<Record, DecodeError> {
    const HEADER: usize = 20;
    let short = || DecodeError::BadLength { what: "connector message", len: payload.len() };
    let word = |at: usize| u32::from_ne_bytes(payload[at..at + 4].try_into().expect("4 bytes"));
    if payload.len() < HEADER {
        return Err(short());
    }
    let len = usize::from(u16::from_ne_bytes([payload[16], payload[17]]));
    let data = payload.get(HEADER..HEADER + len).ok_or_else(short)?.to_vec();
    let text = data
        .split_last()
        .filter(|(last, text)| **last == 0 && !text.contains(&0))
        .and_then(|(_, text)| String::from_utf8(text.to_vec()).ok());
    Ok(Record::Connector {
        idx: word(0),
        val: word(4),
        seq: word(8),
        ack: word(12),
        flags: u16::from_ne_bytes([payload[18], payload[19]]),
        data,
        text,
    })
}

/// `ACTION@DEVPATH\0KEY=VALUE\0...`, as the kernel broadcasts it.
fn uevent(datagram: &[u8]) -> Result<Record, DecodeError> {
    let text =
        std::str::from_utf8(datagram).map_err(|_| DecodeError::BadLength { what: "uevent", len: datagram.len() })?;
    let mut parts = text.split('\0').filter(|p| !p.is_empty());
    let (action, devpath) = parts
        .next()
        .and_then(|head| head.split_once('@'))
        .ok_or(DecodeError::BadLength { what: "uevent header", len: datagram.len() })?;
    let vars = parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    Ok(Record::Uevent { action: action.into(), devpath: devpath.into(), vars })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::nlmsg_header;

    #[test]
    fn a_uevent_is_its_action_path_and_variables() {
        let datagram = b"add@/module/udpcount\0ACTION=add\0DEVPATH=/module/udpcount\0SUBSYSTEM=module\0SEQNUM=7\0";
        let [Record::Uevent { action, devpath, vars }] = &records(NETLINK_KOBJECT_UEVENT, datagram).unwrap()[..] else {
            panic!()
        };
        assert_eq!((action.as_str(), devpath.as_str()), ("add", "/module/udpcount"));
        assert_eq!((vars["SUBSYSTEM"].as_str(), vars["SEQNUM"].as_str()), ("module", "7"));
        assert!(records(NETLINK_KOBJECT_UEVENT, b"no header\0").is_err());
    }

    #[test]
    fn connector_and_other_messages_are_read_from_their_headers() {
        let mut cn = Vec::new();
        for word in [14u32, 0x456, 3, 0] {
            cn.extend(word.to_ne_bytes());
        }
        cn.extend(12u16.to_ne_bytes());
        cn.extend(0u16.to_ne_bytes());
        cn.extend(b"counter = 3\0");
        let mut datagram = nlmsg_header(16 + cn.len() as u32, 3, 0, 3).to_vec();
        datagram.extend(&cn);
        let want = Record::Connector {
            idx: 14,
            val: 0x456,
            seq: 3,
            ack: 0,
            flags: 0,
            data: b"counter = 3\0".to_vec(),
            text: Some("counter = 3".into()),
        };
        assert_eq!(records(NETLINK_CONNECTOR, &datagram).unwrap(), [want]);
        let json = serde_json::to_value(&records(NETLINK_CONNECTOR, &datagram).unwrap()[0]).unwrap();
        assert_eq!((json["kind"].as_str(), json["idx"].as_u64()), (Some("connector"), Some(14)));
        // The same payload on a module's own protocol: header and payload.
        let mut own = nlmsg_header(16 + cn.len() as u32, 0x10, 0, 3).to_vec();
        own.extend(&cn);
        let [Record::Message { nlmsg_type: 0x10, seq: 3, payload, .. }] = &records(31, &own).unwrap()[..] else {
            panic!()
        };
        assert_eq!(payload, &cn);
        // An ACK and the end of a dump, on any protocol but the connector.
        let mut control = nlmsg_header(36, NLMSG_ERROR, 0, 9).to_vec();
        control.extend((-22i32).to_ne_bytes());
        control.extend(nlmsg_header(16, 0x10, 1, 9));
        control.extend(nlmsg_header(20, NLMSG_DONE, 0, 9));
        control.extend(0i32.to_ne_bytes());
        assert_eq!(
            records(31, &control).unwrap(),
            [Record::Error { errno: 22, message: None, seq: 9 }, Record::Done { seq: 9 }]
        );
        // A cn_msg whose len runs past the message.
        datagram.truncate(datagram.len() - 4);
        let len = datagram.len() as u32;
        datagram[..4].copy_from_slice(&len.to_ne_bytes());
        assert!(records(NETLINK_CONNECTOR, &datagram).is_err());
    }

    #[test]
    fn protocols_are_taken_by_number_or_name() {
        assert_eq!(protocol_number("NETLINK_KOBJECT_UEVENT"), Ok(15));
        assert_eq!(protocol_number("uevent"), Ok(15));
        assert!(protocol_number("carrier-pigeon").unwrap_err().contains("connector"));
    }
}
