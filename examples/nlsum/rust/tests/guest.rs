//! nlsum on every kernel of the catalog, through kulink's library: numbers
//! sent to the module's own netlink unit, each answered with the running
//! total (and an ACK when asked), the same totals recorded from its
//! multicast group in order, malformed messages refused with their errno
//! and reason, and a clean kernel log.

use std::time::Duration;

use kulink::testbed::genl::classic::Record;
use kulink::testbed::vm::netlink_records;
use kulink::{GuestBuilder, ModuleGuest};
use nlsum_tests::{add_payload, module_dir, total_of, Order, Protocol};

/// `NLM_F_ACK`.
const ACK: u16 = 0x4;

fn boot(kernel: &str) -> ModuleGuest {
    let guest = GuestBuilder::kernel_id(kernel).module(module_dir());
    guest.boot().unwrap_or_else(|e| panic!("boot on kernel {kernel}: {e:#}"))
}

/// The totals among `records`, as (total, count), and whatever else came.
fn totals(protocol: &Protocol, order: Order, records: &[Record]) -> (Vec<(u64, u32)>, Vec<Record>) {
    let mut totals = Vec::new();
    let mut other = Vec::new();
    for record in records {
        match record {
            Record::Message { nlmsg_type, payload, .. } if *nlmsg_type == protocol.total => {
                totals.push(total_of(payload, order))
            }
            _ => other.push(record.clone()),
        }
    }
    (totals, other)
}

/// Each add is answered with the sum so far; with NLM_F_ACK the answer
/// ends with an ACK of its sequence number. The group carries the same
/// totals, in the order the adds came.
fn each_add_is_answered_with_the_total_and_multicast(kernel: &str) {
    let protocol = Protocol::from_header();
    let mut guest = boot(kernel);
    let order = guest.byte_order();
    guest.netlink_subscribe(protocol.unit, &[protocol.group]).unwrap();
    let mut answered = Vec::new();
    for (value, flags) in [(5, 0), (7, ACK), (30, ACK)] {
        let records = guest.netlink_request(protocol.unit, protocol.add, flags, &add_payload(value, order)).unwrap();
        let (got, rest) = totals(&protocol, order, &records);
        answered.extend(got);
        let acks: Vec<i32> = rest
            .iter()
            .map(|r| match r {
                Record::Error { errno, .. } => *errno,
                other => panic!("{kernel}: an add was answered with {other:?}"),
            })
            .collect();
        assert_eq!(acks, if flags == ACK { vec![0] } else { vec![] }, "{kernel}: {records:?}");
    }
    assert_eq!(answered, [(5, 1), (12, 2), (42, 3)], "{kernel}");
    guest.collect_netlink_until(Duration::from_secs(20), |got| got.len() >= 3).unwrap();
    guest.collect_netlink_until(Duration::from_millis(500), |_| false).unwrap();
    let multicast = netlink_records(protocol.unit, order, guest.netlink_deliveries()).unwrap();
    let (carried, rest) = totals(&protocol, order, &multicast);
    assert_eq!((carried, rest), (answered, vec![]), "{kernel}: the group carries each total once, in order");
    guest.shutdown().unwrap().check().unwrap();
}

/// A message of a type the protocol lacks and an add of the wrong size are
/// refused with their errno and the module's reason; nothing is added.
fn malformed_messages_are_refused_with_their_reason(kernel: &str) {
    let protocol = Protocol::from_header();
    let mut guest = boot(kernel);
    let refusal = |guest: &mut ModuleGuest, kind: u16, payload: &[u8]| {
        let records = guest.netlink_request(protocol.unit, kind, ACK, payload).unwrap();
        match &records[..] {
            [Record::Error { errno, message, .. }] => (*errno, message.clone().unwrap_or_default()),
            other => panic!("{kernel}: want one error, got {other:?}"),
        }
    };
    assert_eq!(refusal(&mut guest, protocol.total, &[]), (95, "nlsum: unknown message type".into()), "EOPNOTSUPP");
    assert_eq!(refusal(&mut guest, protocol.add, &[1, 2]), (22, "nlsum: an add carries one __u32".into()), "EINVAL");
    let order = guest.byte_order();
    let records = guest.netlink_request(protocol.unit, protocol.add, 0, &add_payload(1, order)).unwrap();
    assert_eq!(totals(&protocol, order, &records).0, [(1, 1)], "{kernel}: the refused messages added nothing");
    guest.shutdown().unwrap().check().unwrap();
}

kulink::kernel_tests!(
    each_add_is_answered_with_the_total_and_multicast,
    malformed_messages_are_refused_with_their_reason
);
