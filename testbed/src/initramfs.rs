//! The guest image: an uncompressed cpio with the agent as /init, the module
//! under test, and the modules a distribution kernel needs first.
//! Uncompressed, because gunzip under TCG costs ~200 ms of boot time and the
//! image only ever travels from the page cache into QEMU.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kulink_protocol::PRELOAD_LIST;

use crate::cpio::{Entry, Writer};

/// What goes into one image.
pub struct Image<'a> {
    pub agent: &'a Path,
    pub module: Option<&'a Path>,
    /// Loaded in this order before the module under test.
    pub preload: &'a [PathBuf],
}

impl Image<'_> {
    /// Where the image keeps the module under test, as the guest sees it.
    pub fn module_path(&self) -> Option<String> {
        self.module.map(|m| format!("/lib/modules/{}", m.file_name().unwrap_or_default().to_string_lossy()))
    }

    pub fn write(&self, out: &Path) -> Result<()> {
        let agent_bin = fs::read(self.agent).with_context(|| format!("read agent {}", self.agent.display()))?;
        let file = File::create(out).with_context(|| format!("create {}", out.display()))?;
        let mut w = Writer::new(BufWriter::new(file));
        for dir in ["dev", "proc", "sys", "tmp", "run", "mnt", "lib", "lib/modules", "sbin"] {
            w.add(&Entry::Dir { path: dir, mode: 0o755 })?;
        }
        // The kernel opens /dev/console for PID 1 before devtmpfs is mounted.
        w.add(&Entry::CharDev { path: "dev/console", mode: 0o600, major: 5, minor: 1 })?;
        w.add(&Entry::File { path: "init", mode: 0o755, data: &agent_bin })?;
        if let (Some(module), Some(path)) = (self.module, self.module_path()) {
            let data = fs::read(module).with_context(|| format!("read module {}", module.display()))?;
            w.add(&Entry::File { path: path.trim_start_matches('/'), mode: 0o644, data: &data })?;
        }
        let mut list = String::new();
        if !self.preload.is_empty() {
            w.add(&Entry::Dir { path: "lib/modules/preload", mode: 0o755 })?;
        }
        for (i, path) in self.preload.iter().enumerate() {
            let name = format!("lib/modules/preload/{i:02}-{}", path.file_name().unwrap_or_default().to_string_lossy());
            let data = fs::read(path).with_context(|| format!("read module {}", path.display()))?;
            w.add(&Entry::File { path: &name, mode: 0o644, data: &data })?;
            list += &format!("/{name}\n");
        }
        w.add(&Entry::File { path: PRELOAD_LIST.trim_start_matches('/'), mode: 0o644, data: list.as_bytes() })?;
        w.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}
