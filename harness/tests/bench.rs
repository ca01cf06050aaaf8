//! `kulink bench boot`: the figures it prints are those of the boots it
//! made, in the order the guest logged them, and bad input is refused
//! before any boot.

use std::process::Command;

use serde_json::Value as Json;

fn bench_boot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kulink")).args(["bench", "boot"]).args(args).output().unwrap()
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
    let ready_logged = at[at.len() - 1];
    assert!((ready[1] as f64..=ready[1] as f64 + 100.0).contains(&ready_logged), "{ready_logged} vs {}", ready[1]);

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

fn bad_input_is_refused_before_any_boot() {
    for (args, says) in [(&["--boots", "0"][..], "--boots"), (&["--kernel", "no-such-kernel"][..], "no-such-kernel")] {
        let out = bench_boot(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

kulink::kernel_tests!(boot_figures_are_the_boots_own; once: bad_input_is_refused_before_any_boot);
