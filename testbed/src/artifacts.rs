//! Everything a boot needs besides QEMU: the kernel, the module under test
//! built against it, and the static agent. Each is cached and rebuilt only
//! when it changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::cache::{self, Stamp};
use crate::cross_rust::CrossRust;
use crate::kernels::{self, BuiltKernel};
use crate::traces::ModuleFile;
use crate::{coverage, host_root, kconfig, paths, progress, symbols, tools, usage_error, ModuleFailure};

/// Which kernel to boot.
#[derive(Debug, Clone)]
pub enum KernelChoice {
    /// An id from kernel-config/kernels.toml; `None` is the default kernel.
    Listed(Option<String>),
    /// A user's tree or tarball, built with the base fragment.
    Source(PathBuf),
    /// A prebuilt image and its build directory.
    Prebuilt {
        /// The bootable image.
        bzimage: PathBuf,
        /// The build directory modules are built against.
        kdir: PathBuf,
    },
}

impl KernelChoice {
    /// Catalog ids and groups (`all`, `distro`), comma-separated; the
    /// default kernel for none. Every id is checked before anything is built.
    pub fn listed(ids: Option<&str>) -> Result<Vec<Self>> {
        let specs = match ids {
            None => vec![kernels::default_spec()?],
            Some(ids) => kernels::expand(ids)?,
        };
        Ok(specs.into_iter().map(|k| Self::Listed(Some(k.id))).collect())
    }

    /// What `--kernel`, `--kdir` and `--kernel-src` ask for together: a
    /// source tree to build, an image with its build directory, or
    /// [`KernelChoice::listed`] ids.
    pub fn from_flags(kernel: Option<&str>, kdir: Option<&Path>, src: Option<&Path>) -> Result<Vec<Self>> {
        Ok(match (kernel, kdir, src) {
            (_, _, Some(src)) => vec![Self::Source(src.to_owned())],
            (Some(image), Some(kdir), None) => vec![Self::Prebuilt { bzimage: image.into(), kdir: kdir.to_owned() }],
            (None, Some(kdir), None) => {
                return Err(usage_error(format!("--kdir {}: also give the kernel image with --kernel", kdir.display())))
            }
            (Some(id), None, None) if Path::new(id).is_file() => {
                return Err(usage_error(format!(
                    "--kernel {id} is an image file: also give its build directory with --kdir"
                )))
            }
            (ids, None, None) => Self::listed(ids)?,
        })
    }

    /// What the user asked for, for people and for error reports.
    pub fn label(&self) -> String {
        match self {
            Self::Listed(Some(id)) => id.clone(),
            Self::Listed(None) => "default".into(),
            Self::Source(path) => path.display().to_string(),
            Self::Prebuilt { bzimage, .. } => bzimage.display().to_string(),
        }
    }
}

/// What a suite boots besides the kernel: its modules' sources and its agent.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// A Kbuild directory that builds the module under test; `None` boots
    /// no module.
    pub module_dir: Option<PathBuf>,
    /// Kbuild directories of modules loaded before it at boot, in order.
    /// Each is built with the symbols of those before it, and the module
    /// under test with all of theirs, so a module may use what an earlier
    /// one exports.
    pub loaded_before: Vec<PathBuf>,
    /// The agent: the core alone, or the core with a suite's plug-in.
    pub agent: AgentSource,
    /// Options on top of the kernel's own configuration: a catalog kernel
    /// built from source then boots as a variant of itself.
    pub kconfig: kconfig::Options,
    /// Options the kernel must have (`y` or `m`), each with what needs it:
    /// a kernel without one is a usage error before any module is built.
    pub needs: Vec<(String, String)>,
    /// Build every module with coverage counters (see [`coverage`]); the
    /// kernel must have [`coverage::KERNEL_OPTION`].
    pub coverage: bool,
    /// The guest mounts the host's root (see
    /// [`BootOptions::host_root`](crate::vm::BootOptions::host_root)): a
    /// kernel without 9p gets it (see [`host_root::with_9p`]).
    pub host_root: bool,
}

/// The bare agent's package: the core with no plug-in.
pub const BARE_AGENT: &str = "kulink-agent-core";

/// Where a guest agent is built from: a package of a cargo workspace, whose
/// binary of the same name runs as PID 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSource {
    /// A directory in the workspace (cargo finds the workspace from it).
    pub workspace: PathBuf,
    /// The package.
    pub package: String,
}

impl AgentSource {
    /// The core agent alone, from the testbed's own sources.
    pub fn bare() -> Self {
        Self { workspace: paths::repo_root(), package: BARE_AGENT.into() }
    }
}

/// Everything one boot needs, built or found in the cache: the kernel, the
/// module built against it, and the agent.
pub struct Artifacts {
    /// The kernel image and its build directory.
    pub kernel: BuiltKernel,
    /// The module under test, built against `kernel`, if the recipe has one.
    pub module: Option<PathBuf>,
    /// The modules loaded before it, built in the recipe's order.
    pub loaded_before: Vec<PathBuf>,
    /// The static agent binary that runs as PID 1.
    pub agent: PathBuf,
    /// The test's modules (those loaded before, then the one under test)
    /// with the directories they were built from.
    pub module_files: Vec<ModuleFile>,
}

impl Artifacts {
    /// Builds (or finds in the cache) the kernel of `choice`, then the
    /// recipe's module against it and its agent. A missing host tool or a bad
    /// choice is a usage error, named before anything is built.
    pub fn prepare(choice: &KernelChoice, recipe: &Recipe) -> Result<Self> {
        let mut kernel = kernel_with(choice, &recipe.kconfig)?;
        if recipe.host_root {
            kernel = host_root::with_9p(kernel, &recipe.kconfig, |with_9p| match choice {
                KernelChoice::Listed(_) => kernel_with(choice, with_9p),
                _ => Err(usage_error(format!(
                    "kernel {} lacks 9p over virtio ({}), which the host's root needs",
                    choice.label(),
                    host_root::KERNEL_OPTIONS.join(", ")
                ))),
            })?;
        }
        let config = kconfig::parse(&kernel.config()?);
        let has = |option: &str| config.get(option).is_some_and(|v| matches!(v.as_deref(), Some("y" | "m")));
        let coverage = recipe.coverage.then(|| (coverage::KERNEL_OPTION.to_owned(), "coverage".to_owned()));
        if let Some((option, why)) = recipe.needs.iter().chain(&coverage).find(|(option, _)| !has(option)) {
            return Err(usage_error(format!("kernel {} has no {option}, which {why} needs", kernel.id)));
        }
        let mut loaded_before = Vec::new();
        for dir in &recipe.loaded_before {
            let ko = build_module(dir, &kernel, &loaded_before, recipe.coverage)?;
            loaded_before.push(ko);
        }
        let module = recipe
            .module_dir
            .as_deref()
            .map(|dir| build_module(dir, &kernel, &loaded_before, recipe.coverage))
            .transpose()?;
        // What the test's modules use of a distribution kernel's own modules
        // loads before them, as modprobe would load it.
        let built: Vec<PathBuf> = loaded_before.iter().chain(&module).cloned().collect();
        for needed in kernels::module_dependencies(&kernel, &built)? {
            if !kernel.preload.contains(&needed) {
                kernel.preload.push(needed);
            }
        }
        let agent = build_agent(&recipe.agent, kernel.arch)?;
        let dirs = recipe.loaded_before.iter().chain(&recipe.module_dir);
        let module_files =
            built.into_iter().zip(dirs).map(|(ko, dir)| ModuleFile { ko, source_dir: dir.clone() }).collect();
        Ok(Self { kernel, module, loaded_before, agent, module_files })
    }
}

/// The kernel of `choice` with `overlay` on top (a variant of a catalog
/// kernel); an overlay on another kernel is a usage error.
fn kernel_with(choice: &KernelChoice, overlay: &kconfig::Options) -> Result<BuiltKernel> {
    match choice {
        KernelChoice::Listed(None) => kernels::ensure_with(&kernels::default_spec()?, overlay),
        KernelChoice::Listed(Some(id)) => kernels::ensure_with(&kernels::find(id)?, overlay),
        _ if !overlay.is_empty() => Err(usage_error(format!(
            "kernel {}: configuration overlays (--kconfig) apply to the catalog's kernels",
            choice.label()
        ))),
        KernelChoice::Source(path) => kernels::ensure_built(&kernels::spec_for_source(path)?),
        KernelChoice::Prebuilt { bzimage, kdir } => kernels::prebuilt(bzimage, kdir),
    }
}

/// Files of a module's directory that go into its build (sources, headers
/// and Kbuild files, in subdirectories too), in a stable order.
fn module_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(sub) = dirs.pop() {
        for e in fs::read_dir(&sub).with_context(|| format!("read {}", sub.display()))? {
            let p = e?.path();
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                dirs.push(p);
            } else if name.ends_with(".c") || name.ends_with(".h") || name == "Kbuild" || name == "Makefile" {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Debug information in the test's modules, whatever the kernel's
/// configuration: a report in one of them is told with its source line.
const MODULE_KCFLAGS: &str = "-g";

/// Builds the module in `src` against the kernel's build dir, out of the
/// source tree, with the symbols the modules `uses` (built before) export,
/// and with coverage counters if asked. Any compiler warning fails the
/// build.
pub fn build_module(src: &Path, kernel: &BuiltKernel, uses: &[PathBuf], coverage: bool) -> Result<PathBuf> {
    let files = module_sources(src)?;
    let mut parts = Vec::new();
    for f in &files {
        parts.push(f.strip_prefix(src).unwrap_or(f).to_string_lossy().into_owned().into_bytes());
        parts.push(fs::read(f)?);
    }
    // The symbols' versions go into this build: a changed provider is a new one.
    let symvers: Vec<PathBuf> = uses.iter().map(|ko| ko.with_file_name("Module.symvers")).collect();
    for file in &symvers {
        parts.push(fs::read(file).with_context(|| format!("read {}", file.display()))?);
    }
    parts.push(MODULE_KCFLAGS.as_bytes().to_vec());
    let profile = coverage.then_some(coverage::MAKE_ARGUMENT);
    parts.extend(profile.map(|p| p.as_bytes().to_vec()));
    let hash = cache::short_hash(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let out = paths::cache_dir().join("modules").join(format!("{}-{hash}", kernel.key));
    let label = format!("the module in {}", src.display());
    let _lock = cache::lock(&paths::sibling(&out, "lock"), &label)?;
    if Stamp::built(&out).exists() {
        return only_module(&out);
    }
    tools::require_all(&[tools::MAKE, tools::GCC])?;
    let make_arguments = kernels::module_make_arguments(kernel)?;
    let _ = fs::remove_dir_all(&out);
    for f in &files {
        let dest = out.join(f.strip_prefix(src).expect("listed under src"));
        fs::create_dir_all(dest.parent().expect("has a parent"))?;
        fs::copy(f, &dest)?;
    }
    progress::note(format!("building {label} for {}", kernel.release));
    let output = Command::new("make")
        .arg("-C")
        .arg(&kernel.kdir)
        .arg(format!("M={}", out.display()))
        .arg(format!(
            "KBUILD_EXTRA_SYMBOLS={}",
            symvers.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" ")
        ))
        .args(&make_arguments)
        .arg(format!("KCFLAGS={MODULE_KCFLAGS}"))
        .args(profile)
        .arg("modules")
        .output()
        .with_context(|| format!("run make for {label}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    fs::write(out.join("build.log"), &text)?;
    // The compiler's words with the user's paths, not the cache copy's.
    let text = text.replace(&out.display().to_string(), &src.display().to_string());
    let against = format!("kernel {} ({})", kernel.id, kernel.release);
    if !output.status.success() {
        // Kbuild links the kernel's source tree into an O= build directory.
        let source = Some(kernel.kdir.join("source")).filter(|s| s.is_dir());
        let needs: String =
            symbols::explain(&text, source.as_deref(), &kernel.id).iter().map(|n| format!("\n{n}")).collect();
        return Err(ModuleFailure(format!(
            "{label} failed to build against {against}:\n{}{needs}",
            tools::tail(&text, 40)
        ))
        .into());
    }
    // Kbuild's own remarks on the host's tools (a compiler or pahole other
    // than the kernel's) are about the testbed, not the module's code.
    let (about_tools, warnings): (Vec<&str>, Vec<&str>) = text
        .lines()
        .filter(|l| l.contains("warning:"))
        .partition(|l| l.contains("differs from the one used to build the kernel"));
    for remark in about_tools {
        progress::note(format!("{against}: {}", remark.trim()));
    }
    if !warnings.is_empty() {
        return Err(ModuleFailure(format!(
            "{label} must build without warnings against {against}:\n{}",
            warnings.join("\n")
        ))
        .into());
    }
    let ko = only_module(&out)?;
    Stamp::built(&out).write(&kernel.release)?;
    Ok(ko)
}

/// The one `.ko` a build made: the testbed loads one module under test.
fn only_module(out: &Path) -> Result<PathBuf> {
    let mut kos = Vec::new();
    for e in fs::read_dir(out).with_context(|| format!("read {}", out.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "ko") {
            kos.push(p);
        }
    }
    match <[PathBuf; 1]>::try_from(kos) {
        Ok([ko]) => Ok(ko),
        Err(kos) if kos.is_empty() => bail!("the build in {} made no module (.ko file)", out.display()),
        Err(kos) => {
            let names: Vec<String> =
                kos.iter().filter_map(|k| k.file_name()).map(|n| n.to_string_lossy().into()).collect();
            bail!(
                "the build in {} made {} modules ({}); the testbed loads exactly one",
                out.display(),
                kos.len(),
                names.join(", ")
            )
        }
    }
}

/// Builds the agent package for `arch` as a static glibc binary
/// (`KULINK_AGENT` names a prebuilt one for the host's architecture). In a
/// workspace of one's own (kulink's checkout, a user's crate with its
/// plug-in) it builds under that workspace's target directory
/// (`CARGO_TARGET_DIR`, else `target/`), in `agent/` (`agent-cross/` for
/// other architectures, built by Debian's Rust); from sources unpacked into
/// the cache (an installed kulink) every version shares one target
/// directory there, and takes its binary out under a lock, so versions
/// neither rebuild everything nor pile up builds.
pub fn build_agent(source: &AgentSource, arch: Arch) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("KULINK_AGENT").filter(|_| arch.is_host()) {
        return Ok(PathBuf::from(p));
    }
    let cross = if arch.is_host() { None } else { Some(CrossRust::for_arch(arch)?) };
    // Another compiler's build scripts and libraries go to a directory of
    // their own: sharing one, each would rebuild the other's.
    let subdir = if cross.is_some() { "agent-cross" } else { "agent" };
    let package = &source.package;
    let build = AgentBuild { package, arch, cross: cross.as_ref() };
    if !paths::is_unpacked(&source.workspace) {
        let root = workspace_root(&source.workspace)?;
        // kulink's own checkout builds from its lock file as CI does; a
        // user's workspace resolves as its own builds do.
        let locked = root.canonicalize().ok() == paths::repo_root().canonicalize().ok();
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        return build.run(&source.workspace, &target.join(subdir), locked);
    }
    let shared = paths::checked_cache_dir()?.join(format!("{subdir}-target"));
    let _lock = cache::lock(&paths::sibling(&shared, "lock"), "the guest agent's build")?;
    // An unpacked tree holds a part of kulink's workspace: cargo trims its lock file.
    let built = build.run(&source.workspace, &shared, false)?;
    let kept = source.workspace.join("agents").join(arch.name()).join(package);
    fs::create_dir_all(kept.parent().expect("has a parent"))?;
    let partial = paths::sibling(&kept, "partial");
    fs::copy(&built, &partial).with_context(|| format!("copy {}", built.display()))?;
    fs::rename(&partial, &kept)?;
    Ok(kept)
}

/// The root of the cargo workspace `dir` is in.
fn workspace_root(dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(dir)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run {} ({e}): kulink builds guest agents with cargo; put cargo on PATH",
                Path::new(&cargo).display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "no cargo workspace at {} for the agent plug-in: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(manifest.parent().expect("a manifest is in a directory").to_owned())
}

/// One agent package to build for one architecture.
struct AgentBuild<'a> {
    package: &'a str,
    arch: Arch,
    /// Debian's Rust, for another architecture than the host's.
    cross: Option<&'a CrossRust>,
}

impl AgentBuild<'_> {
    fn run(&self, dir: &Path, target_dir: &Path, locked: bool) -> Result<PathBuf> {
        let (package, target) = (self.package, self.arch.rust_target());
        let agent = target_dir.join(target).join("release").join(package);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(&cargo);
        command.current_dir(dir).args(["build", "--release", "-p", package, "--target", target]);
        if locked {
            command.arg("--locked");
        }
        command.arg("--target-dir").arg(target_dir);
        match self.cross {
            Some(cross) => command.envs(cross.cargo_env(self.arch)),
            // Only the agent is static: target rustflags skip build scripts and proc macros.
            None => command.env(
                format!("CARGO_TARGET_{}_RUSTFLAGS", target.to_uppercase().replace('-', "_")),
                "-C target-feature=+crt-static",
            ),
        };
        cargo_build(command, &cargo, package, &agent)
    }
}

/// Runs the agent's cargo build: its progress shown the first time (a
/// minute or more), quiet after.
fn cargo_build(mut command: Command, cargo: &std::ffi::OsStr, package: &str, agent: &Path) -> Result<PathBuf> {
    let not_found = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot run {} ({e}): kulink builds its guest agent with cargo; put cargo on PATH",
            Path::new(&cargo).display()
        )
    };
    if !agent.exists() {
        // The first build takes a minute or more: let cargo show its progress.
        progress::note("building the guest agent (the first time takes a while)");
        let status = command.stdout(std::io::stderr()).status().map_err(not_found)?;
        if !status.success() {
            bail!("building {package} failed: cargo's messages are above");
        }
        return Ok(agent.to_owned());
    }
    let output = command.arg("--quiet").output().map_err(not_found)?;
    if !output.status.success() {
        bail!("building {package} failed:\n{}", tools::tail(&String::from_utf8_lossy(&output.stderr), 40));
    }
    Ok(agent.to_owned())
}
