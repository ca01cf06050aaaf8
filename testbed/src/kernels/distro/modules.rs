//! A distribution kernel's own modules, indexed the way the package's
//! installation indexes them (depmod): which file a module is, and what
//! must be loaded before it (`modules.dep`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::tools;

/// The index of one kernel's modules directory (`lib/modules/RELEASE`).
#[derive(Debug, Default)]
pub struct ModuleIndex {
    dir: PathBuf,
    /// Module name → its file (relative to `dir`) and the names of the
    /// modules it needs.
    modules: BTreeMap<String, (PathBuf, Vec<String>)>,
}

impl ModuleIndex {
    /// Reads the index of `dir`, running depmod first if the package left
    /// none (Debian's image packages run it on installation, which an
    /// unpacked package never had).
    pub fn of(dir: &Path) -> Result<Self> {
        if !dir.join("modules.dep").is_file() {
            run_depmod(dir)?;
        }
        let path = dir.join("modules.dep");
        let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        Ok(Self { dir: dir.to_owned(), modules: parse_dep(&text) })
    }

    /// The module files to load for `names`, each after what it needs and
    /// each once, in the order asked. A name the index does not know is
    /// built into the kernel: nothing to load.
    pub fn load_order<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
        let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
        for name in names {
            self.visit(&module_name(name), &mut seen, &mut out);
        }
        out
    }

    fn visit(&self, name: &str, seen: &mut BTreeSet<String>, out: &mut Vec<PathBuf>) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        let Some((file, needs)) = self.modules.get(name) else { return };
        for need in needs {
            self.visit(need, seen, out);
        }
        out.push(self.dir.join(file));
    }
}

fn run_depmod(dir: &Path) -> Result<()> {
    let release = dir.file_name().context("a modules directory is named after its release")?;
    // depmod -b BASE reads BASE/lib/modules/RELEASE.
    let base = dir.parent().and_then(Path::parent).and_then(Path::parent).context("not under lib/modules")?;
    let mut depmod = Command::new(tools::DEPMOD.require()?);
    tools::run(depmod.arg("-b").arg(base).arg(release)).map(drop)
}

/// The name the kernel knows a module file by: its file name without
/// `.ko` (and a compression suffix), `-` as `_`.
pub fn module_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let base = base.split(".ko").next().unwrap_or(base);
    base.replace('-', "_")
}

/// `kernel/net/x.ko: kernel/lib/a.ko kernel/lib/b.ko`: each module's file
/// and the names of what it needs.
fn parse_dep(text: &str) -> BTreeMap<String, (PathBuf, Vec<String>)> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(file, needs)| {
            let needs = needs.split_whitespace().map(module_name).collect();
            (module_name(file), (PathBuf::from(file), needs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ModuleIndex {
        let dep = "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko\n\
                   kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n\
                   kernel/net/netfilter/nft_log.ko: kernel/net/netfilter/nf_tables.ko kernel/net/netfilter/nfnetlink.ko\n\
                   kernel/net/netfilter/nf_tables.ko: kernel/net/netfilter/nfnetlink.ko\n\
                   kernel/net/netfilter/nfnetlink.ko:\n\
                   kernel/lib/crc-itu-t.ko:\n";
        ModuleIndex { dir: "/m".into(), modules: parse_dep(dep) }
    }

    #[test]
    fn what_a_module_needs_loads_before_it_and_once() {
        let order = index().load_order(["virtio_pci", "nft_log", "nf-tables", "veth"]);
        let names: Vec<String> = order.iter().map(|p| module_name(&p.to_string_lossy())).collect();
        assert_eq!(names, ["virtio_pci_modern_dev", "virtio_pci", "nfnetlink", "nf_tables", "nft_log"]);
        assert_eq!(order[0], Path::new("/m/kernel/drivers/virtio/virtio_pci_modern_dev.ko"));
    }

    #[test]
    fn file_names_are_module_names() {
        assert_eq!(module_name("kernel/lib/crc-itu-t.ko.xz"), "crc_itu_t");
        assert_eq!(module_name("veth"), "veth");
    }
}
