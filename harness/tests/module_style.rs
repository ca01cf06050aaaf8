//! kulink.ko is kernel code: it must pass the kernel's own style checker.

mod common;

use std::process::Command;

#[test]
fn module_sources_are_checkpatch_clean() {
    // Kbuild leaves a `source` link to the tree in every O= build directory.
    let checkpatch = common::artifacts().kernel.kdir.join("source/scripts/checkpatch.pl");
    assert!(checkpatch.is_file(), "no checkpatch.pl at {}", checkpatch.display());
    let module = kulink::paths::repo_root().join("module");
    let mut files: Vec<_> = std::fs::read_dir(&module)
        .unwrap()
        .chain(std::fs::read_dir(module.join("uapi")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c" || x == "h"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "module sources found: {files:?}");
    let out = Command::new("perl")
        .arg(&checkpatch)
        .args(["--no-tree", "--terse", "--show-types", "-f"])
        .args(&files)
        .output()
        .expect("run checkpatch.pl");
    let report = String::from_utf8_lossy(&out.stdout);
    let problems: Vec<&str> = report.lines().filter(|l| l.contains("ERROR:") || l.contains("WARNING:")).collect();
    assert!(problems.is_empty(), "checkpatch:\n{}", problems.join("\n"));
}
