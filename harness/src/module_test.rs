//! `kulink test`: any module, any command. Build the module for a kernel,
//! boot with it loaded by the bare agent, run the command in the guest,
//! and judge its exit status and the kernel log.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use kulink_protocol::{NoExtension, Ran, MODULE_PARAM_KEY};
use kulink_testbed::accel::AccelChoice;
use kulink_testbed::artifacts::{Artifacts, KernelChoice, Recipe};
use kulink_testbed::initramfs::GuestFile;
use kulink_testbed::splat::Splat;
use kulink_testbed::usage_error;
use kulink_testbed::vm::{BootOptions, Vm};
use serde::Serialize;

/// The agent a module without a plug-in boots with: the core alone.
pub const BARE_AGENT: &str = "kulink-agent-core";

/// What `kulink test` was asked to do on each kernel.
#[derive(Debug, Clone)]
pub struct ModuleTest {
    /// A Kbuild directory that builds one module.
    pub module: PathBuf,
    /// Its parameters at load, NAME=VALUE.
    pub params: Vec<(String, String)>,
    pub files: Vec<GuestFile>,
    /// busybox as /bin/sh.
    pub shell: bool,
    pub accel: AccelChoice,
    /// The command to run in the guest: `argv[0]` is a guest path.
    pub command: Vec<String>,
    pub timeout: Duration,
}

/// One kernel's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleTestReport {
    pub schema_version: u32,
    pub kernel: String,
    pub kernel_release: String,
    pub accel: String,
    pub module: PathBuf,
    pub command: Vec<String>,
    /// How the command ended and what it wrote.
    pub ran: Ran,
    pub kernel_log_clean: bool,
    pub splats: Vec<Splat>,
    /// The command exited with 0 in time and the kernel log is clean.
    pub passed: bool,
}

/// Splits `NAME=VALUE`, as `--module-param` takes it.
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
            if value.contains(char::is_whitespace) {
                return Err(format!("{text:?}: a value cannot hold spaces (it travels on the kernel command line)"));
            }
            Ok((name.into(), value.into()))
        }
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

impl ModuleTest {
    /// Says what is wrong before anything is built or booted.
    pub fn check(&self) -> Result<()> {
        let dir = &self.module;
        if !dir.join("Kbuild").is_file() && !dir.join("Makefile").is_file() {
            return Err(usage_error(format!(
                "--module {}: no Kbuild or Makefile there (give the directory that builds your .ko)",
                dir.display()
            )));
        }
        if self.command.first().is_none_or(|program| !program.starts_with('/')) {
            return Err(usage_error(format!(
                "the command {:?} must start with an absolute guest path (with --shell: /bin/sh -c '...')",
                self.command
            )));
        }
        Ok(())
    }

    fn recipe(&self) -> Recipe {
        Recipe { module_dir: Some(self.module.clone()), agent_package: BARE_AGENT.into() }
    }

    fn boot_options(&self) -> BootOptions {
        let mut opts =
            BootOptions { accel: self.accel, files: self.files.clone(), shell: self.shell, ..BootOptions::default() };
        for (name, value) in &self.params {
            opts.extension.insert(format!("{MODULE_PARAM_KEY}{name}"), value.clone());
        }
        opts
    }

    /// Runs the command on one kernel. Infrastructure problems are errors;
    /// a failing command or a splat is a report with `passed: false`.
    pub fn run(&self, kernel: &KernelChoice) -> Result<ModuleTestReport> {
        self.check()?;
        let art = Artifacts::prepare(kernel, &self.recipe())?;
        let mut vm = Vm::<NoExtension>::boot(&art, &self.boot_options())?;
        let argv: Vec<&str> = self.command.iter().map(String::as_str).collect();
        let ran = vm.run(&argv, self.timeout)?;
        let (kernel_release, accel) = (vm.ready().kernel.clone(), vm.accel().name().to_owned());
        if !ran.success() {
            vm.keep_evidence();
        }
        let finished = vm.shutdown()?;
        let kernel_log_clean = finished.splats.is_empty();
        Ok(ModuleTestReport {
            schema_version: crate::report::SCHEMA_VERSION,
            kernel: art.kernel.id.clone(),
            kernel_release,
            accel,
            module: self.module.clone(),
            command: self.command.clone(),
            passed: ran.success() && kernel_log_clean,
            ran,
            kernel_log_clean,
            splats: finished.splats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_params_are_name_equals_one_word() {
        assert_eq!(parse_param("rate=4"), Ok(("rate".into(), "4".into())));
        assert_eq!(parse_param("path=/a=b"), Ok(("path".into(), "/a=b".into())));
        assert!(parse_param("rate").unwrap_err().contains("is not NAME=VALUE"));
        assert!(parse_param("=4").unwrap_err().contains("is not NAME=VALUE"));
        assert!(parse_param("msg=a b").unwrap_err().contains("cannot hold spaces"));
    }

    #[test]
    fn a_bad_module_dir_or_command_is_named_before_any_build() {
        let test = |module: &str, command: &[&str]| ModuleTest {
            module: module.into(),
            params: Vec::new(),
            files: Vec::new(),
            shell: false,
            accel: AccelChoice::Auto,
            command: command.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(1),
        };
        let module = concat!(env!("CARGO_MANIFEST_DIR"), "/../module");
        assert!(test(module, &["/bin/true"]).check().is_ok());
        let err = test("/nonexistent", &["/bin/true"]).check().unwrap_err();
        assert!(format!("{err:#}").contains("no Kbuild or Makefile"), "{err:#}");
        assert_eq!(crate::exit_code(&err), 2);
        let err = test(module, &["true"]).check().unwrap_err();
        assert!(format!("{err:#}").contains("absolute guest path"), "{err:#}");
    }
}
