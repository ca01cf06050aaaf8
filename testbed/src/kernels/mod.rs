//! Kernels: which there are (`listing`), where their sources come from
//! (`fetch`), building them (`build`), unmodified Debian kernels
//! (`distro`), and what a ready kernel is ([`BuiltKernel`]).

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cache::Stamp;
use crate::paths;

mod build;
mod built;
mod distro;
mod fetch;
mod listing;
mod variant;

pub use crate::catalog::{KernelSpec, Kind, Source, GROUPS};
pub use build::build_key;
pub use built::{prebuilt, BuiltKernel};
pub use distro::why_out_of_reach;
pub use fetch::{preflight, source_version};
pub use listing::{
    catalog_path, config_dir, default_spec, expand, find, fragment_path, ids_in, list, selected, spec_for_source,
    usable,
};

/// Builds, fetches or finds in the cache the kernel a spec describes.
pub fn ensure_built(spec: &KernelSpec) -> Result<BuiltKernel> {
    match spec.kind() {
        Kind::Source | Kind::Cross => build::ensure(spec),
        Kind::Distro => distro::ensure(spec),
    }
}

/// The order to make `specs` ready in when each one's tests start as soon
/// as it is (`kulink kernels build`, the suite): those already in the cache
/// first, then the distributions' (a download each), then those to
/// compile, each group in the order given.
pub fn readiest_first(specs: Vec<KernelSpec>) -> Vec<KernelSpec> {
    readiest_order(specs, |spec| cached_build(spec).is_some())
}

fn readiest_order(mut specs: Vec<KernelSpec>, cached: impl Fn(&KernelSpec) -> bool) -> Vec<KernelSpec> {
    // A stable sort keeps the given order within each group.
    specs.sort_by_cached_key(|spec| match (cached(spec), spec.kind()) {
        (true, _) => 0,
        (false, Kind::Distro) => 1,
        (false, Kind::Source | Kind::Cross) => 2,
    });
    specs
}

/// Fetches and unpacks the sources of the kernels in `specs` that are
/// built from source on a thread of its own, so that each build finds its
/// source ready instead of waiting for a download and a single-threaded
/// unpack. The newest comes first, then the others in the order given:
/// while the sources arrive, the newest in the cache (YNL's schemas,
/// [`newest_source_file`]) is never an older one a newer would replace.
/// The cache's locks keep a build and this thread from fetching one source
/// twice; a failure is left for the build to meet and report.
pub fn fetch_sources_ahead(specs: &[KernelSpec]) -> std::thread::JoinHandle<()> {
    let mut to_fetch: Vec<KernelSpec> =
        specs.iter().filter(|spec| spec.kind() != Kind::Distro && cached_build(spec).is_none()).cloned().collect();
    if let Some(at) = newest(&to_fetch).and_then(|n| to_fetch.iter().position(|spec| spec.id == n.id)) {
        let newest = to_fetch.remove(at);
        to_fetch.insert(0, newest);
    }
    std::thread::spawn(move || {
        for spec in &to_fetch {
            let _ = fetch::resolve_source(spec);
        }
    })
}

/// The modules of a distribution kernel that modules built against it use
/// (see their `depends`), each after what it needs, to load before them.
/// None for a kernel built from source: what it has is built in.
pub fn module_dependencies(kernel: &BuiltKernel, built: &[PathBuf]) -> Result<Vec<PathBuf>> {
    distro::dependencies(kernel, built)
}

/// What `make` must be told to build modules against `kernel` on this host
/// (the compiler, for a distribution's headers), after checking the tools
/// its build needs.
pub fn module_make_arguments(kernel: &BuiltKernel) -> Result<Vec<String>> {
    crate::tools::gcc_for(kernel.arch).require()?;
    let mut arguments = crate::tools::make_arch_arguments(kernel.arch);
    if kernel.modules.is_some() {
        arguments.extend(distro::make_arguments(&kernel.kdir)?);
    }
    Ok(arguments)
}

/// Builds (or finds in the cache) `spec`'s kernel with `overlay` on top: a
/// variant, built from a copy of the base build. An empty overlay is the
/// kernel itself; a distribution kernel is used as it ships, when it has
/// what the overlay asks.
pub fn ensure_with(spec: &KernelSpec, overlay: &crate::kconfig::Options) -> anyhow::Result<BuiltKernel> {
    if overlay.is_empty() {
        return ensure_built(spec);
    }
    if spec.kind() == Kind::Distro {
        // Used as it ships: fine when it already has what was asked for.
        let built = ensure_built(spec)?;
        let unmet = crate::kconfig::unmet(overlay, &built.config()?);
        if unmet.is_empty() {
            return Ok(built);
        }
        return Err(crate::usage_error(format!(
            "kernel {} is a distribution's, used as it ships, and lacks configuration asked for (--kconfig or the module's kulink.config): {}; pick a kernel built from source",
            spec.id,
            unmet.join("; ")
        )));
    }
    variant::ensure(spec, &ensure_built(spec)?, overlay)
}

/// The variants of `spec`'s cached build (see [`ensure_with`]): each one's
/// name and directory.
pub fn cached_variants(spec: &KernelSpec) -> Vec<(String, PathBuf)> {
    cached_build(spec).map(|base| variant::cached(&spec.id, &base)).unwrap_or_default()
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
            let Some(version) = Stamp::built(p).read() else { return false };
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            match spec.kind() {
                Kind::Source | Kind::Cross => build_key(spec, &version).is_ok_and(|key| key == name),
                Kind::Distro => distro::is_key_of(&name, &version),
            }
        })
        .collect();
    found.sort();
    found.pop()
}

/// The file at `relative` in the newest kernel source unpacked in the
/// cache that has it (the kernel's YNL schemas, say), with that source's
/// version (`7.3.4`). No fetching, no building.
pub fn newest_source_file(relative: &std::path::Path) -> Option<(String, PathBuf)> {
    let mut found: Vec<(Vec<u32>, String, PathBuf)> = fetch::unpacked_trees()
        .into_iter()
        .map(|(version, tree)| (numeric(&version), version, tree.join(relative)))
        .filter(|(_, _, file)| file.is_file())
        .collect();
    found.sort();
    found.pop().map(|(_, version, file)| (version, file))
}

/// The source tree of the catalog's newest kernel built from source
/// (the newest YNL schemas, specs and library), fetched and unpacked into
/// the cache if it is not there yet; not built.
pub fn newest_source() -> Result<PathBuf> {
    let sources: Vec<KernelSpec> = list()?.into_iter().filter(|spec| spec.kind() == Kind::Source).collect();
    let spec = newest(&sources).context("the kernel catalog has no kernel built from source")?;
    Ok(fetch::resolve_source(spec)?.0)
}

/// `7.3.4` as `[7, 3, 4]`, to compare versions.
fn numeric(version: &str) -> Vec<u32> {
    version.split('.').filter_map(|n| n.parse().ok()).collect()
}

/// The kernel of the newest version, the first of them if several.
fn newest(specs: &[KernelSpec]) -> Option<&KernelSpec> {
    specs.iter().min_by_key(|spec| std::cmp::Reverse(numeric(&spec.version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_come_first_then_downloads_then_builds_each_in_catalog_order() {
        let catalog = list().unwrap();
        let ids = |specs: &[KernelSpec]| specs.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        let ordered = readiest_order(catalog.clone(), |spec| spec.id == "7.3");
        let (cached, rest) = ordered.split_at(1);
        assert_eq!(ids(cached), ["7.3"]);
        let distro_end = rest.iter().position(|s| s.kind() != Kind::Distro).unwrap();
        let in_catalog = |wanted: &dyn Fn(&KernelSpec) -> bool| {
            ids(&catalog.iter().filter(|s| s.id != "7.3" && wanted(s)).cloned().collect::<Vec<_>>())
        };
        assert_eq!(ids(&rest[..distro_end]), in_catalog(&|s| s.kind() == Kind::Distro));
        assert_eq!(ids(&rest[distro_end..]), in_catalog(&|s| s.kind() != Kind::Distro));
        assert!(distro_end > 0 && distro_end < rest.len(), "the catalog has kernels of both kinds");
    }

    #[test]
    fn the_newest_is_the_first_of_the_highest_version() {
        let mut specs: Vec<KernelSpec> = list().unwrap().into_iter().take(3).collect();
        for (spec, version) in specs.iter_mut().zip(["6.9", "6.12", "6.12"]) {
            spec.version = version.to_owned();
        }
        assert_eq!(newest(&specs).unwrap().id, specs[1].id, "6.12 is newer than 6.9, and the first 6.12 wins");
        assert_eq!(numeric("6.12.58"), [6, 12, 58]);
    }
}
