//! Which kernels there are: the catalog (`kernel-config/kernels.toml`, or
//! the user's own as `KULINK_CATALOG`), checked, and the
//! selection a run covers.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::catalog::{self, KernelSpec, Source};
use crate::{paths, usage_error};

/// kulink's own kernel configuration: the built-in catalog and fragments.
pub fn config_dir() -> PathBuf {
    paths::repo_root().join("kernel-config")
}

/// The catalog in use: the user's (`KULINK_CATALOG`, a kernels.toml of
/// their own) or kulink's.
pub fn catalog_path() -> PathBuf {
    match std::env::var_os("KULINK_CATALOG").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => config_dir().join("kernels.toml"),
    }
}

/// Where a fragment is: beside the catalog in use, else among kulink's.
pub fn fragment_path(name: &str) -> Option<PathBuf> {
    catalog::find_fragment(name, &fragment_dirs().iter().map(PathBuf::as_path).collect::<Vec<_>>())
}

fn fragment_dirs() -> Vec<PathBuf> {
    let catalog_dir = catalog_path().parent().map(Path::to_owned).unwrap_or_default();
    let own = config_dir();
    if catalog_dir == own {
        vec![own]
    } else {
        vec![catalog_dir, own]
    }
}

/// The kernel list, checked: a mistake in it is the user's to fix (exit 2).
pub fn list() -> Result<Vec<KernelSpec>> {
    let path = catalog_path();
    let text = fs::read_to_string(&path).map_err(|e| {
        let hint = if std::env::var_os("KULINK_CATALOG").is_some() { " (named by KULINK_CATALOG)" } else { "" };
        usage_error(format!("cannot read the kernel catalog {}{hint}: {e}", path.display()))
    })?;
    let dirs = fragment_dirs();
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let specs = catalog::parse_list(&text)
        .and_then(|specs| catalog::check_fragments(&specs, &dirs).map(|()| specs))
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
            "KULINK_KERNELS or KULINK_SKIP_KERNELS names `{unknown}`, which is not in the kernel catalog (known: {})",
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

/// The catalog's kernel `id`; an unknown id is a usage error that lists the
/// known ones.
pub fn find(id: &str) -> Result<KernelSpec> {
    let all = list()?;
    let ids: Vec<String> = all.iter().map(|k| k.id.clone()).collect();
    all.into_iter().find(|k| k.id == id).ok_or_else(|| {
        usage_error(format!("no kernel `{id}` in {} (known: {})", catalog_path().display(), ids.join(", ")))
    })
}

/// The catalog's default kernel.
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
        image_cmdline: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_catalog_finds_its_fragments_beside_it_then_among_kulink_s() {
        let dir = std::env::temp_dir().join(format!("kulink-catalog-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("mine.config"), "CONFIG_KASAN=y\n").unwrap();
        let catalog = dir.join("kernels.toml");
        let entry = |fragments: &str| {
            format!("[[kernel]]\nid = \"mine\"\nversion = \"6.6\"\ndefault = true\nfragments = [{fragments}]\nsources = [{{ path = \"/src/linux\" }}]\n")
        };
        fs::write(&catalog, entry(r#""base.config", "mine.config""#)).unwrap();
        // SAFETY (env): nextest runs each test in a process of its own.
        std::env::set_var("KULINK_CATALOG", &catalog);
        let ids: Vec<String> = list().unwrap().into_iter().map(|k| k.id).collect();
        assert_eq!(ids, ["mine"]);
        assert_eq!(fragment_path("mine.config"), Some(dir.join("mine.config")));
        assert_eq!(fragment_path("base.config"), Some(config_dir().join("base.config")));
        fs::write(&catalog, entry(r#""base.config", "typo.config""#)).unwrap();
        let err = list().unwrap_err();
        assert!(format!("{err:#}").contains("names fragment typo.config"), "{err:#}");
        assert_eq!(crate::exit_code(&err), crate::EXIT_USAGE);
        std::env::set_var("KULINK_CATALOG", dir.join("absent.toml"));
        let err = format!("{:#}", list().unwrap_err());
        assert!(err.contains("absent.toml (named by KULINK_CATALOG)"), "{err}");
        std::env::remove_var("KULINK_CATALOG");
        let _ = fs::remove_dir_all(&dir);
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
}
