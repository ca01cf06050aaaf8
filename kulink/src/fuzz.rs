//! Generic netlink fuzzing driven by a family's YNL spec: well-formed
//! messages for every operation (any attribute kind YNL has, values at and
//! inside the spec's `checks`), then the same mutated (unknown commands and
//! attributes, duplicated, oversized and truncated attributes, values just
//! past the checks, lying lengths, bad nesting, cut headers, dumps of every
//! command), sent by the
//! guest agent as they are. Every message must be answered with an ACK or
//! an error (a dump: ended by `NLMSG_DONE`), except those whose netlink
//! header claims more bytes than were sent, which the netlink core drops
//! unanswered; and the kernel log must stay clean. Sent by an unprivileged
//! user, every message to an operation whose spec `flags` ask for
//! `CAP_NET_ADMIN` must be refused with `EPERM` (a dump of an operation
//! that has none may be refused as unsupported first).
//!
//! ```
//! use kulink::fuzz;
//! use kulink::testbed::genl::Spec;
//!
//! let spec = Spec::parse("name: demo\noperations:\n  list:\n    - name: get\n      value: 1\n").unwrap();
//! let cases = fuzz::cases(&spec, 1000, 7);
//! assert_eq!(cases.len(), 1000);
//! assert!(cases.iter().any(|c| c.mutation == "unknown command"));
//! ```

use std::collections::BTreeMap;

use anyhow::Result;
use kulink_protocol::{Extension, GenlAnswer, GenlBurst, RawGenl};
use kulink_testbed::genl::codec::{AttrWriter, GENL_HDRLEN, NLA_F_NESTED, NLM_F_ACK, NLM_F_REQUEST};
use kulink_testbed::genl::sample;
use kulink_testbed::genl::spec::{AttrKind, AttrSpec, Operation, Protocol, Spec};
use kulink_testbed::genl::Checks;
use kulink_testbed::splat::Splat;
use kulink_testbed::vm::Vm;
use serde::Serialize;

use crate::builder::GuestBuilder;

/// `NLM_F_DUMP`: `NLM_F_ROOT | NLM_F_MATCH`.
const NLM_F_DUMP: u16 = 0x300;

/// `EPERM` and `EOPNOTSUPP` as netlink errors carry them.
const EPERM: i32 = -libc::EPERM;
const EOPNOTSUPP: i32 = -libc::EOPNOTSUPP;

/// Who sends the messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// Root in the initial namespaces.
    #[default]
    Root,
    /// uid and gid 65534 without capabilities, on a socket it opened.
    Unprivileged,
}

/// One message and how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The mutation applied (`well-formed` for none).
    pub mutation: &'static str,
    /// The message.
    pub message: RawGenl,
    /// Its generic netlink header is whole and names an operation whose
    /// spec asks for `CAP_NET_ADMIN`.
    pub needs_admin: bool,
}

impl Case {
    /// The netlink core answers it: its header does not claim more bytes
    /// than were sent.
    pub fn expects_answer(&self) -> bool {
        self.message.len_delta <= 0
    }

    fn is_dump(&self) -> bool {
        self.message.flags & NLM_F_DUMP == NLM_F_DUMP
    }

    /// What `answer` breaks of the promise to `sender`, as the answer that
    /// was wanted; `None` when it keeps it.
    pub fn broken_promise(&self, answer: &GenlAnswer, sender: Sender) -> Option<&'static str> {
        let answered = answer.error.is_some() || answer.done;
        if !self.expects_answer() {
            return answered.then_some("no answer");
        }
        if sender == Sender::Unprivileged && self.needs_admin {
            // The permission check comes before the attributes are parsed;
            // since 6.1 a dump of an operation without one is refused first.
            let refused = match answer.error {
                Some(EPERM) => true,
                Some(EOPNOTSUPP) => self.is_dump(),
                _ => false,
            };
            return (!refused || answer.replies > 0).then_some("EPERM");
        }
        (!answered).then_some("an ACK or an error")
    }
}

/// Every mutation, in the order `cases` cycles through them.
pub const MUTATIONS: &[&str] = &[
    "well-formed",
    "dump",
    "unknown command",
    "unknown attribute",
    "duplicate attribute",
    "oversized attribute",
    "truncated attribute",
    "nla_len beyond the message",
    "nla_len below its header",
    "scalar marked nested",
    "bad nesting",
    "cut generic netlink header",
    "netlink length too long",
    "random body",
    "beyond the checks",
];

/// `count` messages for the family `spec` describes, from `seed`: the
/// same arguments always give the same messages.
pub fn cases(spec: &Spec, count: usize, seed: u64) -> Vec<Case> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count)
        .map(|i| {
            let mutation = MUTATIONS[i % MUTATIONS.len()];
            let message = mutate(spec, mutation, &mut rng);
            let needs_admin = message.body.len() >= GENL_HDRLEN
                && spec.operation_by_request(message.body[0].into()).is_some_and(|o| o.permission.needs_admin());
            Case { mutation, message, needs_admin }
        })
        .collect()
}

fn mutate(spec: &Spec, mutation: &'static str, rng: &mut fastrand::Rng) -> RawGenl {
    let ack = NLM_F_REQUEST | NLM_F_ACK;
    // Events have no request number: nothing sends them.
    let requests: Vec<&Operation> = spec.operations.iter().filter(|o| o.value != 0).collect();
    let op = (!requests.is_empty()).then(|| requests[rng.usize(..requests.len())]);
    // A generic netlink spec's commands are 8 bits (Spec checks it).
    let command = op.map_or(1, |o| u8::try_from(o.value).unwrap_or(u8::MAX));
    let set: Vec<&AttrSpec> = op
        .and_then(|o| o.attribute_set.as_deref())
        .and_then(|name| spec.set(name))
        .map(|s| s.attributes.iter().filter(|a| !matches!(a.kind, AttrKind::Pad | AttrKind::Unused)).collect())
        .unwrap_or_default();
    let top = set.iter().map(|a| a.value).max().unwrap_or(0);
    let mut w = AttrWriter::new();
    let mut flags = ack;
    let mut len_delta = 0;
    let mut header_len = 4;
    // Well-formed bodies, before what `w` gets.
    let mut body = Vec::new();
    let well_formed = |body: &mut Vec<u8>, rng: &mut fastrand::Rng| {
        if let Some(op) = op {
            body.extend(well_formed(spec, op, rng));
        }
    };
    match mutation {
        "well-formed" | "dump" => {
            well_formed(&mut body, rng);
            if mutation == "dump" {
                flags |= NLM_F_DUMP;
            }
        }
        "unknown command" => {
            let known: Vec<u16> = spec.operations.iter().map(|o| o.value).collect();
            let unknown = (0..=255u8).filter(|c| !known.contains(&u16::from(*c))).collect::<Vec<_>>();
            return raw(unknown[rng.usize(..unknown.len())], flags, Vec::new(), 0, 4);
        }
        "unknown attribute" => w.put(top + 1 + rng.u16(..64), &rng_bytes(rng, 8..9)),
        "duplicate attribute" => {
            well_formed(&mut body, rng);
            well_formed(&mut body, rng);
        }
        "oversized attribute" => {
            if let Some(a) = pick(&set, rng) {
                w.put(a.value, &rng_bytes(rng, 16..4112));
            }
        }
        "truncated attribute" => {
            if let Some(a) = pick(&set, rng) {
                w.put(a.value, &rng_bytes(rng, 1..2));
            }
        }
        "nla_len beyond the message" | "nla_len below its header" => {
            let kind = pick(&set, rng).map_or(1, |a| a.value);
            let mut bytes = Vec::new();
            let nla_len: u16 =
                if mutation == "nla_len beyond the message" { 64 + rng.u16(..1024) } else { rng.u16(..4) };
            bytes.extend_from_slice(&nla_len.to_ne_bytes());
            bytes.extend_from_slice(&kind.to_ne_bytes());
            bytes.extend_from_slice(&rng_bytes(rng, 4..5));
            return raw(command, flags, bytes, 0, 4);
        }
        "scalar marked nested" => {
            if let Some(a) = pick(&set, rng) {
                w.put(a.value | NLA_F_NESTED, &rng_bytes(rng, 8..9));
            }
        }
        "bad nesting" => {
            let nest = set.iter().copied().find(|a| matches!(a.kind, AttrKind::Nest(_))).or(pick(&set, rng));
            w.begin_nest(nest.map_or(1, |a| a.value));
            w.put(rng.u16(1..64) | NLA_F_NESTED, &rng_bytes(rng, 3..4));
            w.put(rng.u16(1..64), &rng_bytes(rng, 0..12));
            w.end_nest();
        }
        "cut generic netlink header" => header_len = rng.usize(..4),
        "netlink length too long" => {
            well_formed(&mut body, rng);
            len_delta = rng.i32(4..260);
        }
        "beyond the checks" => {
            let checked: Vec<&AttrSpec> = set.iter().copied().filter(|a| a.checks != Checks::default()).collect();
            if let Some(a) = pick(&checked, rng) {
                w.put(a.value, &beyond_checks(a, rng));
            }
        }
        _ => return raw(command, flags, rng_bytes(rng, 0..256), 0, 0),
    }
    body.extend(w.into_bytes());
    raw(command, flags, body, len_delta, header_len)
}

/// A generic netlink header (its first `header_len` bytes) and attributes.
fn raw(command: u8, flags: u16, attrs: Vec<u8>, len_delta: i32, header_len: usize) -> RawGenl {
    let mut body = vec![command, 1, 0, 0];
    body.truncate(header_len);
    if header_len == 4 {
        body.extend_from_slice(&attrs);
    }
    RawGenl { flags, body, len_delta }
}

/// One attribute of `set` at random, if it has any.
fn pick<'a>(set: &[&'a AttrSpec], rng: &mut fastrand::Rng) -> Option<&'a AttrSpec> {
    (!set.is_empty()).then(|| set[rng.usize(..set.len())])
}

/// The body of a well-formed message of `op`: random fields as its spec
/// has them, encoded. Fields the sampler makes always encode.
fn well_formed(spec: &Spec, op: &Operation, rng: &mut fastrand::Rng) -> Vec<u8> {
    spec.encode_body(op, &sample::fields(spec, op, rng)).expect("sampled fields encode")
}

/// A payload just outside what `attr`'s checks accept: one past a bound
/// for an integer, one byte off a length otherwise.
fn beyond_checks(attr: &AttrSpec, rng: &mut fastrand::Rng) -> Vec<u8> {
    let checks = attr.checks;
    let (width, big_endian) = match attr.kind {
        AttrKind::Unsigned { width, big_endian } | AttrKind::Signed { width, big_endian } => (width, big_endian),
        _ => {
            let len = match (checks.exact_len, checks.max_len, checks.min_len) {
                (Some(exact), ..) => {
                    if rng.bool() {
                        exact + 1
                    } else {
                        exact.saturating_sub(1)
                    }
                }
                (None, Some(max), _) => max + 1,
                (None, None, Some(min)) => min.saturating_sub(1),
                (None, None, None) => 0,
            };
            return rng_bytes(rng, len..len + 1);
        }
    };
    let value = match (checks.min, checks.max) {
        (Some(min), Some(max)) => {
            if rng.bool() {
                min - 1
            } else {
                max + 1
            }
        }
        (Some(min), None) => min - 1,
        (_, Some(max)) => max + 1,
        (None, None) => 0,
    };
    let width = if width == 0 { 8 } else { usize::from(width) };
    let bytes = (value as i64).to_le_bytes();
    let mut payload = bytes[..width].to_vec();
    if big_endian || cfg!(target_endian = "big") {
        payload.reverse();
    }
    payload
}

/// Random bytes, as many as `len` picks.
fn rng_bytes(rng: &mut fastrand::Rng, len: std::ops::Range<usize>) -> Vec<u8> {
    let n = rng.usize(len);
    (0..n).map(|_| rng.u8(..)).collect()
}

/// What a fuzz run sent and what came back, by mutation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Who sent them.
    pub sender: Sender,
    /// Messages sent.
    pub sent: usize,
    /// For each mutation: how its messages were answered (`ack`, an errno
    /// name such as `EINVAL`, `dump`, `reply`, `none`) and how many times.
    pub by_mutation: BTreeMap<&'static str, BTreeMap<String, usize>>,
    /// Messages that went unanswered though the netlink core answers
    /// them, were answered though it drops them, or were not refused to an
    /// unprivileged sender: the first few, for people.
    pub problems: Vec<String>,
    /// How many such messages there were.
    pub unexpected: usize,
}

impl Tally {
    /// A tally of messages `sender` sends.
    pub fn new(sender: Sender) -> Self {
        Self { sender, ..Self::default() }
    }

    /// Adds what answered `cases` (in the same order).
    pub fn add(&mut self, cases: &[Case], answers: &[GenlAnswer]) {
        for (case, answer) in cases.iter().zip(answers) {
            let outcome = outcome(answer);
            let broken = case.broken_promise(answer, self.sender).map(|want| format!("{outcome}, want {want}"));
            self.record(case.mutation, outcome, broken);
        }
    }

    /// Counts one more message of `mutation`, answered by `outcome`, and
    /// what was wrong with that answer, if anything.
    pub fn record(&mut self, mutation: &'static str, outcome: String, broken: Option<String>) {
        self.sent += 1;
        if let Some(broken) = broken {
            self.problem(format!("message {} ({mutation}): {broken}", self.sent));
        }
        *self.by_mutation.entry(mutation).or_default().entry(outcome).or_default() += 1;
    }

    /// Counts a problem, and keeps its text if it is among the first few.
    pub fn problem(&mut self, text: String) {
        self.unexpected += 1;
        if self.problems.len() < 8 {
            self.problems.push(text);
        }
    }

    /// Every message was answered as the netlink core promises.
    pub fn passed(&self) -> bool {
        self.unexpected == 0
    }
}

/// Messages or calls a burst carries: a request to the agent each.
pub(crate) const BATCH: usize = 2000;

/// Sends `cases` to `family` in the guest as `sender`, in bursts, and
/// tallies what answered them.
pub fn send<X: Extension>(guest: &mut Vm<X>, family: &str, cases: &[Case], sender: Sender) -> Result<Tally> {
    let mut tally = Tally::new(sender);
    for chunk in cases.chunks(BATCH) {
        let burst = GenlBurst {
            family: family.into(),
            messages: chunk.iter().map(|c| c.message.clone()).collect(),
            unprivileged: sender == Sender::Unprivileged,
        };
        let answers = guest.genl_burst(burst)?;
        tally.add(chunk, &answers);
    }
    Ok(tally)
}

/// `kulink fuzz`'s verdict on one kernel.
#[derive(Debug, Clone, Serialize)]
pub struct FuzzReport {
    /// [`SCHEMA_VERSION`](crate::outcome::SCHEMA_VERSION) of the JSON.
    pub schema_version: u32,
    /// The kernel's id.
    pub kernel: String,
    /// `uname -r` in the guest.
    pub kernel_release: String,
    /// What was fuzzed (`family` or `device` in JSON).
    #[serde(flatten)]
    pub target: Target,
    /// The seed the messages came from.
    pub seed: u64,
    /// What was sent and how it was answered.
    #[serde(flatten)]
    pub tally: Tally,
    /// No splat in the kernel log.
    pub kernel_log_clean: bool,
    /// Each splat found.
    pub splats: Vec<Splat>,
    /// Every message answered as promised, and a clean kernel log.
    pub passed: bool,
    /// Where a failed run's console log and agent transcript were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<std::path::PathBuf>,
}

/// What a fuzz run aimed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A generic netlink family, by name.
    Family(String),
    /// A device node in the guest.
    Device(String),
}

/// Boots `guest`, has `sender` send `count` messages made from `spec` and
/// `seed` to its family, and judges the answers and the kernel log.
pub fn run(guest: &GuestBuilder, spec: &Spec, count: usize, seed: u64, sender: Sender) -> Result<FuzzReport> {
    if spec.protocol != Protocol::Generic {
        return Err(kulink_testbed::usage_error(format!("{}: only generic netlink families are fuzzed", spec.name)));
    }
    let cases = cases(spec, count, seed);
    let mut vm = guest.boot()?;
    if !vm.byte_order().is_native() {
        // Mutated bytes cannot all be turned by the spec: many no longer follow it.
        return Err(kulink_testbed::usage_error(format!(
            "an {} guest is not fuzzed: its byte order is not this host's, in which the messages are made",
            vm.arch()
        )));
    }
    let tally = send(&mut vm, &spec.name, &cases, sender)?;
    judge(guest, vm, Target::Family(spec.name.clone()), tally, seed)
}

/// Powers `vm` off and judges `tally` and the kernel log.
pub(crate) fn judge<X: Extension>(
    guest: &GuestBuilder<X>,
    vm: Vm<X>,
    target: Target,
    tally: Tally,
    seed: u64,
) -> Result<FuzzReport> {
    let ending = crate::outcome::power_off(vm, tally.passed())?;
    Ok(FuzzReport {
        schema_version: crate::outcome::SCHEMA_VERSION,
        kernel: guest.kernel().label(),
        kernel_release: ending.kernel_release,
        target,
        seed,
        tally,
        kernel_log_clean: ending.splats.is_empty(),
        splats: ending.splats,
        passed: ending.passed,
        evidence: ending.evidence,
    })
}

/// One word for how a message was answered.
pub fn outcome(answer: &GenlAnswer) -> String {
    if let Some(errno) = answer.send_errno {
        return format!("send {}", errno_name(errno));
    }
    match (answer.error, answer.done, answer.replies) {
        (Some(0), _, _) | (None, true, _) if answer.replies > 0 => "reply".into(),
        (Some(0), _, _) => "ack".into(),
        (Some(code), _, _) => errno_name(-code),
        (None, true, _) => "dump".into(),
        (None, false, 0) => "none".into(),
        (None, false, _) => "unended reply".into(),
    }
}

pub(crate) fn errno_name(errno: i32) -> String {
    format!("{:?}", nix::errno::Errno::from_raw(errno))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kulink_testbed::genl::codec::NLA_HDRLEN;

    fn spec() -> Spec {
        Spec::parse(
            "name: demo\nattribute-sets:\n  - name: main\n    attributes:\n      - name: port\n        type: u16\n        checks:\n          min: 10\n          max: 1000\n      - name: label\n        type: string\n      - name: inner\n        type: nest\n        nested-attributes: main\noperations:\n  list:\n    - name: get\n      value: 1\n      attribute-set: main\n    - name: set\n      value: 2\n      attribute-set: main\n      flags: [ admin-perm ]\n",
        )
        .unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_messages_and_every_mutation_comes() {
        let a = cases(&spec(), 300, 1);
        assert_eq!(a, cases(&spec(), 300, 1));
        assert_ne!(a, cases(&spec(), 300, 2));
        for m in MUTATIONS {
            assert_eq!(a.iter().filter(|c| c.mutation == *m).count(), 20, "{m}");
        }
    }

    #[test]
    fn mutations_do_what_they_say() {
        let all = cases(&spec(), 1400, 3);
        let of = |m: &'static str| all.iter().filter(move |c| c.mutation == m).map(|c| &c.message);
        assert!(of("dump").all(|m| m.flags & NLM_F_DUMP == NLM_F_DUMP));
        assert!(of("unknown command").all(|m| m.body[0] > 2 || m.body[0] == 0));
        assert!(of("cut generic netlink header").all(|m| m.body.len() < 4));
        assert!(of("netlink length too long").all(|m| m.len_delta > 0));
        assert!(all.iter().filter(|c| !c.expects_answer()).all(|c| c.mutation == "netlink length too long"));
        assert!(of("oversized attribute").all(|m| m.body.len() >= 4 + NLA_HDRLEN + 16));
        // The port is the one attribute with checks: one past a bound.
        let ports: Vec<u16> = of("beyond the checks").map(|m| u16::from_ne_bytes([m.body[8], m.body[9]])).collect();
        assert!(
            ports.iter().all(|p| [9, 1001].contains(p)) && ports.contains(&9) && ports.contains(&1001),
            "{ports:?}"
        );
        // Well-formed ports keep to them.
        let port_of = |m: &RawGenl| {
            let attrs = kulink_testbed::genl::codec::Attrs(&m.body[4..]);
            attrs.find(1).unwrap().map(|a| a.u16().unwrap())
        };
        let well_formed: Vec<u16> = of("well-formed").filter_map(port_of).collect();
        assert!(!well_formed.is_empty() && well_formed.iter().all(|p| (10..=1000).contains(p)), "{well_formed:?}");
    }

    #[test]
    fn answers_are_tallied_and_the_promise_checked() {
        let cases = cases(&spec(), 14, 5);
        let mut answers = vec![GenlAnswer { error: Some(-22), ..Default::default() }; 14];
        answers[1] = GenlAnswer { done: true, replies: 2, ..Default::default() };
        answers[12] = GenlAnswer::default(); // the lying header: dropped, as promised
        answers[13] = GenlAnswer::default(); // random body: unanswered, a problem
        let mut tally = Tally::new(Sender::Root);
        tally.add(&cases, &answers);
        assert_eq!((tally.sent, tally.unexpected), (14, 1));
        assert_eq!(tally.by_mutation["dump"]["reply"], 1);
        assert_eq!(tally.by_mutation["well-formed"]["EINVAL"], 1);
        assert_eq!(tally.problems, ["message 14 (random body): none, want an ACK or an error"]);
        assert!(!tally.passed());
    }

    #[test]
    fn an_unprivileged_sender_must_be_refused_what_needs_admin() {
        let all = cases(&spec(), 1400, 4);
        let sets = |c: &Case| c.message.body.len() >= 4 && c.message.body[0] == 2;
        assert!(all.iter().all(|c| c.needs_admin == sets(c)));
        let well_formed = all.iter().find(|c| c.needs_admin && c.mutation == "well-formed").unwrap();
        let dump = all.iter().find(|c| c.needs_admin && c.mutation == "dump").unwrap();
        let get = all.iter().find(|c| !c.needs_admin && c.mutation == "well-formed").unwrap();
        let error = |code| GenlAnswer { error: Some(code), ..Default::default() };
        let nobody = Sender::Unprivileged;
        assert_eq!(well_formed.broken_promise(&error(EPERM), nobody), None);
        assert_eq!(well_formed.broken_promise(&error(0), nobody), Some("EPERM"));
        assert_eq!(well_formed.broken_promise(&error(-libc::EINVAL), nobody), Some("EPERM"));
        assert_eq!(well_formed.broken_promise(&error(EOPNOTSUPP), nobody), Some("EPERM"));
        assert_eq!(dump.broken_promise(&error(EOPNOTSUPP), nobody), None);
        assert_eq!(well_formed.broken_promise(&error(0), Sender::Root), None);
        assert_eq!(get.broken_promise(&error(0), nobody), None);
        let reply = GenlAnswer { error: Some(EPERM), replies: 1, ..Default::default() };
        assert_eq!(well_formed.broken_promise(&reply, nobody), Some("EPERM"));
    }
}
