//! Compares what a kulink.ko channel delivered with what was injected:
//! every event exactly once, field by field, in order (the generic
//! [`delivery`] check, keyed by the fields a frame predicts), on the right
//! interface, with rising kernel sequence numbers.

use serde::Serialize;

use crate::guest::{Listener, Notified, Received};
use crate::plan::Expected;
use kulink::delivery;
pub use kulink::delivery::Order;

/// One listener's verdict on the events it got, as `kulink run` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelResult {
    /// The channel's name.
    pub name: String,
    /// Always "events": the channel carries events (see `report::CheckChannel`).
    pub kind: &'static str,
    /// The unicast subscriber, for netlink unicast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<String>,
    /// Events expected: one per reported frame.
    pub injected: usize,
    /// Events the listener got.
    pub received: usize,
    /// Expected events received, each counted once.
    pub matched: usize,
    /// Expected events never received.
    pub lost: usize,
    /// Events received more than once.
    pub duplicates: usize,
    /// Events received that match no injected frame.
    pub unexpected: usize,
    /// Matched events reported on another interface than the one the frame
    /// came in on.
    pub wrong_ifindex: usize,
    /// Arrival order equals injection order, and kernel sequence numbers rise.
    pub in_order: bool,
    /// Median latency from the kernel's timestamp to the agent.
    pub latency_p50_us: Option<f64>,
    /// 99th percentile of the same.
    pub latency_p99_us: Option<f64>,
    /// The first few differences, for people.
    pub problems: Vec<String>,
    /// Every event exactly once, nothing else, in order, on the right
    /// interface.
    pub passed: bool,
}

/// Checks the events one listener got (picked out of `events`) against the
/// expected list.
pub fn check(listener: &Listener, expected: &[Expected], events: &[Received], ifindex: u32) -> ChannelResult {
    check_ordered(listener, expected, events, ifindex, Order::Kept)
}

/// [`check`] with the order the channel promises: with [`Order::Kept`] the
/// events must also arrive in the order sent, with rising kernel sequence
/// numbers.
pub fn check_ordered(
    listener: &Listener,
    expected: &[Expected],
    events: &[Received],
    ifindex: u32,
    order: Order,
) -> ChannelResult {
    let received = of_listener(events, listener);
    let delivery =
        delivery::check_described(expected, &received, |r| Expected::of(&r.event), order, Expected::to_string);
    let mut problems = delivery.problems.clone();
    let mut note = |p: String| {
        if problems.len() < delivery::MAX_PROBLEMS {
            problems.push(p)
        }
    };
    let seq_rises = received.windows(2).all(|w| w[0].event.seq < w[1].event.seq);
    if order == Order::Kept && !seq_rises {
        note("kernel sequence numbers fall".into());
    }
    let first_copies = received.iter().zip(&delivery.matches).filter(|(_, m)| m.is_some()).map(|(r, _)| r);
    let elsewhere: Vec<_> = first_copies.filter(|r| r.event.ifindex != ifindex).collect();
    for r in &elsewhere {
        note(format!("event on ifindex {} (want {ifindex}): {:?}", r.event.ifindex, r.event));
    }
    let in_order = delivery.in_order && (order == Order::Free || seq_rises);
    let mut latencies: Vec<u64> = received.iter().filter_map(|r| r.latency_ns).collect();
    latencies.sort_unstable();
    ChannelResult {
        name: listener.channel.clone(),
        kind: "events",
        subscriber: listener.subscriber.clone(),
        injected: expected.len(),
        received: received.len(),
        matched: delivery.matched,
        lost: delivery.lost,
        duplicates: delivery.duplicates,
        unexpected: delivery.unexpected,
        wrong_ifindex: elsewhere.len(),
        in_order,
        latency_p50_us: percentile_us(&latencies, 0.50),
        latency_p99_us: percentile_us(&latencies, 0.99),
        problems,
        passed: delivery.passed() && elsewhere.is_empty() && in_order,
    }
}

/// Turns sequence-number notifications into events of their own channel, by
/// looking each number up among `reference` events (another channel's copy).
/// A number nobody reported becomes an event that matches nothing.
pub fn resolve_notified(notified: &[Notified], reference: &[&Received]) -> Vec<Received> {
    notified
        .iter()
        .map(|n| {
            let known = reference.iter().find(|r| r.event.seq == n.seq);
            let event = known.map(|r| r.event).unwrap_or(kulink_ko_contract::Event {
                seq: n.seq,
                tstamp_ns: 0,
                ifindex: 0,
                src: std::net::Ipv4Addr::UNSPECIFIED,
                dst: std::net::Ipv4Addr::UNSPECIFIED,
                icmp_type: 0,
                code: 0,
                echo_id: 0,
                echo_seq: 0,
                len: 0,
                flags: 0,
            });
            Received {
                channel: n.channel.clone(),
                subscriber: None,
                latency_ns: known.map(|r| n.received_ns.saturating_sub(r.event.tstamp_ns)),
                event,
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted nanoseconds, in microseconds.
pub fn percentile_us(sorted_ns: &[u64], q: f64) -> Option<f64> {
    if sorted_ns.is_empty() {
        return None;
    }
    let rank = ((q * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
    Some(sorted_ns[rank - 1] as f64 / 1000.0)
}

/// The events one listener got, in arrival order.
pub fn of_listener<'a>(events: &'a [Received], listener: &Listener) -> Vec<&'a Received> {
    events.iter().filter(|r| r.channel == listener.channel && r.subscriber == listener.subscriber).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kulink_ko_contract::Event;
    use std::net::Ipv4Addr;

    fn ev(seq: u64, id: u16) -> Event {
        Event {
            seq,
            tstamp_ns: 0,
            ifindex: 2,
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 15),
            icmp_type: 8,
            code: 0,
            echo_id: id,
            echo_seq: 1,
            len: 84,
            flags: 0,
        }
    }

    fn rec(seq: u64, id: u16, latency_ns: u64) -> Received {
        Received { channel: "c".into(), subscriber: None, latency_ns: Some(latency_ns), event: ev(seq, id) }
    }

    fn listener() -> Listener {
        Listener { channel: "c".into(), subscriber: None }
    }

    #[test]
    fn exact_delivery_passes() {
        let expected: Vec<_> = (1..=3).map(|i| Expected::of(&ev(0, i))).collect();
        let got = [rec(1, 1, 1000), rec(2, 2, 2000), rec(3, 3, 3000)];
        let r = check(&listener(), &expected, &got, 2);
        assert!(r.passed, "{r:?}");
        assert_eq!((r.matched, r.received), (3, 3));
        assert_eq!(r.latency_p50_us, Some(2.0));
        assert_eq!(r.latency_p99_us, Some(3.0));
    }

    #[test]
    fn loss_duplicates_strangers_and_reordering_fail() {
        let expected: Vec<_> = (1..=3).map(|i| Expected::of(&ev(0, i))).collect();
        let got = [rec(1, 2, 0), rec(2, 1, 0), rec(3, 1, 0), rec(4, 9, 0)];
        let r = check(&listener(), &expected, &got, 2);
        assert!(!r.passed);
        assert_eq!((r.matched, r.lost, r.duplicates, r.unexpected), (2, 1, 1, 1));
        assert!(!r.in_order);
    }

    #[test]
    fn a_wrong_field_is_not_a_match() {
        let expected = vec![Expected::of(&ev(0, 1))];
        let mut bad = rec(1, 1, 0);
        bad.event.len = 85;
        let r = check(&listener(), &expected, &[bad], 2);
        assert_eq!((r.matched, r.lost, r.unexpected), (0, 1, 1));
    }

    #[test]
    fn wrong_interface_and_falling_kernel_seq_fail() {
        let expected: Vec<_> = (1..=2).map(|i| Expected::of(&ev(0, i))).collect();
        let mut a = rec(5, 1, 0);
        a.event.ifindex = 1;
        let b = rec(4, 2, 0);
        let r = check(&listener(), &expected, &[a, b], 2);
        assert_eq!(r.wrong_ifindex, 1);
        assert!(!r.in_order);
    }

    #[test]
    fn free_order_forgives_swaps_but_not_loss() {
        let expected: Vec<_> = (1..=2).map(|i| Expected::of(&ev(0, i))).collect();
        let got = [rec(2, 2, 0), rec(1, 1, 0)];
        assert!(check_ordered(&listener(), &expected, &got, 2, Order::Free).passed);
        assert!(!check_ordered(&listener(), &expected, &got, 2, Order::Kept).passed);
        assert!(!check_ordered(&listener(), &expected, &got[..1], 2, Order::Free).passed);
    }

    #[test]
    fn notifications_resolve_through_another_channel() {
        let reference = [rec(7, 1, 0)];
        let refs: Vec<&Received> = reference.iter().collect();
        let notified = [
            Notified { channel: "rt".into(), seq: 7, received_ns: 5_000 },
            Notified { channel: "rt".into(), seq: 99, received_ns: 1 },
        ];
        let got = resolve_notified(&notified, &refs);
        assert_eq!(got[0].event, reference[0].event);
        assert_eq!(got[0].latency_ns, Some(5_000));
        assert_eq!((got[1].event.seq, got[1].latency_ns), (99, None));
        let expected = vec![Expected::of(&ev(0, 1))];
        let r = check(&Listener { channel: "rt".into(), subscriber: None }, &expected, &got, 2);
        assert_eq!((r.matched, r.unexpected), (1, 1));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_us(&v, 0.5), Some(50.0));
        assert_eq!(percentile_us(&v, 0.99), Some(99.0));
        assert_eq!(percentile_us(&[], 0.5), None);
    }
}
