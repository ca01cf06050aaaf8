//! What kulink.ko's commands print on stdout: each result as a typed
//! [`Output`], rendered as a table for people or as JSON for programs.
//! Progress and notes go to stderr through the testbed's progress renderer.

use std::fmt::Write;

use kulink::outcome::{Format, RunError, RunOutcome};
use kulink::render::{judged, kernel_log, pretty};

use crate::bench::{BootBench, ChannelBench, Summary};
use crate::flood::FloodRun;
use crate::report::{ChannelReport, RunReport, Started};

/// Everything a command of kulink.ko's suite prints on stdout.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// One run's verdict (`run`, `report`).
    Run(&'a RunReport),
    /// A run that could not be judged.
    RunError(&'a RunError),
    /// `run --kernel all`: every kernel in order.
    Runs(&'a [RunOutcome<RunReport>]),
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
            "restore {restore} ms wall until ready, the module loaded (median of {} starts from a saved guest; {})",
            walls.len(),
            walls.join(", ")
        );
    }
    let mut steps = bench.steps.iter();
    if let Some(first) = steps.next() {
        // Differences of the rounded times, so that the steps add up to the last.
        let mut last = first.at_ms.round();
        let mut line = format!("steps   {} at {last:.0} ms", first.step);
        for step in steps {
            let _ = write!(line, ", {} +{:.0}", step.step, step.at_ms.round() - last);
            last = step.at_ms.round();
        }
        // The kernel log's clock (printk's) is not the ready figure's
        // (CLOCK_BOOTTIME, the agent's): they differ by some milliseconds.
        let _ = writeln!(s, "{line} ({last:.0} ms by the kernel log's clock)");
    }
    for silence in &bench.silences {
        let _ = writeln!(s, "silent  {:.0} ms from {:.0} ms", silence.lasted_ms, silence.from_ms);
        let _ = writeln!(s, "          after: {}\n          until: {}", silence.after, silence.ended_by);
    }
    for effect in &bench.tuning {
        let _ = writeln!(
            s,
            "tuning  {:<18} saves {:>4} ms: ready at {} ms without it ({})",
            effect.step, effect.saves_ms, effect.ready_ms_median_without, effect.what
        );
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

/// How the guest started, with this run's figures, and the saved boot's
/// only as that.
fn start_line(report: &RunReport) -> String {
    let wall = report.wall_boot_ms;
    match &report.started {
        Started::Booted { boot_ms } => format!("boot    agent ready at {boot_ms} ms guest uptime, {wall} ms wall"),
        Started::Restored { saved_at, saved_boot_ms } => format!(
            "start   restored in {wall} ms wall from a guest saved {saved_at} \
             (that boot: agent ready at {saved_boot_ms} ms guest uptime)"
        ),
    }
}

/// A run's verdict for people: the table `run` prints and saves as
/// `report.txt`.
pub fn table(report: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "kernel  {} ({}), accelerator {}", report.kernel, report.kernel_release, report.accel);
    let _ = writeln!(s, "{}", start_line(report));
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
