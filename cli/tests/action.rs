//! The GitHub Action (action.yml) agrees with the script that runs it and
//! with `kulink test`: every input reaches the script and becomes a flag
//! kulink knows, this repository's workflow passes only declared inputs,
//! and the workflow's own use of it passes on the example.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_yaml_ng::Value;

use common::repo;

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn env_name(input: &str) -> String {
    format!("KULINK_INPUT_{}", input.to_uppercase().replace('-', "_"))
}

fn inputs() -> Vec<(String, bool)> {
    let action = yaml("action.yml");
    action["inputs"]
        .as_mapping()
        .expect("action.yml declares inputs")
        .iter()
        .map(|(name, spec)| (name.as_str().unwrap().to_owned(), spec["required"].as_bool().unwrap_or(false)))
        .collect()
}

/// The `with:` of the workflow step that runs this repository's action.
fn workflow_use() -> Value {
    let workflow = yaml(".github/workflows/test.yml");
    let jobs = workflow["jobs"].as_mapping().unwrap();
    let step = jobs
        .values()
        .flat_map(|job| job["steps"].as_sequence().cloned().unwrap_or_default())
        .find(|step| step["uses"].as_str() == Some("./"))
        .expect("the workflow uses the action (uses: ./)");
    step["with"].clone()
}

fn script() -> String {
    std::fs::read_to_string(repo().join("scripts/action.sh")).unwrap()
}

#[test]
fn every_input_reaches_the_script_as_a_flag_kulink_knows() {
    let action = yaml("action.yml");
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let test_step = steps.iter().find(|s| s["name"].as_str() == Some("kulink test")).expect("a `kulink test` step");
    let env = test_step["env"].as_mapping().unwrap();
    let script = script();
    for (input, _) in inputs() {
        let var = env_name(&input);
        let given = env.get(var.as_str()).and_then(Value::as_str);
        assert_eq!(given, Some(format!("${{{{ inputs.{input} }}}}").as_str()), "input {input} is not passed as {var}");
        assert!(script.contains(&var), "scripts/action.sh never reads {var} (input {input})");
    }
    let declared: BTreeSet<String> = inputs().into_iter().map(|(i, _)| env_name(&i)).collect();
    let read: BTreeSet<String> = script
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("KULINK_INPUT_") && w.len() > "KULINK_INPUT_".len())
        .map(str::to_owned)
        .collect();
    assert_eq!(read, declared, "the script reads exactly the declared inputs");

    let help = Command::new(env!("CARGO_BIN_EXE_kulink")).args(["test", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    // The flags the `test` step passes (the other steps run cargo).
    let test_part = &script[script.find("\ntest)").expect("a test step")..];
    let flags: BTreeSet<&str> = test_part
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '"')
        .filter(|w| w.starts_with("--") && w.len() > 2 && w[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert!(flags.len() >= 9, "{flags:?}");
    for flag in flags {
        assert!(help.contains(flag), "the script passes {flag}, which `kulink test` does not take:\n{help}");
    }
}

#[test]
fn the_workflow_passes_only_declared_inputs_and_every_required_one() {
    let with = workflow_use();
    let given: BTreeSet<String> = with.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    let inputs = inputs();
    for name in &given {
        assert!(inputs.iter().any(|(i, _)| i == name), "the workflow passes {name}, which action.yml does not declare");
    }
    for (input, required) in &inputs {
        assert!(!required || given.contains(input), "the workflow leaves out required input {input}");
    }
}

/// The workflow's inputs through the action's script and the real `kulink`
/// (the suite's build on PATH), on the default kernel.
#[test]
fn the_workflow_s_use_of_the_action_passes() {
    let kernel = kulink::testbed::kernels::default_spec().unwrap().id;
    let with = workflow_use();
    let dir = common::scratch_dir("action");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kulink"));
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let summary = dir.join("summary.md");
    let mut run = Command::new("bash");
    run.arg(repo().join("scripts/action.sh")).arg("test").current_dir(repo()).env("PATH", path);
    run.env("GITHUB_STEP_SUMMARY", &summary);
    for (input, _) in inputs() {
        let value = match input.as_str() {
            "kernels" => kernel.clone(),
            "junit" => dir.join("junit.xml").display().to_string(),
            _ => with[input.as_str()].as_str().unwrap_or_default().to_owned(),
        };
        run.env(env_name(&input), value);
    }
    let out = run.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("netlink 5 message(s)") && stdout.contains("PASSED"), "{stdout}");
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(xml.contains("ktap 1 total_counts_every_datagram"), "{xml}");
    // The job summary: a row for the kernel, with its verdict, accelerator,
    // start and what was tested.
    let summary = std::fs::read_to_string(&summary).unwrap();
    let rows: Vec<&str> = summary.lines().filter(|l| l.starts_with(&format!("| {kernel} ("))).collect();
    let [row] = rows.as_slice() else { panic!("one row for kernel {kernel}: {summary}") };
    let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
    assert_eq!(cells[1], "passed", "{row}");
    assert!(["kvm", "tcg"].contains(&cells[2]), "{row}");
    assert!(cells[3].starts_with("booted: ready at ") || cells[3].starts_with("restored: ready in "), "{row}");
    assert!(cells[4].contains("KTAP 4/4 passed") && cells[4].contains("5 generic netlink messages"), "{row}");
    assert!(cells[4].ends_with("kernel log clean"), "{row}");
    let _ = std::fs::remove_dir_all(&dir);
}
