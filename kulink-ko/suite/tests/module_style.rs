//! kulink.ko, the example module and the library tests' modules are kernel
//! code: they must pass the kernel's own style checker.

mod common;

use std::process::Command;

#[test]
fn module_sources_are_checkpatch_clean() {
    // Kbuild leaves a `source` link to the tree in every O= build directory.
    let default = kulink::testbed::kernels::default_spec().unwrap();
    let checkpatch = common::artifacts(&default.id).kernel.kdir.join("source/scripts/checkpatch.pl");
    assert!(checkpatch.is_file(), "no checkpatch.pl at {}", checkpatch.display());
    let module = kulink_ko_suite::project_dir().join("module");
    let mut files: Vec<_> = std::fs::read_dir(&module)
        .unwrap()
        .chain(std::fs::read_dir(module.join("uapi")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c" || x == "h"))
        .collect();
    let root = kulink_ko_suite::source_root();
    for dir in [
        "examples/udpcount/module",
        "kulink/tests/fixtures/modules/provider",
        "kulink/tests/fixtures/modules/consumer",
        "kulink/tests/fixtures/modules/panicker",
        "kulink/tests/fixtures/modules/leaker",
    ] {
        files.extend(std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()));
    }
    files.retain(|p| p.extension().is_some_and(|x| x == "c" || x == "h"));
    files.sort();
    assert!(files.len() >= 9, "module sources found: {files:?}");
    // The compat header exists to test kernel versions, which checkpatch
    // discourages for in-tree code; everything else gets every check.
    let (compat, rest): (Vec<_>, Vec<_>) = files.into_iter().partition(|p| p.ends_with("compat.h"));
    let mut problems = checkpatch_problems(&checkpatch, &rest, "");
    problems.extend(checkpatch_problems(&checkpatch, &compat, "LINUX_VERSION_CODE,CONSTANT_COMPARISON"));
    assert!(problems.is_empty(), "checkpatch:\n{}", problems.join("\n"));
}

fn checkpatch_problems(checkpatch: &std::path::Path, files: &[std::path::PathBuf], ignore: &str) -> Vec<String> {
    let mut cmd = Command::new("perl");
    cmd.arg(checkpatch).args(["--no-tree", "--terse", "--show-types"]);
    if !ignore.is_empty() {
        cmd.args(["--ignore", ignore]);
    }
    let out = cmd.arg("-f").args(files).output().expect("run checkpatch.pl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("ERROR:") || l.contains("WARNING:"))
        .map(str::to_owned)
        .collect()
}
