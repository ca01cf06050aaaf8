//! What kulink prints on stdout, in one place: each command's result as a
//! typed [`Output`], rendered as a table for people or as JSON for
//! programs. Progress and notes go to stderr through the testbed's
//! progress renderer.

use std::fmt::Write;
use std::path::PathBuf;

use kulink_testbed::catalog::Kind;
use kulink_testbed::splat::Splat;
use serde::Serialize;

use crate::bench::{BootBench, ChannelBench, Summary};
use crate::flood::FloodRun;
use crate::fuzz::{FuzzReport, Sender, Target};
use crate::ktap::Outcome;
use crate::module_test::ModuleTestReport;
use crate::report::{ChannelReport, RunError, RunReport};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// How a command prints: for people or for programs.
pub enum Format {
    /// Aligned text.
    Table,
    /// JSON, one document.
    Json,
}

impl Format {
    /// JSON when `--json` was given, a table otherwise.
    pub fn of(json: bool) -> Self {
        if json {
            Self::Json
        } else {
            Self::Table
        }
    }
}

/// One kernel's verdict in `run --kernel all --json` or `test --json`: its
/// report, or the error that kept it from being judged.
/// One per kernel, never in bulk: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RunOutcome<R = RunReport> {
    /// The kernel was judged.
    Report(R),
    /// Something kept the kernel from being judged.
    Error(RunError),
}

/// A row of `kernels list`.
#[derive(Debug, Clone, Serialize)]
pub struct KernelRow {
    /// [`SCHEMA_VERSION`](crate::report::SCHEMA_VERSION) of the JSON.
    pub schema_version: u32,
    /// The kernel's id.
    pub id: String,
    /// The upstream version it builds.
    pub version: String,
    /// Built from source, or a distribution's image.
    pub kind: Kind,
    /// The kernel used when none is named.
    pub default: bool,
    /// Config fragments on top of the base one.
    pub fragments: Vec<String>,
    /// The distribution's image package, for a distribution kernel.
    pub distro: Option<String>,
    /// It is built (or fetched) and in the cache.
    pub cached: bool,
    /// Where it is in the cache.
    pub cache_dir: Option<PathBuf>,
}

/// Everything a kulink command prints on stdout.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// One run's verdict (`run`, `report`).
    Run(&'a RunReport),
    /// A run that could not be judged.
    RunError(&'a RunError),
    /// `run --kernel all`: every kernel in order.
    Runs(&'a [RunOutcome]),
    /// `test`: one kernel's verdict on the user's module and command.
    ModuleTest(&'a ModuleTestReport),
    /// `test --json`: every kernel in order, always an array.
    ModuleTests(&'a [RunOutcome<ModuleTestReport>]),
    /// `kernels list`.
    Kernels(&'a [KernelRow]),
    /// `kernels list --ids`: always a JSON array, for CI matrices.
    KernelIds(&'a [String]),
    /// `kernels build`: a kernel in the cache.
    Built {
        /// The kernel's id.
        id: &'a str,
        /// `uname -r` of it.
        release: &'a str,
        /// Its image.
        bzimage: &'a std::path::Path,
    },
    /// `kernels source`: the source a kernel would be built from.
    Source(&'a str),
    /// `fuzz`: what was sent to a family and how it was answered.
    Fuzz(&'a FuzzReport),
    /// `flood`: how fast the wire went, and where every event went.
    Flood(&'a FloodRun),
    /// `bench`: every figure and target, per kernel.
    BenchSummary(&'a [Summary]),
    /// `bench boot`: each kernel's boots.
    BootBench(&'a [BootBench]),
    /// `bench channels`: each kernel's channel runs.
    ChannelBench(&'a [ChannelBench]),
}

impl Output<'_> {
    /// The text for stdout, ending in a newline.
    pub fn render(&self, format: Format) -> String {
        match (self, format) {
            (Self::Run(report), Format::Table) => table(report) + "\n",
            (Self::Run(report), Format::Json) => pretty(report),
            (Self::RunError(error), _) => pretty(error),
            (Self::Runs(runs), Format::Json) => pretty(runs),
            (Self::Runs(runs), Format::Table) => judged(runs).map(|r| Self::Run(r).render(format)).collect(),
            (Self::ModuleTest(report), Format::Table) => module_test_table(report) + "\n",
            (Self::ModuleTest(report), Format::Json) => pretty(report),
            (Self::ModuleTests(runs), Format::Json) => pretty(runs),
            (Self::ModuleTests(runs), Format::Table) => {
                judged(runs).map(|r| Self::ModuleTest(r).render(format)).collect()
            }
            (Self::Kernels(rows), Format::Json) => pretty(rows),
            (Self::Kernels(rows), Format::Table) => kernel_table(rows),
            (Self::KernelIds(ids), _) => serde_json::to_string(ids).unwrap_or_default() + "\n",
            (Self::Built { id, release, bzimage }, _) => format!("{id} {release} {}\n", bzimage.display()),
            (Self::Source(source), _) => format!("{source}\n"),
            (Self::Fuzz(report), Format::Table) => fuzz_table(report) + "\n",
            (Self::Fuzz(report), Format::Json) => pretty(report),
            (Self::Flood(run), Format::Table) => flood_table(run) + "\n",
            (Self::Flood(run), Format::Json) => pretty(run),
            (Self::BenchSummary(all), Format::Table) => all.iter().map(summary_table).collect(),
            (Self::BenchSummary(all), Format::Json) => pretty(all),
            (Self::BootBench(benches), Format::Table) => benches.iter().map(boot_bench_table).collect(),
            (Self::BootBench(benches), Format::Json) => pretty(benches),
            (Self::ChannelBench(benches), Format::Table) => benches.iter().map(channel_bench_table).collect(),
            (Self::ChannelBench(benches), Format::Json) => pretty(benches),
        }
    }
}

fn fuzz_table(report: &FuzzReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kernel  {} ({})", report.kernel, report.kernel_release);
    let t = &report.tally;
    let sender = match t.sender {
        Sender::Root => "root",
        Sender::Unprivileged => "uid 65534 without capabilities",
    };
    let (what, to, kind) = match &report.target {
        Target::Family(family) => ("messages to", family, "mutation"),
        Target::Device(device) => ("calls on", device, "call"),
    };
    let _ = writeln!(s, "sent    {} {what} {to} as {sender} (seed {})\n", t.sent, report.seed);
    let _ = writeln!(s, "{kind:<28} answers");
    for (mutation, outcomes) in &t.by_mutation {
        let answers: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
        let _ = writeln!(s, "{mutation:<28} {}", answers.join(", "));
    }
    match report.target {
        Target::Device(_) => {
            let _ = writeln!(s, "\nproblems: {}", t.unexpected);
        }
        Target::Family(_) => {
            let _ = writeln!(s, "\nanswered as the netlink core promises: {}/{}", t.sent - t.unexpected, t.sent);
        }
    }
    for p in &t.problems {
        let _ = writeln!(s, "    {p}");
    }
    kernel_log(&mut s, &report.splats);
    let _ = writeln!(s, "\n{}", if report.passed { "PASSED" } else { "FAILED" });
    s
}

/// The boot and channel tables, then what kulink and vng took to run a
/// command, the ratios and the targets.
fn summary_table(summary: &Summary) -> String {
    let mut s = boot_bench_table(&summary.boot);
    s += &channel_bench_table(&summary.channels);
    if let Some(c) = &summary.command_start {
        let restored = c.kulink_restore_ms_median.map_or(String::new(), |ms| format!(", restored {ms} ms"));
        let _ = writeln!(
            s,
            "command vng --exec true {} ms; kulink boot, true, power-off {} ms{restored} (medians of {})",
            c.vng_ms_median, c.kulink_boot_ms_median, c.runs
        );
    }
    let ratio = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.2}×"));
    let r = &summary.ratios;
    let _ = writeln!(
        s,
        "ratios  mmap_vs_netlink {}, netlink_vs_nflog {}, vng_vs_kulink_boot {}, vng_vs_kulink_restore {}",
        ratio(r.mmap_vs_netlink),
        ratio(r.netlink_vs_nflog),
        ratio(r.vng_vs_kulink_boot),
        ratio(r.vng_vs_kulink_restore)
    );
    let _ = writeln!(s, "targets");
    for t in &summary.targets {
        let _ = writeln!(s, "  {:<5} {:<55} {}", if t.holds { "holds" } else { "MISS" }, t.target, t.measured);
    }
    s + "\n"
}

fn boot_bench_table(bench: &BootBench) -> String {
    let mut s = String::new();
    let ready: Vec<String> = bench.boots.iter().map(|b| b.ready_ms.to_string()).collect();
    let _ = writeln!(s, "kernel  {} ({}), accelerator {}", bench.kernel, bench.kernel_release, bench.accel);
    let _ = writeln!(
        s,
        "ready   {} ms guest uptime, {} ms wall (medians of {} boots; uptimes {})",
        bench.boot_ms_median,
        bench.wall_ms_median,
        bench.boots.len(),
        ready.join(", ")
    );
    if let Some(restore) = bench.restore_ms_median {
        let walls: Vec<String> = bench.restores_ms.iter().map(u64::to_string).collect();
        let _ = writeln!(
            s,
            "restore {restore} ms wall to the first answer (median of {} starts from a saved guest; {})",
            walls.len(),
            walls.join(", ")
        );
    }
    let mut steps = bench.steps.iter();
    if let Some(first) = steps.next() {
        let mut line = format!("steps   {} at {:.0} ms", first.step, first.at_ms);
        let mut last = first.at_ms;
        for step in steps {
            let _ = write!(line, ", {} +{:.0}", step.step, step.at_ms - last);
            last = step.at_ms;
        }
        let _ = writeln!(s, "{line}");
    }
    for silence in &bench.silences {
        let _ = writeln!(s, "silent  {:.0} ms from {:.0} ms", silence.lasted_ms, silence.from_ms);
        let _ = writeln!(s, "          after: {}\n          until: {}", silence.after, silence.ended_by);
    }
    let _ = writeln!(s, "kernel log: {}\n", if bench.kernel_log_clean { "clean" } else { "SPLATS" });
    s
}

fn channel_bench_table(bench: &ChannelBench) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kernel  {} ({}), accelerator {}", bench.kernel, bench.kernel_release, bench.accel);
    let _ = writeln!(
        s,
        "{:<20} {:<34} {:>8} {:>8} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9}",
        "section", "channel", "events", "received", "lost", "counted", "events/s", "p50 µs", "p99 µs", "max µs"
    );
    let us = |ns: u64| format!("{:.0}", ns as f64 / 1000.0);
    for m in &bench.runs {
        let f = &m.figures;
        let (p50, p99, max) =
            f.latency.map_or(("-".into(), "-".into(), "-".into()), |l| (us(l.p50_ns), us(l.p99_ns), us(l.max_ns)));
        let _ = writeln!(
            s,
            "{:<20} {:<34} {:>8} {:>8} {:>7} {:>7} {:>10.0} {:>9} {:>9} {:>9}{}",
            m.section,
            crate::bench::channels::describe(&f.run),
            f.expected,
            f.received,
            f.lost,
            f.counted,
            f.events_per_s,
            p50,
            p99,
            max,
            if m.explained { "" } else { "  UNEXPLAINED" }
        );
    }
    for f in &bench.frames {
        for (path, p) in [("kulink.ko multicast", &f.kulink), ("NFLOG", &f.nflog)] {
            let _ = writeln!(
                s,
                "{:<20} {:<34} {:>8} {:>8} {:>7} {:>7} {:>10.0}{}",
                "frames",
                format!("{path} batch {}", f.run.batch),
                f.reached_hook,
                p.received,
                p.lost,
                if path == "NFLOG" { "-".to_owned() } else { f.kulink_counters.values().sum::<u64>().to_string() },
                p.events_per_s,
                if p.overruns > 0 { format!("  {} overruns", p.overruns) } else { String::new() }
            );
        }
    }
    let ratio = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{r:.2}×"));
    let _ = writeln!(
        s,
        "ratios  mmap ring / netlink multicast {}, best netlink batch / batch 1 {}, batched kulink.ko / NFLOG {}",
        ratio(bench.ratios.mmap_vs_netlink),
        ratio(bench.ratios.netlink_batched_vs_batch_1),
        ratio(bench.ratios.netlink_vs_nflog)
    );
    let _ = writeln!(
        s,
        "every drop explained: {}; kernel log: {}\n",
        if bench.every_drop_explained { "yes" } else { "NO" },
        if bench.kernel_log_clean { "clean" } else { "SPLATS" }
    );
    s
}

fn flood_table(run: &FloodRun) -> String {
    let mut s = String::new();
    let r = &run.report;
    let _ = writeln!(s, "kernel  {} ({})", run.kernel, run.kernel_release);
    let _ = writeln!(
        s,
        "sent    {} echo requests in {} ms ({} a second); {} reached the hook, {} events built",
        r.frames_sent, r.send_ms, r.frames_per_sec, r.at_hook, r.events_built
    );
    let m = &r.memory;
    let _ = writeln!(
        s,
        "memory  MemAvailable {} KiB before, {} KiB at the height ({} KiB less), {} KiB after\n",
        m.before_kib,
        m.flooded_kib,
        m.flood_cost_kib(),
        m.after_kib
    );
    let _ = writeln!(
        s,
        "{:<24} {:>6} {:>9} {:>8}  {:<24} {:>12}  ok",
        "channel", "built", "delivered", "dropped", "counted as", "agent saw"
    );
    for f in &r.flows {
        let seen = match (f.seen, f.seen_is_part) {
            (Some(n), true) => format!("{n} (part)"),
            (Some(n), false) => n.to_string(),
            (None, _) => "-".into(),
        };
        let ok = if f.balanced() { "yes" } else { "NO" };
        let _ = writeln!(
            s,
            "{:<24} {:>6} {:>9} {:>8}  {:<24} {:>12}  {ok}",
            f.name,
            f.built,
            f.delivered,
            f.counted,
            f.counters.join(" + "),
            seen
        );
    }
    for p in r.problems() {
        let _ = writeln!(s, "    {p}");
    }
    kernel_log(&mut s, &run.splats);
    if let Some(dir) = &run.evidence {
        let _ = writeln!(s, "evidence: {}", dir.display());
    }
    let _ = writeln!(s, "\n{}", if run.passed { "PASSED" } else { "FAILED" });
    s
}

/// The kernels that were judged; errors were named on stderr as they happened.
fn judged<R>(runs: &[RunOutcome<R>]) -> impl Iterator<Item = &R> {
    runs.iter().filter_map(|run| match run {
        RunOutcome::Report(report) => Some(report),
        RunOutcome::Error(_) => None,
    })
}

/// The kernel log's verdict, with each splat line.
fn kernel_log(s: &mut String, splats: &[Splat]) {
    if splats.is_empty() {
        let _ = writeln!(s, "kernel log: clean");
    } else {
        let _ = writeln!(s, "kernel log: {} splat line(s)", splats.len());
        for sp in splats {
            let _ = writeln!(s, "    {}: {}", sp.kind, sp.text);
        }
    }
}

fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string_pretty(value).expect("serializable") + "\n"
}

fn module_test_table(report: &ModuleTestReport) -> String {
    let ran = &report.ran;
    let ended = match (ran.code, ran.signal) {
        _ if ran.timed_out => "killed at its timeout".to_owned(),
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended without a status".to_owned(),
    };
    let mut s = String::new();
    let _ = writeln!(s, "kernel  {} ({}), accelerator {}", report.kernel, report.kernel_release, report.accel);
    let _ = writeln!(s, "module  {}", report.module.display());
    let _ = writeln!(s, "command {}: {ended}", report.command.join(" "));
    if let Some(address) = report.netns_address {
        let _ = writeln!(s, "netns   its own network and user namespaces, eth0 at {address}");
    }
    for (name, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        if !text.is_empty() {
            let _ = writeln!(s, "--- {name} ---\n{}", text.trim_end_matches('\n'));
        }
    }
    if ran.truncated {
        let _ = writeln!(s, "(output cut at {} bytes a stream)", kulink_protocol::OUTPUT_LIMIT);
    }
    if let Some(ktap) = &report.ktap {
        let count = |outcome| ktap.cases.iter().filter(|c| c.result == outcome).count();
        let (pass, fail, skip) = (count(Outcome::Pass), count(Outcome::Fail), count(Outcome::Skip));
        let _ = writeln!(s, "ktap    {pass} passed, {fail} failed, {skip} skipped");
    }
    if report.frames_replayed > 0 {
        let _ = writeln!(s, "pcap    {} frames replayed before the command", report.frames_replayed);
    }
    if !report.messages.is_empty() {
        let _ = writeln!(s, "netlink {} message(s):", report.messages.len());
        for m in &report.messages {
            let _ = writeln!(s, "    {} {}", m.op, serde_json::to_string(&m.attrs).unwrap_or_default());
        }
    }
    for problem in &report.problems {
        let _ = writeln!(s, "problem {problem}");
    }
    kernel_log(&mut s, &report.splats);
    let _ = writeln!(s, "\n{}", if report.passed { "PASSED" } else { "FAILED" });
    s
}

fn kernel_table(rows: &[KernelRow]) -> String {
    let mut s = format!("{:<12} {:<8} {:<8} {:<7} default\n", "id", "version", "kind", "cached");
    for r in rows {
        let _ = writeln!(
            s,
            "{:<12} {:<8} {:<8} {:<7} {}",
            r.id,
            r.version,
            r.kind.name(),
            if r.cached { "yes" } else { "no" },
            if r.default { "yes" } else { "" },
        );
    }
    s
}

/// A run's verdict for people: the table `run` prints and saves as
/// `report.txt`.
pub fn table(report: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kernel  {} ({}), accelerator {}", report.kernel, report.kernel_release, report.accel);
    let _ = writeln!(s, "boot    agent ready at {} ms guest uptime, {} ms wall", report.boot_ms, report.wall_boot_ms);
    let _ = writeln!(
        s,
        "sent    {} frames: {} ICMP that must be reported, {} that must not",
        report.frames_sent,
        report.injected,
        report.frames_sent - report.injected
    );
    for f in &report.fates {
        let _ = writeln!(s, "  {:>6}  {}", f.frames, f.fate);
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "{:<18} {:<10} {:>8} {:>8} {:>7} {:>5} {:>9} {:>9}  verdict",
        "channel", "subscriber", "injected", "received", "matched", "lost", "p50 µs", "p99 µs"
    );
    let us = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    let verdict = |ok: bool| if ok { "ok" } else { "FAIL" };
    for channel in &report.channels {
        match channel {
            ChannelReport::Events(c) => {
                let _ = writeln!(
                    s,
                    "{:<18} {:<10} {:>8} {:>8} {:>7} {:>5} {:>9} {:>9}  {}",
                    c.name,
                    c.subscriber.as_deref().unwrap_or("-"),
                    c.injected,
                    c.received,
                    c.matched,
                    c.lost,
                    us(c.latency_p50_us),
                    us(c.latency_p99_us),
                    verdict(c.passed)
                );
                for p in &c.problems {
                    let _ = writeln!(s, "    {p}");
                }
            }
            ChannelReport::Check(c) => {
                let steps = format!("check, {} steps", c.detail.len());
                let _ = writeln!(s, "{:<18} {:<10} {:>59}  {}", c.name, "-", steps, verdict(c.passed));
                for d in c.detail.iter().filter(|_| !c.passed) {
                    let _ = writeln!(s, "    {d}");
                }
            }
        }
    }
    let _ =
        writeln!(s, "\necho replies on the wire: {}/{}", report.echo_replies.received, report.echo_replies.expected);
    for c in &report.checks {
        let _ = writeln!(s, "check {:<34} {:<4} {}", c.name, verdict(c.passed), c.detail);
    }
    if report.overruns > 0 {
        let _ = writeln!(s, "socket overruns: {}", report.overruns);
    }
    for w in &report.warnings {
        let _ = writeln!(s, "agent warning: {w}");
    }
    kernel_log(&mut s, &report.splats);
    let _ = writeln!(s, "\n{}", if report.passed { "PASSED" } else { "FAILED" });
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_row_shows_its_kind_as_json_names_it() {
        for kind in [Kind::Source, Kind::Distro] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        let row = KernelRow {
            schema_version: 1,
            id: "6.1".into(),
            version: "6.1".into(),
            kind: Kind::Source,
            default: true,
            fragments: vec!["base.config".into()],
            distro: None,
            cached: false,
            cache_dir: None,
        };
        let table = Output::Kernels(std::slice::from_ref(&row)).render(Format::Table);
        assert_eq!(table.lines().nth(1), Some("6.1          6.1      source   no      yes"));
        let json: serde_json::Value = serde_json::from_str(&Output::Kernels(&[row]).render(Format::Json)).unwrap();
        assert_eq!(json[0]["kind"], "source");
    }
}
