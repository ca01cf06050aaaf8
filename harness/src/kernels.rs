//! Kernels: the list in `kernel-config/kernels.toml`, source fetching, and
//! cached builds keyed by version + config hash.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::apt::{self, Apt};
use crate::{catalog, distro, kconfig, paths, tools, usage_error};

/// Bump when the build recipe changes in a way the hash cannot see.
const RECIPE: &str = "tinyconfig + fragments, make all, v1";

pub use crate::catalog::{KernelSpec, Kind, Source};

/// A bootable kernel and the build directory modules are built against.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltKernel {
    pub id: String,
    /// `uname -r` of the kernel.
    pub release: String,
    pub bzimage: PathBuf,
    pub kdir: PathBuf,
    /// Identifies this exact build in the module cache.
    pub key: String,
    /// Extra kernel command line from the spec.
    pub cmdline: String,
    /// Modules to load before kulink.ko, in dependency order (distro
    /// kernels build virtio as modules).
    pub preload: Vec<PathBuf>,
}

pub fn config_dir() -> PathBuf {
    paths::repo_root().join("kernel-config")
}

/// The kernel list, checked: a mistake in it is the user's to fix (exit 2).
pub fn list() -> Result<Vec<KernelSpec>> {
    let path = config_dir().join("kernels.toml");
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let specs = catalog::parse_list(&text)
        .and_then(|specs| catalog::check_fragments(&specs, &config_dir()).map(|()| specs))
        .map_err(|e| usage_error(format!("{}: {e:#}", path.display())))?;
    Ok(specs)
}

/// The kernels a run of the whole matrix covers: `KULINK_KERNELS` (ids,
/// comma-separated; `KULINK_KERNEL` is the one-id form), else every listed
/// kernel; minus `KULINK_SKIP_KERNELS`. An unknown id is a usage error.
pub fn selected() -> Result<Vec<KernelSpec>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let chosen = var("KULINK_KERNELS").or_else(|| var("KULINK_KERNEL"));
    select(list()?, chosen.as_deref(), var("KULINK_SKIP_KERNELS").as_deref())
}

/// The ids in a comma-separated list, as users write them (`6.1, 6.12`).
pub fn ids_in(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|id| !id.is_empty())
}

fn select(all: Vec<KernelSpec>, chosen: Option<&str>, skipped: Option<&str>) -> Result<Vec<KernelSpec>> {
    let ids = |list: Option<&str>| -> Vec<String> {
        list.map(|l| ids_in(l).map(str::to_owned).collect()).unwrap_or_default()
    };
    let (chosen, skipped) = (ids(chosen), ids(skipped));
    let known: Vec<&str> = all.iter().map(|k| k.id.as_str()).collect();
    if let Some(unknown) = chosen.iter().chain(&skipped).find(|i| !known.contains(&i.as_str())) {
        return Err(usage_error(format!(
            "KULINK_KERNELS or KULINK_SKIP_KERNELS names `{unknown}`, which is not in kernel-config/kernels.toml (known: {})",
            known.join(", ")
        )));
    }
    let picked: Vec<KernelSpec> = all
        .into_iter()
        .filter(|k| chosen.is_empty() || chosen.contains(&k.id))
        .filter(|k| !skipped.contains(&k.id))
        .collect();
    if picked.is_empty() {
        return Err(usage_error("KULINK_KERNELS and KULINK_SKIP_KERNELS leave no kernel to test"));
    }
    Ok(picked)
}

pub fn find(id: &str) -> Result<KernelSpec> {
    let all = list()?;
    let ids: Vec<String> = all.iter().map(|k| k.id.clone()).collect();
    all.into_iter().find(|k| k.id == id).ok_or_else(|| {
        usage_error(format!("no kernel `{id}` in kernel-config/kernels.toml (known: {})", ids.join(", ")))
    })
}

pub fn default_spec() -> Result<KernelSpec> {
    Ok(list()?.into_iter().find(|k| k.default).expect("parse_list checked one default"))
}

/// A spec for a user's kernel tree or tarball, built with the base fragment.
pub fn spec_for_source(path: &Path) -> Result<KernelSpec> {
    let path = path.canonicalize().with_context(|| format!("kernel source {}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(KernelSpec {
        id: format!("src-{name}"),
        version: String::new(),
        default: false,
        fragments: vec!["base.config".into()],
        sources: vec![Source::Path { path }],
        distro: None,
        suites: Vec::new(),
        cmdline: String::new(),
    })
}

/// A prebuilt kernel image with the build dir it came from.
pub fn prebuilt(bzimage: &Path, kdir: &Path) -> Result<BuiltKernel> {
    if !bzimage.is_file() {
        bail!("kernel image {} does not exist", bzimage.display());
    }
    if !kdir.join("Makefile").is_file() {
        bail!("{} is not a kernel build directory (no Makefile)", kdir.display());
    }
    if !kdir.join("Module.symvers").is_file() {
        bail!("{} has no Module.symvers: run `make modules_prepare` or a full `make` there", kdir.display());
    }
    let release = fs::read_to_string(kdir.join("include/config/kernel.release"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let key = short_hash(&[bzimage.to_string_lossy().as_bytes(), kdir.to_string_lossy().as_bytes()]);
    Ok(BuiltKernel {
        id: format!("prebuilt-{release}"),
        release,
        bzimage: bzimage.canonicalize()?,
        kdir: kdir.canonicalize()?,
        key,
        cmdline: String::new(),
        preload: Vec::new(),
    })
}

fn short_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Fragment files in order, with their contents.
fn fragments(spec: &KernelSpec) -> Result<Vec<(PathBuf, String)>> {
    spec.fragments
        .iter()
        .map(|f| {
            let path = config_dir().join(f);
            let text = fs::read_to_string(&path).with_context(|| format!("read fragment {}", path.display()))?;
            Ok((path, text))
        })
        .collect()
}

fn compiler_identity() -> String {
    Command::new("gcc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

/// The cache key: what was built (source + version) and how (fragments, compiler, recipe).
pub fn build_key(spec: &KernelSpec, source_version: &str) -> Result<String> {
    let frags = fragments(spec)?;
    let mut parts: Vec<Vec<u8>> = vec![RECIPE.into(), spec.id.clone().into(), source_version.into()];
    parts.push(compiler_identity().into());
    for (path, text) in &frags {
        parts.push(path.file_name().unwrap_or_default().to_string_lossy().into_owned().into());
        parts.push(text.clone().into());
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(format!("{}-{}-{}", spec.id, sanitize(source_version), short_hash(&refs)))
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// An exclusive lock on a file in the cache, held while the value lives.
pub struct CacheLock(#[allow(dead_code)] File);

pub fn lock(path: &Path, what: &str) -> Result<CacheLock> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("create lock {}", path.display()))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!("kulink: waiting for another kulink that is building {what}");
        // SAFETY: as above, blocking this time.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("lock {}: {}", path.display(), std::io::Error::last_os_error());
        }
    }
    Ok(CacheLock(file))
}

/// Unpacks a Debian linux-source package; returns the kernel tree.
fn fetch_debian(apt: &Apt, package: &str, version: &str) -> Result<PathBuf> {
    let dir = paths::cache_dir().join("src").join(format!("{package}_{}", sanitize(version)));
    let done = dir.join(".kulink-complete");
    let _lock = lock(&paths::sibling(&dir, "lock"), &format!("{package} {version}"))?;
    if !done.exists() {
        tools::require_all(&[tools::DPKG_DEB, tools::TAR, tools::XZ])?;
        let _ = fs::remove_dir_all(&dir);
        let tmp = paths::sibling(&dir, "download");
        let _ = fs::remove_dir_all(&tmp);
        let deb = apt.download(package, version, &tmp)?;
        apt::extract(&deb, &tmp.join("x"))?;
        let tarball = only_file(&tmp.join("x/usr/src"), ".tar.xz")?;
        eprintln!("kulink: unpacking {}", tarball.file_name().unwrap_or_default().to_string_lossy());
        fs::create_dir_all(&dir)?;
        tools::run(Command::new("tar").arg("-C").arg(&dir).arg("-xf").arg(&tarball))?;
        fs::remove_dir_all(&tmp)?;
        fs::write(&done, version)?;
    }
    kernel_tree_in(&dir)
}

/// Downloads a release tarball once into the cache.
fn fetch_tarball(url: &str) -> Result<PathBuf> {
    let name = url.rsplit('/').next().filter(|n| !n.is_empty()).context("tarball URL has no file name")?;
    let dir = paths::cache_dir().join("downloads");
    let dest = dir.join(name);
    let _lock = lock(&paths::sibling(&dest, "lock"), name)?;
    if !dest.exists() {
        tools::CURL.require()?;
        fs::create_dir_all(&dir)?;
        eprintln!("kulink: downloading {url}");
        let part = paths::sibling(&dest, "part");
        tools::run(
            Command::new("curl").args(["-fL", "--retry", "2", "--connect-timeout", "20", "-o"]).arg(&part).arg(url),
        )?;
        fs::rename(&part, &dest)?;
    }
    Ok(dest)
}

fn only_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let mut found = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let p = e?.path();
        if p.to_string_lossy().ends_with(suffix) {
            found.push(p);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        n => bail!("expected one {suffix} in {}, found {n}", dir.display()),
    }
}

/// The directory holding the top-level kernel Makefile: `dir` or its only child.
fn kernel_tree_in(dir: &Path) -> Result<PathBuf> {
    if dir.join("Kbuild").is_file() && dir.join("Makefile").is_file() {
        return Ok(dir.to_owned());
    }
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.join("Kbuild").is_file() && p.join("Makefile").is_file() {
            return Ok(p);
        }
    }
    bail!("no kernel source tree in {}", dir.display())
}

/// A user's tree is used in place; a tarball is unpacked once into the cache.
fn local_tree(path: &Path) -> Result<(PathBuf, String)> {
    if path.is_dir() {
        let tree = kernel_tree_in(path)?;
        let out = tools::run(Command::new("make").arg("-s").arg("-C").arg(&tree).arg("kernelversion"))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // A tree can change under us: key it by path, and let make rebuild.
        return Ok((tree.clone(), format!("{version}-tree-{}", short_hash(&[tree.to_string_lossy().as_bytes()]))));
    }
    let meta = fs::metadata(path).with_context(|| format!("kernel source {}", path.display()))?;
    let stamp = format!("{}:{}:{:?}", path.display(), meta.len(), meta.modified().ok());
    let hash = short_hash(&[stamp.as_bytes()]);
    let dir = paths::cache_dir().join("src").join(format!("tarball-{hash}"));
    let _lock = lock(&paths::sibling(&dir, "lock"), &path.display().to_string())?;
    if !dir.join(".kulink-complete").exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        eprintln!("kulink: unpacking {}", path.display());
        tools::run(Command::new("tar").arg("-C").arg(&dir).arg("-xf").arg(path))?;
        fs::write(dir.join(".kulink-complete"), &stamp)?;
    }
    Ok((kernel_tree_in(&dir)?, format!("tarball-{hash}")))
}

/// Finds a source in the spec's order; returns the tree and its version string.
fn resolve_source(spec: &KernelSpec) -> Result<(PathBuf, String)> {
    let mut errors = Vec::new();
    for source in &spec.sources {
        let attempt = match source {
            Source::Debian { debian, suites } => Apt::for_suites(suites).and_then(|apt| {
                let version = apt.candidate(debian)?;
                Ok((fetch_debian(&apt, debian, &version)?, version))
            }),
            Source::Tarball { tarball } => fetch_tarball(tarball).and_then(|t| local_tree(&t)),
            Source::Path { path } => local_tree(path),
        };
        match attempt {
            Ok(found) => return Ok(found),
            Err(e) => errors.push(format!("{source:?}: {e:#}")),
        }
    }
    bail!("no source for kernel {} worked:\n  {}", spec.id, errors.join("\n  "))
}

/// Checks, without downloading or building, that each kernel has a source
/// that answers (an apt candidate, a reachable or cached tarball, a path
/// that exists) and that the build tools are there. Names every kernel
/// that has none, with the fix, so a long build never starts in vain.
pub fn preflight(specs: &[KernelSpec]) -> Result<()> {
    if specs.iter().any(|s| s.kind() == Kind::Source) {
        tools::require_all(tools::KERNEL_BUILD)?;
    }
    let problems: Vec<String> = specs.iter().filter_map(|spec| source_version(spec).err()).collect();
    if !problems.is_empty() {
        bail!(
            "{} kernel(s) have no source kulink can fetch; fix it, or leave them out with KULINK_SKIP_KERNELS:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    Ok(())
}

/// The version of the first source of `spec` that answers, found without
/// downloading: an apt candidate, a tarball's file name, a path. What it
/// says changes when the source would; `Err` names every source tried.
pub fn source_version(spec: &KernelSpec) -> std::result::Result<String, String> {
    let mut tried = Vec::new();
    if let Some(meta) = &spec.distro {
        let fix = "set KULINK_DEBIAN_MIRROR to a Debian mirror's URL";
        return Apt::for_suites(&spec.suites)
            .and_then(|apt| Ok(format!("{meta}={}", apt.candidate(meta)?)))
            .map_err(|e| format!("{}: {meta}: {e:#} ({fix})", spec.id));
    }
    for source in &spec.sources {
        let answer = match source {
            Source::Debian { debian, suites } => Apt::for_suites(suites)
                .and_then(|apt| Ok(format!("{debian}={}", apt.candidate(debian)?)))
                .with_context(|| format!("{debian}: enable its suite in apt, or set KULINK_DEBIAN_MIRROR")),
            Source::Tarball { tarball } => tarball_answers(tarball).map(|()| tarball.clone()),
            Source::Path { path } if path.exists() => Ok(path.display().to_string()),
            Source::Path { path } => Err(anyhow::anyhow!("{} does not exist", path.display())),
        };
        match answer {
            Ok(version) => return Ok(version),
            Err(e) => tried.push(format!("{e:#}")),
        }
    }
    Err(format!("{}: {}", spec.id, tried.join("; ")))
}

/// A tarball already downloaded, or a URL whose server answers.
fn tarball_answers(url: &str) -> Result<()> {
    let name = url.rsplit('/').next().unwrap_or_default();
    if !name.is_empty() && paths::cache_dir().join("downloads").join(name).is_file() {
        return Ok(());
    }
    tools::CURL.require()?;
    let out = Command::new("curl").args(["-fsIL", "--max-time", "15", "-o", "/dev/null", url]).status()?;
    if !out.success() {
        bail!("{url} does not answer: check the network, or download it and name it with {{ path = \"FILE\" }}");
    }
    Ok(())
}

/// Builds (or finds in the cache) the kernel a spec describes.
pub fn ensure_built(spec: &KernelSpec) -> Result<BuiltKernel> {
    if spec.kind() == Kind::Distro {
        return distro::ensure(spec);
    }
    tools::require_all(tools::KERNEL_BUILD)?;
    let (tree, source_version) = resolve_source(spec)?;
    let key = build_key(spec, &source_version)?;
    let build = paths::cache_dir().join("kernels").join(&key);
    let stamp = build.join(".kulink-built");
    let is_tree = matches!(spec.sources.first(), Some(Source::Path { path }) if path.is_dir());
    let _lock = lock(&paths::sibling(&build, "lock"), &format!("kernel {key}"))?;
    if !stamp.exists() || is_tree {
        build_kernel(spec, &tree, &build)?;
        fs::write(&stamp, &source_version)?;
    }
    let release = fs::read_to_string(build.join("include/config/kernel.release"))?.trim().to_owned();
    Ok(BuiltKernel {
        id: spec.id.clone(),
        release,
        bzimage: build.join("arch/x86/boot/bzImage"),
        kdir: build,
        key,
        cmdline: spec.cmdline.clone(),
        preload: Vec::new(),
    })
}

/// Is this spec's build already in the cache? (No fetching, no building.)
/// A build directory counts when its name is the key its recorded source
/// version gives with today's fragments, compiler and recipe.
pub fn cached_build(spec: &KernelSpec) -> Option<PathBuf> {
    let dir = paths::cache_dir().join("kernels");
    let prefix = format!("{}-", spec.id);
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
        .filter(|p| {
            let Ok(version) = fs::read_to_string(p.join(".kulink-built")) else { return false };
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            match spec.kind() {
                Kind::Source => build_key(spec, &version).is_ok_and(|key| key == name),
                Kind::Distro => name.ends_with(&format!("-{}", version.replace(['~', ':', '+'], "_"))),
            }
        })
        .collect();
    found.sort();
    found.pop()
}

fn build_kernel(spec: &KernelSpec, tree: &Path, build: &Path) -> Result<()> {
    fs::create_dir_all(build)?;
    let frags = fragments(spec)?;
    let make = |args: &[&str]| {
        let mut c = Command::new("make");
        c.arg("-C").arg(tree).arg(format!("O={}", build.display())).args(args);
        c
    };
    eprintln!("kulink: configuring kernel {} in {}", spec.id, build.display());
    tools::run(&mut make(&["tinyconfig"]))?;
    let mut merge = Command::new(tree.join("scripts/kconfig/merge_config.sh"));
    merge.current_dir(tree).arg("-m").arg("-O").arg(build).arg(build.join(".config"));
    for (path, _) in &frags {
        merge.arg(path);
    }
    tools::run(&mut merge)?;
    tools::run(&mut make(&["olddefconfig"]))?;

    let requested: kconfig::Options = frags.iter().flat_map(|(_, text)| kconfig::parse(text)).collect();
    let final_config = fs::read_to_string(build.join(".config"))?;
    let unmet = kconfig::unmet(&requested, &final_config);
    if !unmet.is_empty() {
        bail!(
            "kernel {}: olddefconfig dropped or changed requested options (missing dependency or option renamed?):\n  {}",
            spec.id,
            unmet.join("\n  ")
        );
    }

    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    // How many files the last build of this kernel compiled: the total
    // progress counts toward.
    let count_file = build.parent().unwrap_or(build).join(format!("{}.files", spec.id));
    let last_count = fs::read_to_string(&count_file).ok().and_then(|s| s.trim().parse().ok());
    let compiled = make_with_progress(make(&[&format!("-j{jobs}")]), &spec.id, last_count, &build.join("build.log"))?;
    let _ = fs::write(&count_file, compiled.to_string());
    Ok(())
}

/// A progress line: files compiled of those expected, time so far, and the
/// time left at the rate so far.
fn progress_line(id: &str, compiled: usize, expected: Option<usize>, elapsed: Duration) -> String {
    let minutes = |d: Duration| format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60);
    match expected {
        Some(total) if compiled > 0 && total > compiled => {
            let left = elapsed.mul_f64((total - compiled) as f64 / compiled as f64);
            format!(
                "kulink: building kernel {id}: {compiled}/{total} files, {}, about {} left",
                minutes(elapsed),
                minutes(left)
            )
        }
        _ => format!("kulink: building kernel {id}: {compiled} files, {}", minutes(elapsed)),
    }
}

/// Runs the kernel build, printing a progress line every few seconds and
/// keeping the full output in `log`; returns how many files it compiled.
fn make_with_progress(mut cmd: Command, id: &str, expected: Option<usize>, log: &Path) -> Result<usize> {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().context("start make")?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let mut out = String::new();
    let (mut compiled, mut last) = (0usize, Instant::now());
    for line in BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        if line.trim_start().starts_with("CC") {
            compiled += 1;
        }
        out.push_str(&line);
        out.push('\n');
        if last.elapsed() > Duration::from_secs(10) {
            eprintln!("{}", progress_line(id, compiled, expected, started.elapsed()));
            last = Instant::now();
        }
    }
    let status = child.wait()?;
    let err = err_thread.join().unwrap_or_default();
    fs::write(log, format!("{out}\n--- stderr ---\n{err}"))?;
    if !status.success() {
        bail!("kernel {id} build failed (full log: {}):\n{}", log.display(), tools::tail(&err, 40));
    }
    eprintln!("kulink: kernel {id} built in {}s ({compiled} files)", started.elapsed().as_secs());
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sources are tried in order: a Debian package apt does not know, a
    /// tarball URL that does not exist, then a tarball that does.
    #[test]
    fn sources_fall_back_in_order() {
        if tools::CURL.find().is_none() || tools::TAR.find().is_none() {
            eprintln!("curl or tar missing: fallback not exercised");
            return;
        }
        let dir = std::env::temp_dir().join(format!("kulink-fallback-{}", std::process::id()));
        let tree = dir.join("linux-9.9");
        fs::create_dir_all(&tree).unwrap();
        fs::write(tree.join("Kbuild"), "").unwrap();
        fs::write(tree.join("Makefile"), "").unwrap();
        let tarball = dir.join("linux-9.9.tar");
        tools::run(Command::new("tar").arg("-C").arg(&dir).arg("-cf").arg(&tarball).arg("linux-9.9")).unwrap();
        // SAFETY (env): nextest runs each test in a process of its own.
        std::env::set_var("KULINK_CACHE", dir.join("cache"));
        let spec = KernelSpec {
            id: "fallback".into(),
            version: "9.9".into(),
            default: false,
            fragments: vec!["base.config".into()],
            sources: vec![
                Source::Debian { debian: "kulink-no-such-package".into(), suites: vec![] },
                Source::Tarball { tarball: format!("file://{}/missing.tar", dir.display()) },
                Source::Tarball { tarball: format!("file://{}", tarball.display()) },
            ],
            distro: None,
            suites: Vec::new(),
            cmdline: String::new(),
        };
        let (found, version) = resolve_source(&spec).unwrap();
        assert!(found.ends_with("linux-9.9"), "{found:?}");
        assert!(found.starts_with(dir.join("cache")), "unpacked into the cache: {found:?}");
        assert!(version.starts_with("tarball-"));
        let err = resolve_source(&KernelSpec { sources: spec.sources[..2].to_vec(), ..spec }).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("kulink-no-such-package") && msg.contains("missing.tar"), "names every failure: {msg}");
        std::env::remove_var("KULINK_CACHE");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_shipped_list_is_valid() {
        let list = list().unwrap();
        assert!(list.iter().any(|k| k.default));
        for k in &list {
            fragments(k).unwrap();
        }
    }

    #[test]
    fn a_selection_keeps_list_order_and_names_unknown_ids() {
        let ids = |chosen, skipped| -> Result<Vec<String>> {
            Ok(select(list()?, chosen, skipped)?.into_iter().map(|k| k.id).collect())
        };
        let all = ids(None, None).unwrap();
        assert_eq!(all.len(), list().unwrap().len());
        assert_eq!(ids(Some("6.12, 6.1"), None).unwrap(), ["6.1", "6.12"]);
        assert_eq!(ids(None, Some("6.1-cloud")).unwrap().len(), all.len() - 1);
        let err = ids(Some("6.1,9.9"), None).unwrap_err();
        assert_eq!(crate::exit_code(&err), crate::EXIT_USAGE);
        assert!(format!("{err:#}").contains("`9.9`"), "{err:#}");
        assert!(ids(Some("6.1"), Some("6.1")).is_err(), "nothing left");
    }

    #[test]
    fn progress_counts_toward_the_last_build() {
        let line = progress_line("6.1", 200, Some(800), Duration::from_secs(60));
        assert_eq!(line, "kulink: building kernel 6.1: 200/800 files, 1m00s, about 3m00s left");
        let first = progress_line("6.1", 200, None, Duration::from_secs(75));
        assert_eq!(first, "kulink: building kernel 6.1: 200 files, 1m15s");
        assert!(!progress_line("6.1", 900, Some(800), Duration::from_secs(75)).contains("left"), "past the estimate");
    }

    #[test]
    fn build_key_changes_with_version_and_fragments() {
        let spec = default_spec().unwrap();
        let a = build_key(&spec, "6.1.1-1").unwrap();
        assert_eq!(a, build_key(&spec, "6.1.1-1").unwrap(), "stable for the same input");
        assert_ne!(a, build_key(&spec, "6.1.2-1").unwrap());
        assert!(a.starts_with(&format!("{}-6.1.1-1-", spec.id)));
    }
}
