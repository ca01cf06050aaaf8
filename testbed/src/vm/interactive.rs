//! What a person at the host does with a guest: a shell on a port of its
//! own, and gdb through QEMU's stub with the module's symbols where the
//! kernel loaded them.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{Context, Result};
use kulink_protocol::{Command as AgentCommand, Extension};

use super::Vm;

/// How long a person's shell may last.
const SHELL_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The module's sections gdb needs beside `.text`, when the module has
/// them.
const SECTIONS: [&str; 4] = [".data", ".bss", ".rodata", ".init.text"];

impl<X: Extension> Vm<X> {
    /// The host's end of the shell port: what is written there is the
    /// shell's input, what is read its output, once [`Vm::run_shell`]
    /// runs it. Needs a guest booted with
    /// [`BootOptions::interactive`](super::BootOptions::interactive).
    pub fn shell_port(&mut self) -> Result<UnixStream> {
        self.shell.take().context("this guest has no shell port (boot it with `interactive`), or it was taken already")
    }

    /// Runs `/bin/sh -i` in the guest on the shell port until it exits
    /// (`exit`, or the end of its input), however long that takes.
    pub fn run_shell(&mut self) -> Result<()> {
        self.request_within(AgentCommand::Shell, SHELL_LIFETIME).map(drop)
    }

    /// The gdb command line that debugs this guest, as a shell takes it:
    /// the kernel's image, the stub's port, and the module under test's
    /// symbols at the addresses its sections were loaded at. Needs a guest
    /// booted with [`BootOptions::gdb`](super::BootOptions::gdb). Another
    /// architecture's guest is debugged by `gdb-multiarch`.
    pub fn gdb_command(&mut self) -> Result<String> {
        let port = self.gdb_port.context("this guest was booted without gdb's stub")?;
        let gdb = if self.arch.is_host() { "gdb" } else { "gdb-multiarch" };
        let mut command = vec![gdb.to_owned()];
        if self.vmlinux.exists() {
            command.push(self.vmlinux.display().to_string());
        }
        command.extend(["-ex".to_owned(), format!("target remote 127.0.0.1:{port}")]);
        if let (Some(name), Some(ko)) = (self.module_name(), self.module_files.last().map(|m| m.ko.clone())) {
            let text = self.section_address(&name, ".text")?;
            let mut add = format!("add-symbol-file {} {text}", ko.display());
            for section in SECTIONS {
                if let Ok(address) = self.section_address(&name, section) {
                    add += &format!(" -s {section} {address}");
                }
            }
            command.extend(["-ex".to_owned(), add]);
        }
        Ok(shell_words(&command))
    }

    /// Where the kernel loaded `section` of module `name`.
    fn section_address(&mut self, name: &str, section: &str) -> Result<String> {
        let address = self.read_file(&format!("/sys/module/{name}/sections/{section}"))?;
        Ok(address.trim().to_owned())
    }
}

/// A command line as a shell takes it: each word quoted when it needs to be.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=+,".contains(c)) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_with_spaces_are_quoted_for_a_shell() {
        let words = ["gdb", "/k/vmlinux", "-ex", "target remote 127.0.0.1:1234", "-ex", "it's"].map(String::from);
        assert_eq!(shell_words(&words), r"gdb /k/vmlinux -ex 'target remote 127.0.0.1:1234' -ex 'it'\''s'");
    }
}
