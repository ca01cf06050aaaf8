//! The guest image: an uncompressed cpio with the agent as /init and kulink.ko.
//! Uncompressed, because gunzip under TCG costs ~200 ms of boot time and the
//! image only ever travels from the page cache into QEMU.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cpio::{Entry, Writer};

/// Where the agent looks for the module (its default `kulink.module`).
pub const MODULE_PATH: &str = "lib/modules/kulink.ko";

/// Modules the agent loads, in order, before kulink.ko: one path a line.
pub const PRELOAD_LIST: &str = "lib/modules/preload.list";

pub fn write(out: &Path, agent: &Path, module: &Path, preload: &[std::path::PathBuf]) -> Result<()> {
    let agent_bin = fs::read(agent).with_context(|| format!("read agent {}", agent.display()))?;
    let module_bin = fs::read(module).with_context(|| format!("read module {}", module.display()))?;
    let file = File::create(out).with_context(|| format!("create {}", out.display()))?;
    let mut w = Writer::new(BufWriter::new(file));
    for dir in ["dev", "proc", "sys", "tmp", "run", "mnt", "lib", "lib/modules", "sbin"] {
        w.add(&Entry::Dir { path: dir, mode: 0o755 })?;
    }
    // The kernel opens /dev/console for PID 1 before devtmpfs is mounted.
    w.add(&Entry::CharDev { path: "dev/console", mode: 0o600, major: 5, minor: 1 })?;
    w.add(&Entry::File { path: "init", mode: 0o755, data: &agent_bin })?;
    w.add(&Entry::File { path: MODULE_PATH, mode: 0o644, data: &module_bin })?;
    let mut list = String::new();
    let names: Vec<String> = preload
        .iter()
        .enumerate()
        .map(|(i, p)| format!("lib/modules/preload/{i:02}-{}", p.file_name().unwrap_or_default().to_string_lossy()))
        .collect();
    if !preload.is_empty() {
        w.add(&Entry::Dir { path: "lib/modules/preload", mode: 0o755 })?;
    }
    for (path, name) in preload.iter().zip(&names) {
        let data = fs::read(path).with_context(|| format!("read module {}", path.display()))?;
        w.add(&Entry::File { path: name, mode: 0o644, data: &data })?;
        list += &format!("/{name}\n");
    }
    w.add(&Entry::File { path: PRELOAD_LIST, mode: 0o644, data: list.as_bytes() })?;
    // The kernel's usermode helper is the agent under another name.
    let helper = kulink_wire::uapi::UMH_PATH.trim_start_matches('/');
    w.add(&Entry::Symlink { path: helper, target: "/init" })?;
    w.finish()?.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}
