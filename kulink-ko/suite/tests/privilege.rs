//! Who may do what to kulink.ko (the README's security model): counters are
//! anyone's; events and changes need CAP_NET_ADMIN over the network
//! namespace they belong to; global settings need the initial namespace.

mod common;

use kulink_ko_contract::probe::{Access, Probe, ProbeReport, StepOutcome, OWNER_ECHO_ID, ROOT_MESSAGE, USERNS_MESSAGE};
use kulink_ko_contract::uapi;
use kulink_ko_suite::guest::KulinkGuest;

const EPERM: StepOutcome = StepOutcome::Errno(libc::EPERM);
const EACCES: StepOutcome = StepOutcome::Errno(libc::EACCES);
const OK: StepOutcome = StepOutcome::Ok(());

fn reply(message: &str) -> StepOutcome<String> {
    StepOutcome::Ok(format!("{}, you said: {message}", uapi::SO_REPLY))
}

/// Every access, named, without the sockopt message's text.
fn doors(a: &Access) -> Vec<(&'static str, StepOutcome)> {
    vec![
        ("join events", a.join_events.clone()),
        ("join relay", a.join_relay.clone()),
        ("SUBSCRIBE", a.subscribe.clone()),
        ("GET_STATS", a.genl_stats.clone()),
        ("/proc/kulink/events", a.proc_events.clone()),
        ("/proc/kulink/stats", a.proc_stats.clone()),
        ("/proc/kulink/control", a.proc_control.clone()),
        ("kulinkfs log", a.kulinkfs_log.clone()),
        ("kulinkfs stats", a.kulinkfs_stats.clone()),
        ("sysfs counter", a.sysfs_counter.clone()),
        ("/dev/kulink", a.chardev.clone()),
        ("sysctl write", a.sysctl_write.clone()),
        ("sockopt stats", a.sockopt_stats.clone()),
        ("sockopt set", a.sockopt_set_msg.clone()),
        ("sockopt get", a.sockopt_get_msg.unit()),
    ]
}

fn check_doors(m: &mut common::Mismatches, who: &str, access: &Access, want: &[(&str, StepOutcome)]) {
    let got = doors(access);
    let names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, want.iter().map(|(n, _)| *n).collect::<Vec<_>>(), "the table names every door");
    for ((name, got), (_, want)) in got.iter().zip(want) {
        m.check(&format!("{who}: {name}"), got, want);
    }
}

/// Defects: /proc/kulink/events and kulinkfs `log` gave any user the
/// events that multicast keeps for CAP_NET_ADMIN; the sockopt refused
/// counters every other channel gives anyone; and the sockopt message was
/// one global buffer, so an unprivileged user owning a user and network
/// namespace could set what root in the initial namespace read.
fn events_need_net_admin_over_their_namespace_on_every_channel(kernel: &str) {
    let mut vm = common::boot(kernel, &[]);
    let ProbeReport::Unprivileged(r) = vm.probe(Probe::Unprivileged).unwrap() else { panic!("wrong report") };
    let mut m = common::Mismatches::default();

    let everything = [
        ("join events", OK),
        ("join relay", OK),
        ("SUBSCRIBE", OK),
        ("GET_STATS", OK),
        ("/proc/kulink/events", OK),
        ("/proc/kulink/stats", OK),
        ("/proc/kulink/control", OK),
        ("kulinkfs log", OK),
        ("kulinkfs stats", OK),
        ("sysfs counter", OK),
        ("/dev/kulink", OK),
        ("sysctl write", OK),
        ("sockopt stats", OK),
        ("sockopt set", OK),
        ("sockopt get", OK),
    ];
    check_doors(&mut m, "root", &r.root, &everything);
    m.check("root: sockopt message", &r.root.sockopt_get_msg, &reply(ROOT_MESSAGE));

    check_doors(
        &mut m,
        "nobody",
        &r.nobody,
        &[
            ("join events", EPERM),
            ("join relay", EPERM),
            ("SUBSCRIBE", EPERM),
            ("GET_STATS", OK),
            ("/proc/kulink/events", EPERM),
            ("/proc/kulink/stats", OK),
            ("/proc/kulink/control", EACCES),
            ("kulinkfs log", EPERM),
            ("kulinkfs stats", OK),
            ("sysfs counter", OK),
            ("/dev/kulink", EACCES),
            ("sysctl write", EACCES),
            ("sockopt stats", OK),
            ("sockopt set", EPERM),
            ("sockopt get", EPERM),
        ],
    );

    // Owning a network namespace makes its events and its sockopt message
    // yours, not the initial namespace's, nor the global settings.
    check_doors(
        &mut m,
        "namespace owner",
        &r.namespace_owner,
        &[
            ("join events", OK),
            ("join relay", OK),
            ("SUBSCRIBE", OK),
            ("GET_STATS", OK),
            ("/proc/kulink/events", OK),
            ("/proc/kulink/stats", OK),
            ("/proc/kulink/control", EACCES),
            ("kulinkfs log", EPERM),
            ("kulinkfs stats", OK),
            ("sysfs counter", OK),
            ("/dev/kulink", EACCES),
            ("sysctl write", EACCES),
            ("sockopt stats", OK),
            ("sockopt set", OK),
            ("sockopt get", OK),
        ],
    );
    m.check("namespace owner: sockopt message", &r.namespace_owner.sockopt_get_msg, &reply(USERNS_MESSAGE));
    let own = r.owner_events.ok().map(|events| common::sorted_pings(events));
    m.check("namespace owner: its own events", &own, &Some(common::loopback_pings(OWNER_ECHO_ID, r.owner_pings)));
    m.check("root's message in the initial namespace at the end", &r.root_message_after, &reply(ROOT_MESSAGE));
    m.assert_none("uid 65534 is nobody; the namespace owner is uid 65534 after unshare(CLONE_NEWUSER | CLONE_NEWNET)");
    common::finish(vm);
}

kulink::kernel_tests!(
    source: events_need_net_admin_over_their_namespace_on_every_channel);
