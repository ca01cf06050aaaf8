//! Which kernels there are: the catalog (`kernel-config/kernels.toml`, or
//! the user's own as `KULINK_CATALOG`), checked, and the
//! selection a run covers.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::catalog::{self, Arch, KernelSpec, Kind, Source, GROUPS};
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

/// Whether this host can use a kernel: one built from source always; a
/// distribution's when its packages can be reached and it can build
/// modules for it. A host with no Debian mirror (a CI runner that is not
/// Debian's) reaches none: its matrix must not name kernels it cannot test.
pub fn usable(spec: &KernelSpec) -> bool {
    spec.kind() != Kind::Distro || matches!(super::why_out_of_reach(spec), Ok(None))
}

/// The kernels a run of the whole matrix covers: `KULINK_KERNELS` (ids or
/// groups, comma-separated; `KULINK_KERNEL` is the one-id form), else
/// every kernel this host can use; minus `KULINK_SKIP_KERNELS`. An unknown
/// id is a usage error.
pub fn selected() -> Result<Vec<KernelSpec>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let chosen = var("KULINK_KERNELS").or_else(|| var("KULINK_KERNEL"));
    select(list()?, chosen.as_deref(), var("KULINK_SKIP_KERNELS").as_deref(), usable)
}

/// The kernels a comma-separated list of ids and groups names, in the
/// order given, each once; an unknown id is a usage error that lists the
/// known ones.
pub fn expand(ids: &str) -> Result<Vec<KernelSpec>> {
    let all = list()?;
    expand_in(&all, ids, usable).map_err(|unknown| {
        let known: Vec<&str> = all.iter().map(|k| k.id.as_str()).chain(GROUPS.iter().map(|g| g.0)).collect();
        usage_error(format!("no kernel `{unknown}` in {} (known: {})", catalog_path().display(), known.join(", ")))
    })
}

/// [`expand`] over `all`; the error is the first unknown id.
fn expand_in(all: &[KernelSpec], ids: &str, usable: impl Fn(&KernelSpec) -> bool) -> Result<Vec<KernelSpec>, String> {
    let mut out: Vec<KernelSpec> = Vec::new();
    for id in ids_in(ids) {
        let named: Vec<&KernelSpec> = match id {
            "all" => all.iter().filter(|k| usable(k)).collect(),
            "distro" => all.iter().filter(|k| k.kind() == Kind::Distro && usable(k)).collect(),
            _ => vec![all.iter().find(|k| k.id == id).ok_or_else(|| id.to_owned())?],
        };
        for spec in named {
            if !out.iter().any(|k| k.id == spec.id) {
                out.push(spec.clone());
            }
        }
    }
    Ok(out)
}

/// The ids in a comma-separated list, as users write them (`6.1, 6.12`).
pub fn ids_in(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|id| !id.is_empty())
}

fn select(
    all: Vec<KernelSpec>,
    chosen: Option<&str>,
    skipped: Option<&str>,
    usable: impl Fn(&KernelSpec) -> bool + Copy,
) -> Result<Vec<KernelSpec>> {
    let named = |list: Option<&str>, or_else: &str| {
        expand_in(&all, list.unwrap_or(or_else), usable).map_err(|unknown| {
            let known: Vec<&str> = all.iter().map(|k| k.id.as_str()).chain(GROUPS.iter().map(|g| g.0)).collect();
            usage_error(format!(
                "KULINK_KERNELS or KULINK_SKIP_KERNELS names `{unknown}`, which is not in the kernel catalog (known: {})",
                known.join(", ")
            ))
        })
    };
    let (chosen, skipped) = (named(chosen, "all")?, named(skipped, "")?);
    // In the catalog's order, whatever order the variable names them in.
    let picked: Vec<KernelSpec> = all
        .iter()
        .filter(|k| chosen.iter().any(|c| c.id == k.id) && !skipped.iter().any(|s| s.id == k.id))
        .cloned()
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
        arch: Arch::default(),
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
            Ok(select(list()?, chosen, skipped, |_| true)?.into_iter().map(|k| k.id).collect())
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
    fn groups_name_the_kernels_this_host_can_use() {
        let all = list().unwrap();
        let distro: Vec<&str> = all.iter().filter(|k| k.kind() == Kind::Distro).map(|k| k.id.as_str()).collect();
        assert!(distro.len() >= 3, "{distro:?}");
        let usable_here = |k: &KernelSpec| k.id != distro[0];
        let ids = |list: &str| -> Vec<String> {
            expand_in(&all, list, usable_here).unwrap().into_iter().map(|k| k.id).collect()
        };
        assert_eq!(ids("distro"), distro[1..]);
        assert_eq!(ids("all").len(), all.len() - 1);
        assert_eq!(ids(&format!("{}, 6.1, distro, 6.1", distro[0]))[..2], [distro[0], "6.1"], "named ones stay, once");
        assert_eq!(expand_in(&all, "6.1,nine", usable_here).unwrap_err(), "nine");
    }
}
