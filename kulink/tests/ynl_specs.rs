//! Every spec a kernel's own source ships (`Documentation/netlink/specs`:
//! generic netlink families, and the classic protocols' `netlink-raw`
//! ones, rtnetlink's and nftables' among them) loads: kulink reads the
//! whole YNL language those families use. Kernels before 6.1 ship no specs. And the specs
//! kulink ships keep to the kernel's schemas, where the source has them.

use std::fs;
use std::path::Path;

use kulink::testbed::genl::{schema, Spec};
use kulink::testbed::kernels;

fn every_spec_of_the_kernel_source_loads(kernel: &str) {
    let spec = kernels::find(kernel).unwrap();
    let built = kernels::ensure_built(&spec).unwrap();
    let dir = built.kdir.join("source/Documentation/netlink/specs");
    let version: Vec<u32> = spec.version.split('.').map(|n| n.parse().unwrap()).collect();
    if version < vec![6, 1] {
        assert!(!dir.exists(), "{kernel} is older than YNL, but has {}", dir.display());
        return;
    }
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let (mut loaded, mut refused) = (Vec::new(), Vec::new());
    for file in files {
        match Spec::load(&file) {
            Ok(spec) => loaded.push(spec.name),
            Err(e) => refused.push(e.to_string()),
        }
    }
    eprintln!("{kernel}: {} specs load: {}", loaded.len(), loaded.join(", "));
    assert!(refused.is_empty(), "{kernel}: {} refused:\n{}", refused.len(), refused.join("\n"));
    assert!(!loaded.is_empty(), "{kernel} ships YNL specs in {}", dir.display());
}

/// kulink.ko's and the example's specs pass the schema of their protocol
/// in the catalog's newest kernel source (fetched if need be), as `--spec`
/// checks a user's (older schemas lack what newer kernels added: 6.12's
/// knows no `uns-admin-perm`, which kulink.ko uses).
fn the_project_s_specs_keep_to_the_newest_kernel_schemas() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = kernels::newest_source().unwrap_or_else(|e| panic!("the newest kernel source: {e:#}"));
    for spec in ["kulink-ko/module/kulink.yaml", "examples/udpcount/udpcount.yaml"] {
        let text = fs::read_to_string(repo.join(spec)).unwrap();
        let file = schema::schema_file(&text).unwrap();
        let schema_path = source.join("Documentation/netlink").join(&file);
        let schema = fs::read_to_string(&schema_path)
            .unwrap_or_else(|e| panic!("{spec}: the newest source has no schema {}: {e}", schema_path.display()));
        let problems = schema::problems(&text, &schema).unwrap();
        assert!(problems.is_empty(), "{spec} breaks {}:\n{}", schema_path.display(), problems.join("\n"));
    }
}

kulink::kernel_tests!(
    source: every_spec_of_the_kernel_source_loads;
    once: the_project_s_specs_keep_to_the_newest_kernel_schemas
);
