//! What kulink.ko's configuration channels must show. The agent reports what
//! each step gave ([`Observed`]); the expectations and the verdict are
//! here, on the host, step by step.

use std::collections::BTreeSet;
use std::fmt::{self, Debug};

use kulink_ko_contract::observed::{
    sysctl_bad_writes, ChardevSeen, Observed, SockoptSeen, SysctlSeen, SysfsSeen, SOCKOPT_MESSAGE,
};
use kulink_ko_contract::probe::StepOutcome;
use kulink_ko_contract::{uapi, Channel, Stats};
use nix::errno::Errno;
use serde::Serialize;

/// One expectation and what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What was tried and what should happen.
    pub what: String,
    /// It happened.
    pub passed: bool,
    /// What did happen.
    pub seen: String,
}

/// A configuration channel's verdict: every step, passed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The channel checked.
    pub channel: Channel,
    /// Each expectation in the order tried.
    pub steps: Vec<Step>,
}

impl Verdict {
    /// At least one step, and every step passed.
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }

    /// The step that states `what`, if any.
    pub fn step(&self, what: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.what == what)
    }

    /// One line per step, failures marked, for people.
    pub fn lines(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| format!("{} {}: {}", if s.passed { "ok  " } else { "FAIL" }, s.what, s.seen))
            .collect()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.lines().join("\n"))
    }
}

/// Judges what the agent saw on one configuration channel.
pub fn judge(observed: &Observed) -> Verdict {
    match observed {
        Observed::Sysctl(seen) => sysctl(seen),
        Observed::Sysfs(seen) => sysfs(seen),
        Observed::Sockopt(seen) => sockopt(seen),
        Observed::Chardev(seen) => chardev(seen),
    }
}

/// The module's sysctl table (module/sysctl.c).
pub const SYSCTLS: [&str; 5] = ["batch", "enabled", "icmp_types", "ring_pages", "umh_rate"];

fn sysctl(seen: &SysctlSeen) -> Verdict {
    let mut v = Steps::new(Channel::Sysctl);
    let tried: Vec<(&str, &str)> = seen.writes.iter().map(|w| (w.name.as_str(), w.value.as_str())).collect();
    let planned = sysctl_bad_writes();
    let planned: Vec<(&str, &str)> = planned.iter().map(|(n, val)| (*n, val.as_str())).collect();
    v.expect("every value outside a limit was tried", tried == planned, &tried);
    for w in &seen.writes {
        v.errno(&format!("{} = {}", w.name, w.value), &w.write, libc::EINVAL);
        v.expect(
            &format!("{} unchanged after the bad write", w.name),
            w.before.is_ok() && w.after == w.before,
            &w.after,
        );
    }
    v.names("the files are the module's table", seen.values.keys(), SYSCTLS);
    for (name, value) in &seen.values {
        let number = value.ok().is_some_and(|v| v.parse::<i64>().is_ok());
        v.expect(&format!("{name} reads as a number"), number, value);
    }
    v.done()
}

/// Each sysfs counter (module/sysfs.c) and the GET_STATS field it shows.
pub fn sysfs_counters(stats: &Stats) -> [(&'static str, u64); 9] {
    [
        ("events", stats.events_built),
        ("netlink_multicast", stats.mcast_sent),
        ("netlink_unicast", stats.unicast_sent),
        ("chardev", stats.chardev_queued),
        ("mmap_ring", stats.ring_written),
        ("signal_sigio", stats.sigio_sent),
        ("signal_rt", stats.sigrt_sent),
        ("usermode_helper", stats.umh_run),
        ("kthread_relay", stats.relay_sent),
    ]
}

fn sysfs(seen: &SysfsSeen) -> Verdict {
    let mut v = Steps::new(Channel::Sysfs);
    let counters = sysfs_counters(&seen.netlink_stats);
    let names = std::iter::once("version").chain(counters.iter().map(|(n, _)| *n));
    v.names("the attributes are the module's", seen.attributes.keys(), names);
    let version = seen.attributes.get("version");
    let same = version.and_then(StepOutcome::ok).is_some_and(|got| seen.module_version.ok() == Some(got));
    v.expect("version equals the module's", same, &(version, &seen.module_version));
    for (name, want) in counters {
        let got = seen.attributes.get(name);
        let ok = got.and_then(StepOutcome::ok).is_some_and(|g| g.parse::<u64>() == Ok(want));
        v.expect(&format!("{name} equals GET_STATS ({want})"), ok, &got);
    }
    v.errno("a write to events", &seen.write_events, libc::EACCES);
    v.done()
}

fn sockopt(seen: &SockoptSeen) -> Verdict {
    let mut v = Steps::new(Channel::Sockopt);
    v.expect(&format!("set {SOCKOPT_MESSAGE:?}"), seen.set_message.is_ok(), &seen.set_message);
    let want = format!("{}, you said: {SOCKOPT_MESSAGE}", uapi::SO_REPLY);
    v.equal(&format!("get answers {want:?}"), &seen.message, &want);
    v.equal("stats get equals generic netlink GET_STATS", &seen.stats, &seen.netlink_stats);
    v.errno("set with length 0", &seen.set_empty, libc::EINVAL);
    v.errno("set longer than the limit", &seen.set_too_long, libc::EINVAL);
    v.errno("stats get with a wrong length", &seen.stats_wrong_length, libc::EINVAL);
    v.errno("message get into a 4-byte buffer", &seen.message_short_buffer, libc::EINVAL);
    v.errno("set without CAP_NET_ADMIN", &seen.set_unprivileged, libc::EPERM);
    v.errno("get without CAP_NET_ADMIN", &seen.get_unprivileged, libc::EPERM);
    v.done()
}

fn chardev(seen: &ChardevSeen) -> Verdict {
    let mut v = Steps::new(Channel::Chardev);
    v.equal("GET_STATS equals generic netlink GET_STATS", &seen.stats, &seen.netlink_stats);
    v.expect("SET_FILTER", seen.set_filter.is_ok(), &seen.set_filter);
    v.equal("GET_FILTER gives the filter back", &seen.get_filter, &seen.filter);
    v.errno("GET_STATS to a bad pointer", &seen.stats_to_bad_pointer, libc::EFAULT);
    v.errno("SET_FILTER from a bad pointer", &seen.filter_from_bad_pointer, libc::EFAULT);
    v.errno("an unknown ioctl", &seen.unknown_ioctl, libc::ENOTTY);
    v.errno("SET_SIGNAL with a non-real-time signal", &seen.non_rt_signal, libc::EINVAL);
    v.errno("read() shorter than a record", &seen.short_read, libc::EINVAL);
    v.errno("O_NONBLOCK read() of an empty queue", &seen.empty_read, libc::EAGAIN);
    v.errno("write() of a wrong size", &seen.wrong_size_write, libc::EINVAL);
    v.errno("write() of an event with reserved bytes set", &seen.reserved_bytes_write, libc::EINVAL);
    v.errno("write() of an event that names its own seq", &seen.own_seq_write, libc::EINVAL);
    v.done()
}

/// An errno as its name and meaning: "EINVAL: Invalid argument".
pub fn errno_name(errno: i32) -> String {
    Errno::from_raw(errno).to_string()
}

/// What an outcome was, for a step's `seen`.
fn show<T: Debug>(outcome: &StepOutcome<T>) -> String {
    match outcome {
        StepOutcome::Ok(v) => format!("{v:?}"),
        StepOutcome::Errno(e) => format!("failed with {}", errno_name(*e)),
        StepOutcome::Failed(why) => format!("failed: {why}"),
    }
}

struct Steps(Verdict);

impl Steps {
    fn new(channel: Channel) -> Self {
        Self(Verdict { channel, steps: Vec::new() })
    }

    fn expect(&mut self, what: &str, passed: bool, seen: &dyn Debug) {
        self.0.steps.push(Step { what: what.into(), passed, seen: format!("{seen:?}") });
    }

    fn equal<T: PartialEq + Debug>(&mut self, what: &str, got: &StepOutcome<T>, want: &T) {
        let passed = got.ok() == Some(want);
        self.0.steps.push(Step { what: what.into(), passed, seen: show(got) });
    }

    /// The step must fail with exactly `errno`.
    fn errno<T: Debug>(&mut self, what: &str, got: &StepOutcome<T>, errno: i32) {
        let passed = matches!(got, StepOutcome::Errno(e) if *e == errno);
        let what = format!("{what} fails with {}", errno_name(errno));
        self.0.steps.push(Step { what, passed, seen: show(got) });
    }

    /// The names seen are exactly `want`, in any order.
    fn names<'a>(
        &mut self,
        what: &str,
        seen: impl Iterator<Item = &'a String>,
        want: impl IntoIterator<Item = &'a str>,
    ) {
        let seen: BTreeSet<&str> = seen.map(String::as_str).collect();
        let want: BTreeSet<&str> = want.into_iter().collect();
        self.expect(what, seen == want, &seen);
    }

    fn done(self) -> Verdict {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use kulink_ko_contract::observed::{SysctlWrite, SysfsSeen};

    use super::*;

    fn good_sysctl() -> SysctlSeen {
        let writes = sysctl_bad_writes()
            .into_iter()
            .map(|(name, value)| SysctlWrite {
                name: name.into(),
                value,
                before: StepOutcome::Ok("1".into()),
                write: StepOutcome::Errno(libc::EINVAL),
                after: StepOutcome::Ok("1".into()),
            })
            .collect();
        let values = SYSCTLS.iter().map(|n| (n.to_string(), StepOutcome::Ok("1".into()))).collect();
        SysctlSeen { values, writes }
    }

    #[test]
    fn sysctl_passes_only_when_every_bad_write_is_refused_and_changes_nothing() {
        assert!(judge(&Observed::Sysctl(good_sysctl())).passed());

        let mut accepted = good_sysctl();
        accepted.writes[3].write = StepOutcome::Ok(());
        accepted.writes[3].after = StepOutcome::Ok(accepted.writes[3].value.clone());
        let verdict = judge(&Observed::Sysctl(accepted));
        let failed: Vec<&str> = verdict.steps.iter().filter(|s| !s.passed).map(|s| s.what.as_str()).collect();
        let value = &sysctl_bad_writes()[3].1;
        assert_eq!(
            failed,
            [
                format!("batch = {value} fails with EINVAL: Invalid argument"),
                "batch unchanged after the bad write".into()
            ]
        );

        let mut skipped = good_sysctl();
        skipped.writes.pop();
        assert!(!judge(&Observed::Sysctl(skipped)).step("every value outside a limit was tried").unwrap().passed);

        let mut extra = good_sysctl();
        extra.values.insert("debug".into(), StepOutcome::Ok("0".into()));
        assert!(!judge(&Observed::Sysctl(extra)).passed(), "a file the table does not have");
    }

    #[test]
    fn sysfs_counters_must_equal_get_stats_and_refuse_writes() {
        let stats = Stats { events_built: 13, unicast_sent: 13, ..Default::default() };
        let mut attributes: std::collections::BTreeMap<String, StepOutcome<String>> =
            sysfs_counters(&stats).iter().map(|(n, v)| (n.to_string(), StepOutcome::Ok(v.to_string()))).collect();
        attributes.insert("version".into(), StepOutcome::Ok("0.4".into()));
        let seen = SysfsSeen {
            attributes,
            module_version: StepOutcome::Ok("0.4".into()),
            write_events: StepOutcome::Errno(libc::EACCES),
            netlink_stats: stats,
        };
        assert!(judge(&Observed::Sysfs(seen.clone())).passed());

        let mut off_by_one = seen.clone();
        off_by_one.attributes.insert("events".into(), StepOutcome::Ok("12".into()));
        let verdict = judge(&Observed::Sysfs(off_by_one));
        assert!(!verdict.step("events equals GET_STATS (13)").unwrap().passed, "{verdict}");

        let mut writable = seen;
        writable.write_events = StepOutcome::Ok(());
        assert!(!judge(&Observed::Sysfs(writable)).passed());
    }

    #[test]
    fn a_wrong_errno_fails_and_says_which_it_was() {
        let seen = ChardevSeen {
            stats: StepOutcome::Ok(Stats::default()),
            netlink_stats: Stats::default(),
            filter: 256,
            set_filter: StepOutcome::Ok(()),
            get_filter: StepOutcome::Ok(256),
            stats_to_bad_pointer: StepOutcome::Errno(libc::EFAULT),
            filter_from_bad_pointer: StepOutcome::Errno(libc::EFAULT),
            unknown_ioctl: StepOutcome::Errno(libc::EINVAL),
            non_rt_signal: StepOutcome::Errno(libc::EINVAL),
            short_read: StepOutcome::Errno(libc::EINVAL),
            empty_read: StepOutcome::Errno(libc::EAGAIN),
            wrong_size_write: StepOutcome::Errno(libc::EINVAL),
            reserved_bytes_write: StepOutcome::Errno(libc::EINVAL),
            own_seq_write: StepOutcome::Errno(libc::EINVAL),
        };
        let verdict = judge(&Observed::Chardev(seen));
        let failed: Vec<&Step> = verdict.steps.iter().filter(|s| !s.passed).collect();
        assert_eq!(failed.len(), 1, "{verdict}");
        assert_eq!(failed[0].what, "an unknown ioctl fails with ENOTTY: Not a typewriter");
        assert_eq!(failed[0].seen, "failed with EINVAL: Invalid argument");
        assert!(verdict.lines().iter().any(|l| l.starts_with("FAIL an unknown ioctl")));
    }

    #[test]
    fn no_steps_is_no_pass() {
        assert!(!Verdict { channel: Channel::Sysfs, steps: Vec::new() }.passed());
    }
}
