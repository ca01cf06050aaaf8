//! Host tools kulink runs, each with the way to get it when it is missing.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// A host program and the command that installs it on Debian/Ubuntu.
pub struct Tool {
    pub program: &'static str,
    pub install: &'static str,
}

pub const QEMU: Tool = Tool { program: "qemu-system-x86_64", install: "sudo apt-get install qemu-system-x86" };
pub const MAKE: Tool = Tool { program: "make", install: "sudo apt-get install build-essential" };
pub const GCC: Tool = Tool { program: "gcc", install: "sudo apt-get install build-essential" };
pub const FLEX: Tool = Tool { program: "flex", install: "sudo apt-get install flex" };
pub const BISON: Tool = Tool { program: "bison", install: "sudo apt-get install bison" };
pub const BC: Tool = Tool { program: "bc", install: "sudo apt-get install bc" };
pub const TAR: Tool = Tool { program: "tar", install: "sudo apt-get install tar" };
pub const XZ: Tool = Tool { program: "xz", install: "sudo apt-get install xz-utils" };
pub const APT_GET: Tool = Tool { program: "apt-get", install: "sudo apt-get install apt" };
pub const DPKG_DEB: Tool = Tool { program: "dpkg-deb", install: "sudo apt-get install dpkg" };
pub const CURL: Tool = Tool { program: "curl", install: "sudo apt-get install curl" };
pub const VNG: Tool = Tool { program: "vng", install: "pip install virtme-ng" };
pub const MODINFO: Tool = Tool { program: "modinfo", install: "sudo apt-get install kmod" };

/// Tools a kernel build from source needs.
pub const KERNEL_BUILD: &[Tool] = &[MAKE, GCC, FLEX, BISON, BC, TAR, XZ];

impl Tool {
    pub fn find(&self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|d| d.join(self.program)).find(|p| p.is_file())
    }

    pub fn require(&self) -> Result<PathBuf> {
        match self.find() {
            Some(p) => Ok(p),
            None => bail!(
                "`{}` is not installed: run `{}` (./run.sh and ./test.sh install everything they need)",
                self.program,
                self.install
            ),
        }
    }
}

pub fn require_all(tools: &[Tool]) -> Result<()> {
    tools.iter().try_for_each(|t| t.require().map(drop))
}

/// Runs a command to completion; a failure shows its stderr.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("cannot start {shown}"))?;
    if !out.status.success() {
        bail!("{shown} failed ({}):\n{}", out.status, tail(&String::from_utf8_lossy(&out.stderr), 30));
    }
    Ok(out)
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_names_its_package() {
        let t = Tool { program: "kulink-no-such-tool", install: "sudo apt-get install kulink-pkg" };
        let err = t.require().unwrap_err().to_string();
        assert!(err.contains("kulink-no-such-tool") && err.contains("apt-get install kulink-pkg"), "{err}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
