//! The Rust mirror must equal `module/uapi/kulink.h`: this test compiles the
//! header with the host C compiler and compares every value and offset, and
//! fails on any KULINK_* name the mirror does not know.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use kulink_ko_contract::uapi;

fn header_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../module/uapi")
}

/// Runs a C program that includes the header and prints `name=value` lines.
fn probe(body: &str) -> BTreeMap<String, String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kulink-uapi-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    let program = format!(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"kulink.h\"\nint main(void) {{\n{body}return 0;\n}}\n"
    );
    std::fs::write(&src, program).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(header_dir())
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}` (install gcc): {e}"));
    assert!(out.status.success(), "probe failed to compile:\n{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn numeric_constants_match_the_header() {
    let body: String = uapi::CONSTANTS
        .iter()
        .map(|(name, _)| format!("printf(\"{name}=%llu\\n\", (unsigned long long)({name}));\n"))
        .collect();
    let values = probe(&body);
    for (name, rust) in uapi::CONSTANTS {
        assert_eq!(values[*name], rust.to_string(), "{name} differs between kulink.h and uapi.rs");
    }
}

#[test]
fn string_constants_match_the_header() {
    // Strings are printed escaped, one per line, so formats with newlines compare too.
    let body: String = uapi::STRINGS
        .iter()
        .map(|(name, _)| {
            format!(
                "printf(\"{name}=\"); for (const char *c = {name}; *c; c++) \
                 printf(*c == '\\n' ? \"\\\\n\" : \"%c\", *c); printf(\"\\n\");\n"
            )
        })
        .collect();
    let values = probe(&body);
    for (name, rust) in uapi::STRINGS {
        assert_eq!(values[*name], rust.replace('\n', "\\n"), "{name} differs between kulink.h and uapi.rs");
    }
}

#[test]
fn struct_layouts_match_the_header() {
    for uapi::Layout { name, size, fields } in uapi::layouts() {
        let mut body = format!("printf(\"size=%zu\\n\", sizeof(struct {name}));\n");
        for (field, _) in &fields {
            body += &format!("printf(\"{field}=%zu\\n\", offsetof(struct {name}, {field}));\n");
        }
        let values = probe(&body);
        assert_eq!(values["size"], size.to_string(), "sizeof(struct {name})");
        for (field, offset) in fields {
            assert_eq!(values[field], offset.to_string(), "offset of {name}.{field}");
        }
    }
}

/// The C format and the Rust parser agree: a line printed with
/// KULINK_EVENT_TEXT_FMT parses back to the same event.
#[test]
fn event_text_printed_by_c_parses_in_rust() {
    let values = probe(
        "printf(\"line=\" KULINK_EVENT_TEXT_FMT, 42ULL, 123456789ULL, 2u, 192u, 0u, 2u, 1u, \
         192u, 0u, 2u, 15u, 8u, 0u, 4660u, 7u, 84u, 1u);\n",
    );
    let event = kulink_ko_contract::Event::parse_text(&values["line"]).unwrap();
    assert_eq!(event.seq, 42);
    assert_eq!(event.tstamp_ns, 123456789);
    assert_eq!(event.ifindex, 2);
    assert_eq!(event.src, std::net::Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(event.dst, std::net::Ipv4Addr::new(192, 0, 2, 15));
    assert_eq!((event.icmp_type, event.code, event.echo_id, event.echo_seq), (8, 0, 4660, 7));
    assert_eq!((event.len, event.flags), (84, 1));
}

#[test]
fn every_header_name_is_mirrored() {
    let header = std::fs::read_to_string(header_dir().join("kulink.h")).unwrap();
    let known: BTreeSet<&str> =
        uapi::CONSTANTS.iter().map(|(n, _)| *n).chain(uapi::STRINGS.iter().map(|(n, _)| *n)).collect();
    let unmirrored: Vec<String> = header
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("KULINK_") && !w.ends_with("_UNSPEC") && !w.ends_with("_H"))
        .filter(|w| !known.contains(w))
        .map(str::to_owned)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(unmirrored.is_empty(), "kulink.h names missing from uapi.rs: {unmirrored:?}");
}

/// `module/kulink.yaml`, the family's YNL spec, names what kulink.h names:
/// the family, its version and groups, and every command and attribute
/// with the same value and the type the header's comment gives it.
#[test]
fn the_ynl_spec_agrees_with_the_header() {
    use kulink_genl::{AttrKind, Spec};

    let spec = Spec::load(&header_dir().join("../kulink.yaml")).unwrap();
    let c_name = |prefix: &Option<String>, name: &str| {
        format!("{}{name}", prefix.as_deref().expect("every set and the operations have a name-prefix"))
            .to_uppercase()
            .replace('-', "_")
    };
    let mut spec_values = BTreeMap::new();
    let mut spec_types = BTreeMap::new();
    for op in &spec.operations {
        spec_values.insert(c_name(&spec.operation_prefix, &op.name), u64::from(op.value));
    }
    for set in &spec.sets {
        for attr in &set.attributes {
            let name = c_name(&set.name_prefix, &attr.name);
            spec_values.insert(name.clone(), u64::from(attr.value));
            let kind = match &attr.kind {
                AttrKind::Unsigned { width, big_endian: true } => format!("be{}", 8 * width),
                AttrKind::Unsigned { width, big_endian: false } => format!("u{}", 8 * width),
                AttrKind::Nest(inner) => format!("nest of {inner}"),
                AttrKind::Pad => "pad".into(),
                other => panic!("{name}: kulink.h has no {other:?} attributes"),
            };
            spec_types.insert(name, kind);
        }
    }
    let body: String =
        spec_values.keys().map(|name| format!("printf(\"{name}=%llu\\n\", (unsigned long long)({name}));\n")).collect();
    let header_values = probe(&body);
    for (name, value) in &spec_values {
        assert_eq!(header_values[name], value.to_string(), "{name}: kulink.yaml and kulink.h differ");
    }

    // Every enumerator of the family's four enums is in the spec, and its
    // comment's type is the spec's (`u64: ...`, `be32: ...`, `nest of ...`).
    let header = std::fs::read_to_string(header_dir().join("kulink.h")).unwrap();
    let prefixes = ["KULINK_CMD_", "KULINK_A_", "KULINK_EV_", "KULINK_STAT_"];
    for line in header.lines().map(str::trim) {
        let Some(name) = line.strip_suffix(',').or_else(|| line.split_once(',').map(|(n, _)| n)) else { continue };
        if !prefixes.iter().any(|p| name.starts_with(p)) || name.ends_with("_UNSPEC") || name.contains("MAX") {
            continue;
        }
        assert!(spec_values.contains_key(name), "{name} is in kulink.h but not in kulink.yaml");
        let comment = line.split_once("/*").map(|(_, c)| c.trim());
        let header_type = match comment {
            Some(c) if c.starts_with("nest of enum kulink_") => {
                let set = c.trim_start_matches("nest of enum kulink_").split('_').next().unwrap();
                format!("nest of {}", if set == "stat" { "stats" } else { set })
            }
            Some(c) => c.split(':').next().unwrap().to_owned(),
            None => "pad".into(),
        };
        if let Some(spec_type) = spec_types.get(name) {
            assert_eq!(&header_type, spec_type, "{name}: kulink.h says {header_type}, kulink.yaml {spec_type}");
        }
    }

    assert_eq!((spec.name.as_str(), u64::from(spec.version)), (uapi::GENL_NAME, u64::from(uapi::GENL_VERSION)));
    assert_eq!(spec.mcast_groups, [uapi::MCGRP_EVENTS, uapi::MCGRP_RELAY]);
}
