//! kulink's YNL decoder checked against a decoder that is not kulink's:
//! the kernel's own YNL Python library, from the newest kernel source of
//! the catalog. For every family of each source kernel's specs (generic
//! netlink's, and netlink-raw's with their sub-messages), messages of
//! every operation are built from random well-formed fields by kulink's
//! encoder; both decoders read the same bytes and must agree field by
//! field. What the Python side cannot take is counted and listed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kulink::testbed::genl::{sample, Message, Spec};
use kulink::testbed::kernels;
use serde_json::{json, Value as Json};

/// Messages that must agree, per family.
const AGREED_PER_FAMILY: usize = 1000;
/// Messages built per family: room for what the library cannot take.
const BUILT_PER_FAMILY: usize = 1200;
/// The share of a kernel's spec files the library must load, so that
/// families are compared, not dropped: nine in ten.
const COMPARED_AT_LEAST: (usize, usize) = (9, 10);

/// One message both decoders read.
struct Case {
    spec: PathBuf,
    family: String,
    op: String,
    body: Vec<u8>,
    kulink: Json,
}

fn kulink_decodes_as_the_kernel_s_own_ynl_library(kernel: &str) {
    let spec = kernels::find(kernel).unwrap();
    let specs = kernels::ensure_built(&spec).unwrap().kdir.join("source/Documentation/netlink/specs");
    if version(&spec) < vec![6, 1] {
        assert!(!specs.exists(), "{kernel} is older than YNL, but has {}", specs.display());
        return;
    }
    let library = newest_ynl_library();

    let mut cases = Vec::new();
    let scratch = std::env::temp_dir().join(format!("kulink-ynl-oracle-{}", std::process::id()));
    for file in spec_files(&specs) {
        let family = Spec::load(&file).unwrap();
        let file = spec_for_library(&file, &scratch);
        let mut rng = fastrand::Rng::with_seed(0x6b75);
        // Every operation in turn, the kernel's events and replies as well as requests.
        for op in family.operations.iter().cycle().take(BUILT_PER_FAMILY) {
            let fields = sample::fields(&family, op, &mut rng);
            let body = family.encode_body(op, &fields).unwrap_or_else(|e| {
                panic!("{} {}: kulink cannot encode its own sample {fields}: {e}", family.name, op.name)
            });
            let decoded = Message::decode_as(&family, op, &body)
                .unwrap_or_else(|e| panic!("{} {}: kulink cannot decode what it encoded: {e}", family.name, op.name));
            let kulink = decoded.to_json()["attrs"].clone();
            cases.push(Case { spec: file.clone(), family: family.name.clone(), op: op.name.clone(), body, kulink });
        }
    }
    let answers = ynl_decode(&library, &cases);
    let _ = fs::remove_dir_all(&scratch);

    let mut agreed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refused: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut specs_refused: BTreeMap<&str, &str> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for (case, answer) in cases.iter().zip(&answers) {
        if let Some(error) = answer["spec_refused"].as_str() {
            specs_refused.insert(&case.family, error);
            continue;
        }
        agreed.entry(&case.family).or_default();
        if let Some(error) = answer["error"].as_str() {
            *refused.entry((&case.family, error)).or_default() += 1;
            continue;
        }
        match first_difference(&case.kulink, &answer["fields"], "") {
            None => *agreed.get_mut(case.family.as_str()).unwrap() += 1,
            Some(difference) => {
                disagreements.push(format!("{} {} ({}): {difference}", case.family, case.op, hex::encode(&case.body)))
            }
        }
    }
    eprintln!("{kernel}: messages on which kulink and YNL agree, by family: {agreed:?}");
    for (family, error) in &specs_refused {
        eprintln!("{kernel}: not compared: the YNL library does not load {family}'s spec: {error}");
    }
    for ((family, error), count) in &refused {
        eprintln!("{kernel}: YNL could not take {count} {family} messages: {error}");
    }
    assert!(
        disagreements.is_empty(),
        "{kernel}: kulink and the kernel's YNL disagree on {} messages; the first:\n{}",
        disagreements.len(),
        disagreements.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    let (compared, families) = (agreed.len(), agreed.len() + specs_refused.len());
    eprintln!("{kernel}: {compared} of {families} families compared");
    let (part, whole) = COMPARED_AT_LEAST;
    assert!(
        compared > 0 && compared * whole >= families * part,
        "{kernel}: only {compared} of {families} families compared (the YNL library refused {:?})",
        specs_refused.keys().collect::<Vec<_>>()
    );
    let short: Vec<_> = agreed.iter().filter(|(_, n)| **n < AGREED_PER_FAMILY).collect();
    assert!(short.is_empty(), "{kernel}: fewer than {AGREED_PER_FAMILY} messages agreed for {short:?}");
}

fn version(spec: &kernels::KernelSpec) -> Vec<u32> {
    spec.version.split('.').map(|n| n.parse().unwrap()).collect()
}

/// The YNL library of the newest source kernel of the catalog: it reads
/// older specs too, and the older libraries miss parts of the language
/// (6.12's shows no enum of a `uint` by name).
fn newest_ynl_library() -> PathBuf {
    let source = kernels::newest_source().unwrap();
    // The library moved to pyynl/ after 6.12.
    ["tools/net/ynl/pyynl", "tools/net/ynl"]
        .map(|d| source.join(d))
        .into_iter()
        .find(|d| d.join("lib/ynl.py").is_file())
        .unwrap_or_else(|| panic!("{} ships no YNL library in tools/net/ynl", source.display()))
}

/// The spec files: generic netlink's and the classic protocols'.
fn spec_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YNL specs in {}", dir.display());
    files
}

/// The spec file the library reads: newer libraries refuse a spec without
/// an SPDX line (a licence comment, not YNL), which older kernels' specs
/// lack (6.1's fou.yaml); such a spec is read from a copy with the line
/// the kernel's specs carry.
fn spec_for_library(file: &Path, scratch: &Path) -> PathBuf {
    let text = fs::read_to_string(file).unwrap();
    if text.contains("SPDX-License-Identifier") {
        return file.to_owned();
    }
    fs::create_dir_all(scratch).unwrap();
    let copy = scratch.join(file.file_name().unwrap());
    let spdx = "# SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)\n";
    fs::write(&copy, format!("{spdx}{text}")).unwrap();
    copy
}

/// The library's answer for each case, in order.
fn ynl_decode(library: &Path, cases: &[Case]) -> Vec<Json> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/ynl_decode.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(library)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the kernel's YNL library: install python3 and python3-yaml");
    let mut input = String::new();
    for case in cases {
        let request = json!({"spec": case.spec, "op": case.op, "body": hex::encode(&case.body)});
        input.push_str(&format!("{request}\n"));
    }
    let mut stdin = child.stdin.take().unwrap();
    // Written from a thread of its own: the answers fill the other pipe meanwhile.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "{} failed: {}", script.display(), output.status);
    let answers: Vec<Json> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), cases.len(), "one answer per message");
    answers
}

/// Where kulink's decoding and YNL's differ, as `path: kulink X, YNL Y`.
/// YNL's flags come as a set (`{"$set": [...]}`, sorted) and its
/// indexed arrays of nests as `{index: nest}`: both are read as such.
fn first_difference(kulink: &Json, ynl: &Json, path: &str) -> Option<String> {
    let differ = || Some(format!("{}: kulink {kulink}, YNL {ynl}", if path.is_empty() { "." } else { path }));
    match (kulink, ynl) {
        (Json::Array(names), Json::Object(set)) if set.len() == 1 && set.contains_key("$set") => {
            let mut names = names.clone();
            names.sort_by_key(|n| n.to_string());
            (Json::Array(names) != set["$set"]).then(differ).flatten()
        }
        (Json::Object(ours), Json::Object(theirs)) => {
            if ours.len() != theirs.len() || ours.keys().any(|k| !theirs.contains_key(k)) {
                return differ();
            }
            ours.iter().find_map(|(key, value)| first_difference(value, &theirs[key], &format!("{path}.{key}")))
        }
        (Json::Array(ours), Json::Array(theirs)) => {
            if ours.len() != theirs.len() {
                return differ();
            }
            ours.iter().zip(theirs).enumerate().find_map(|(index, (value, theirs))| {
                let theirs = match theirs.as_object() {
                    Some(item) if item.len() == 1 && item.contains_key(&index.to_string()) => &item[&index.to_string()],
                    _ => theirs,
                };
                first_difference(value, theirs, &format!("{path}[{index}]"))
            })
        }
        _ => (kulink != ynl).then(differ).flatten(),
    }
}

kulink::kernel_tests!(source: kulink_decodes_as_the_kernel_s_own_ynl_library);
