//! `kulink bench`: the boot figures it prints are those of the boots it
//! made, in the order the guest logged them; the channel figures add up,
//! every lost event counted by the module; the whole benchmark names every
//! figure and draws them; the edit loop is timed each way; bad input is
//! refused before any boot.

use std::process::Command;

use serde_json::Value as Json;

fn bench(what: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kulink")).args(["bench", what]).args(args).output().unwrap()
}

fn bench_boot(args: &[&str]) -> std::process::Output {
    bench("boot", args)
}

/// Each boot's agent was ready after the kernel had logged something, the
/// medians are boots' own figures, and the silences come longest first,
/// each before the agent was ready.
fn boot_figures_are_the_boots_own(kernel: &str) {
    let out = bench_boot(&["--json", "--boots", "3", "--kernel", kernel]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let benches: Vec<Json> = serde_json::from_str(&text).unwrap();
    let [bench] = benches.as_slice() else { panic!("one kernel, one report: {text}") };
    assert_eq!(bench["kernel"], kernel);
    assert_eq!(bench["kernel_log_clean"], true);
    let figure = |boot: &Json, key: &str| boot[key].as_u64().unwrap_or_else(|| panic!("{key} in {boot}"));
    let boots = bench["boots"].as_array().unwrap();
    assert_eq!(boots.len(), 3);
    let mut ready: Vec<u64> = boots.iter().map(|b| figure(b, "ready_ms")).collect();
    let mut wall: Vec<u64> = boots.iter().map(|b| figure(b, "wall_ms")).collect();
    assert!(ready.iter().all(|&ms| ms > 0), "{text}");
    ready.sort();
    wall.sort();
    assert_eq!((figure(bench, "boot_ms_median"), figure(bench, "wall_ms_median")), (ready[1], wall[1]));

    let steps = bench["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!((names.first(), names.last()), (Some(&"run /init"), Some(&"ready")), "{names:?}");
    assert!(names.contains(&"network up") && names.contains(&"plug-in listening"), "{names:?}");
    let at: Vec<f64> = steps.iter().map(|s| s["at_ms"].as_f64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "steps in time order: {at:?}");
    // The agent logs "ready" just after it takes the figure and before it
    // sends it: the line falls between the figure and the host's receipt,
    // which the same boot's wall time bounds (guest uptime starts after
    // QEMU does). Both bounds are this run's own, however loaded the host.
    let ready_logged = at[at.len() - 1];
    let medians = boots.iter().filter(|b| figure(b, "ready_ms") == ready[1]);
    let received = medians.map(|b| figure(b, "wall_ms")).max().unwrap() as f64;
    assert!((ready[1] as f64..=received).contains(&ready_logged), "{ready_logged} vs {} and {received}", ready[1]);

    // Then as many starts from the saved guest, each its own figure.
    if kulink::testbed::vm::snapshots_enabled() {
        let mut restores: Vec<u64> =
            bench["restores_ms"].as_array().unwrap().iter().map(|ms| ms.as_u64().unwrap()).collect();
        assert_eq!(restores.len(), 3, "{text}");
        restores.sort();
        assert_eq!(figure(bench, "restore_ms_median"), restores[1]);
        assert!(restores[1] < wall[1], "a restore is no slower than the boot it replaces: {text}");
    }

    let silences = bench["silences"].as_array().unwrap();
    assert!(!silences.is_empty() && silences.len() <= 3, "{text}");
    let lasted: Vec<f64> = silences.iter().map(|s| s["lasted_ms"].as_f64().unwrap()).collect();
    assert!(lasted.windows(2).all(|w| w[0] >= w[1]), "longest first: {lasted:?}");
    for s in silences {
        let ended = s["from_ms"].as_f64().unwrap() + s["lasted_ms"].as_f64().unwrap();
        assert!(ended <= ready[1] as f64 + 1.0, "a silence after the agent was ready: {s}");
        assert!(!s["ended_by"].as_str().unwrap().is_empty());
    }
}

/// Every run finished its count, each consumer's events arrived or a loss
/// counter of the channel says why not, runs small enough for every queue
/// lost nothing, and latencies are ordered. No speed is asserted.
fn channel_figures_add_up(kernel: &str) {
    let args = [
        "--json",
        "--kernel",
        kernel,
        "--count",
        "200",
        "--latency-count",
        "100",
        "--latency-rate",
        "1000",
        "--frames",
        "200",
    ];
    let out = bench("channels", &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let benches: Vec<Json> = serde_json::from_str(&text).unwrap();
    let [bench] = benches.as_slice() else { panic!("one kernel, one report: {text}") };
    assert_eq!((bench["kernel"].as_str(), bench["kernel_log_clean"].as_bool()), (Some(kernel), Some(true)));
    assert_eq!(bench["every_drop_explained"], true);
    let runs = bench["runs"].as_array().unwrap();
    let figure = |run: &Json, key: &str| run[key].as_u64().unwrap_or_else(|| panic!("{key} in {run}"));
    let mut measured = std::collections::BTreeSet::new();
    for run in runs {
        let (count, consumers) = (figure(&run["run"], "count"), figure(&run["run"], "consumers"));
        let (expected, received, lost) = (figure(run, "expected"), figure(run, "received"), figure(run, "lost"));
        assert_eq!((figure(run, "generated"), expected), (count, count * consumers), "{run}");
        assert_eq!((received + lost, figure(run, "counted")), (expected, lost), "{run}");
        let counters: u64 = run["counters"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(counters, lost, "{run}");
        let channel = run["run"]["channel"].as_str().unwrap();
        let small = run["section"] == "latency" || channel.starts_with("netlink-");
        assert!(!small || lost == 0, "{count} events fit every queue: {run}");
        match run["latency"].as_object() {
            None => assert_eq!(channel, "signal-rt", "{run}"),
            Some(l) => {
                let ns = |k: &str| l[k].as_u64().unwrap();
                assert!(ns("p50_ns") <= ns("p99_ns") && ns("p99_ns") <= ns("max_ns"), "{run}");
            }
        }
        let per_s = received as f64 * 1e9 / figure(run, "elapsed_ns") as f64;
        assert!((run["events_per_s"].as_f64().unwrap() - per_s).abs() < 1.0, "{run}");
        measured.insert((run["section"].as_str().unwrap().to_owned(), channel.to_owned()));
    }
    for section in ["throughput", "latency"] {
        let channels = measured.iter().filter(|(s, _)| s == section).count();
        assert_eq!(channels, kulink_ko_contract::bench::MEASURED.len(), "{section}: {measured:?}");
    }
    assert!(bench["ratios"]["mmap_vs_netlink"].as_f64().is_some_and(|r| r > 0.0), "{text}");

    // The same 200 echo requests reached both hooks, and both readers got
    // every one: NFLOG as many times as its rule matched, once.
    let frames = bench["frames"].as_array().unwrap();
    let batches: Vec<u64> = frames.iter().map(|f| figure(&f["run"], "batch")).collect();
    assert_eq!(batches, [1, 32], "{text}");
    for f in frames {
        assert_eq!(figure(f, "reached_hook"), 200, "{f}");
        for path in ["kulink", "nflog"] {
            assert_eq!((figure(&f[path], "received"), figure(&f[path], "lost")), (200, 0), "{path}: {f}");
        }
    }
    assert!(bench["ratios"]["netlink_vs_nflog"].as_f64().is_some_and(|r| r > 0.0), "{text}");
}

/// `kulink bench` with no subcommand, on the first selected kernel that
/// virtme-ng can boot: every figure the brief names, targets that agree
/// with them, the boots' and channels' own reports, and the chart.
fn the_whole_benchmark_names_every_figure_and_draws_it() {
    let selected = kulink::testbed::kernels::selected().unwrap();
    let Some(kernel) = selected.iter().find(|k| k.fragments.iter().any(|f| f == "vng.config")) else {
        kulink::matrix::skipped("no selected kernel has vng.config");
        return;
    };
    let chart = std::env::temp_dir().join(format!("kulink-bench-chart-{}.svg", std::process::id()));
    let args = ["--kernel", &kernel.id, "--boots", "1", "--command-runs", "1", "--count", "200"];
    let small = ["--latency-count", "100", "--frames", "200", "--json", "--plot", chart.to_str().unwrap()];
    let out = Command::new(env!("CARGO_BIN_EXE_kulink")).arg("bench").args(args).args(small).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let all: Vec<Json> = serde_json::from_str(&text).unwrap();
    let [summary] = all.as_slice() else { panic!("one kernel, one summary: {text}") };
    let number = |v: &Json| v.as_f64().unwrap_or_else(|| panic!("not a number: {v} in {text}"));
    for ratio in ["mmap_vs_netlink", "netlink_vs_nflog"] {
        assert!(number(&summary["ratios"][ratio]) > 0.0, "{ratio}");
    }
    assert_eq!(summary["boot_ms_median"], summary["boot"]["boot_ms_median"]);
    assert_eq!(summary["restore_ms_median"], summary["boot"]["restore_ms_median"]);
    if kulink::testbed::tools::VNG.find().is_some() {
        let c = &summary["command_start"];
        let ratio = number(&summary["ratios"]["vng_vs_kulink_boot"]);
        assert!((ratio - number(&c["vng_ms_median"]) / number(&c["kulink_boot_ms_median"])).abs() < 1e-9, "{c}");
    } else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "vng is not installed");
    }
    let targets = summary["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5, "{text}");
    let mmap = &targets[0];
    assert_eq!(mmap["holds"], number(&summary["ratios"]["mmap_vs_netlink"]) >= 10.0, "{mmap}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    std::fs::remove_file(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("mmap-ring") && svg.contains("guest start"), "{svg}");
}

/// `kulink bench boot --steps` on the first selected source kernel: each
/// step of the boot tuning measured by boots of its own without it, and
/// what it saves is those boots' median against the tuned ones'.
fn each_tuning_step_is_measured_without_it() {
    let selected = kulink::testbed::kernels::selected().unwrap();
    let Some(kernel) = selected.iter().find(|k| k.kind() == kulink::testbed::catalog::Kind::Source) else {
        kulink::matrix::skipped("no source kernel is selected");
        return;
    };
    let out = bench_boot(&["--json", "--boots", "1", "--steps", "--kernel", &kernel.id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let benches: Vec<Json> = serde_json::from_str(&text).unwrap();
    let bench = &benches[0];
    let tuned = bench["boot_ms_median"].as_i64().unwrap();
    let tuning = bench["tuning"].as_array().unwrap();
    let names: Vec<&str> = tuning.iter().map(|t| t["step"].as_str().unwrap()).collect();
    let all: Vec<&str> = kulink::testbed::boot_steps::BootStep::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(names, all, "{text}");
    for effect in tuning {
        let without = effect["ready_ms_without"].as_array().unwrap();
        assert_eq!(without.len(), 1, "{effect}");
        assert!(without[0].as_u64().unwrap() > 0, "{effect}");
        assert_eq!(effect["ready_ms_median_without"], without[0], "{effect}");
        let median = effect["ready_ms_median_without"].as_i64().unwrap();
        assert_eq!(effect["saves_ms"].as_i64().unwrap(), median - tuned, "{effect}");
    }
    assert_eq!(bench["kernel_log_clean"], true, "every boot's log, tuned or not: {text}");
}

/// `kulink bench edit` on the first selected source kernel: one timed
/// run each way, on a copy of the module (the original is left as it
/// was), the medians its runs' own.
fn the_edit_loop_is_timed_each_way() {
    let selected = kulink::testbed::kernels::selected().unwrap();
    let Some(kernel) = selected.iter().find(|k| k.kind() == kulink::testbed::catalog::Kind::Source) else {
        kulink::matrix::skipped("no source kernel is selected");
        return;
    };
    let module = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/udpcount/module");
    let source = std::fs::read(module.join("udpcount.c")).unwrap();
    let module_arg = module.to_str().unwrap();
    let test_args = ["--module", module_arg, "--kernel", &kernel.id, "--shell", "--", "/bin/true"];
    let out = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["bench", "edit", "--runs", "1", "--json", "--"])
        .args(test_args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let bench: Json = serde_json::from_str(&text).unwrap();
    for way in ["saved", "booted"] {
        let runs = bench[format!("{way}_ms")].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{way}: {text}");
        assert!(runs[0].as_u64().unwrap() > 0, "{text}");
        assert_eq!(bench[format!("{way}_ms_median")], runs[0], "{text}");
    }
    let args: Vec<&str> = bench["test_args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args.len(), test_args.len(), "{text}");
    assert_ne!(args[1], module_arg, "the copy is tested: {text}");
    assert_eq!(std::fs::read(module.join("udpcount.c")).unwrap(), source, "the module itself is not edited");
    assert!(!std::path::Path::new(args[1]).exists(), "the copy is removed");
}

fn bad_input_is_refused_before_any_boot() {
    let channels = |args: &'static [&'static str]| ("channels", args);
    let all = |args: &'static [&'static str]| ("--boots", args);
    for ((what, args), says) in [
        (("boot", &["--boots", "0"][..]), "--boots"),
        (("boot", &["--kernel", "no-such-kernel"][..]), "no-such-kernel"),
        (channels(&["--count", "0"]), "count 0"),
        (channels(&["--kernel", "no-such-kernel"]), "no-such-kernel"),
        (all(&["0"]), "--boots"),
        (all(&["1", "--plot", "/no/such/dir/chart.svg"]), "/no/such/dir"),
        (("edit", &["--", "--kernel", "6.1"][..]), "--module DIR"),
        (("edit", &["--", "--module", "/no/such/module"][..]), "not a directory"),
    ] {
        let out = bench(what, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

kulink::kernel_tests!(
    source: boot_figures_are_the_boots_own,
    channel_figures_add_up;
    once: bad_input_is_refused_before_any_boot,
    the_edit_loop_is_timed_each_way,
    each_tuning_step_is_measured_without_it,
    the_whole_benchmark_names_every_figure_and_draws_it
);
