//! Where a symbol a module needs comes from: when modpost finds a symbol
//! the kernel does not export, the kernel's source says which file would
//! export it and which option builds that file, so the error can name the
//! option the kernel lacks.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The symbols modpost reported undefined, in the order it reported them:
/// `ERROR: modpost: "name" [path/to/module.ko] undefined!`.
pub fn undefined(build_output: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in build_output.lines() {
        let Some(rest) = line.split("modpost: \"").nth(1) else { continue };
        let Some((name, tail)) = rest.split_once('"') else { continue };
        if tail.trim_end().ends_with("undefined!") && !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
    }
    found
}

/// The file of `source` (a kernel tree) that exports `symbol`, relative to
/// the tree; `None` when no file does, or the tree cannot be searched.
pub fn exporter(source: &Path, symbol: &str) -> Option<PathBuf> {
    // grep reads the tree faster than anything kulink would write here, and
    // a symbol is a C identifier: nothing in it needs escaping.
    if symbol.is_empty() || !symbol.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let pattern = format!(r"EXPORT_SYMBOL(_GPL)?(_NS(_GPL)?)?\(\s*{symbol}\s*[,)]");
    let output = Command::new("grep")
        .current_dir(source)
        .args(["-rlE", "--include=*.c", "--exclude-dir=tools", "--exclude-dir=Documentation", &pattern, "."])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let file = text.lines().next()?;
    Some(PathBuf::from(file.trim_start_matches("./")))
}

/// The option that builds `file` (relative to `source`), read from the
/// Makefile beside it: `obj-$(CONFIG_X) += file.o`, or for a file linked
/// into a composite object (`name-y += file.o`), the option of `name.o`.
pub fn building_option(source: &Path, file: &Path) -> Option<String> {
    let dir = source.join(file.parent()?);
    let makefile = ["Makefile", "Kbuild"].iter().find_map(|name| std::fs::read_to_string(dir.join(name)).ok())?;
    let object = format!("{}.o", file.file_stem()?.to_string_lossy());
    option_of(&makefile, &object, 0)
}

/// The `CONFIG_` option of the Makefile line that adds `object`, following
/// composite objects a few levels up.
fn option_of(makefile: &str, object: &str, depth: usize) -> Option<String> {
    if depth > 3 {
        return None;
    }
    let joined = makefile.replace("\\\n", " ");
    for line in joined.lines() {
        let Some((target, objects)) = line.split_once("+=").or_else(|| line.split_once(":=")) else { continue };
        if !objects.split_whitespace().any(|o| o == object) {
            continue;
        }
        let target = target.trim();
        if let Some(option) = target.strip_prefix("obj-$(").and_then(|t| t.strip_suffix(')')) {
            return option.starts_with("CONFIG_").then(|| option.to_owned());
        }
        // `name-y`, `name-objs`, `name-$(CONFIG_X)`: a part of name.o.
        let (name, cond) = target.split_once('-')?;
        if let Some(option) = cond.strip_prefix("$(").and_then(|c| c.strip_suffix(')')) {
            return Some(option.to_owned());
        }
        return option_of(makefile, &format!("{name}.o"), depth + 1);
    }
    None
}

/// The file that exports a symbol, and the option that builds it if the
/// Makefile names one.
type Exporter = (PathBuf, Option<String>);

/// What a build's undefined symbols need, one sentence for the symbols of
/// each exporting file, read from the kernel's source when there is one
/// (`kernel` names the kernel).
pub fn explain(build_output: &str, source: Option<&Path>, kernel: &str) -> Vec<String> {
    let mut groups: Vec<(Option<Exporter>, Vec<String>)> = Vec::new();
    for symbol in undefined(build_output) {
        let found = source.and_then(|s| exporter(s, &symbol).map(|file| (building_option(s, &file), file)));
        let found = found.map(|(option, file)| (file, option));
        match groups.iter_mut().find(|(f, _)| f.is_some() && *f == found) {
            Some((_, symbols)) => symbols.push(symbol),
            None => groups.push((found, vec![symbol])),
        }
    }
    groups
        .into_iter()
        .map(|(found, symbols)| {
            let (names, verb) = match symbols.as_slice() {
                [one] => (one.clone(), "is"),
                [rest @ .., last] => (format!("{} and {last}", rest.join(", ")), "are"),
                [] => unreachable!("a group has a symbol"),
            };
            match found {
                Some((file, Some(option))) => format!(
                    "{names} {verb} exported by {}, built with {option}, which kernel {kernel} does not have \
                     (see `kulink kernels config {kernel} {option}`)",
                    file.display()
                ),
                Some((file, None)) => {
                    format!("{names} {verb} exported by {}, which kernel {kernel} does not build", file.display())
                }
                None => format!("kernel {kernel} exports no {names}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODPOST: &str = "\
  MODPOST /c/modules/x/Module.symvers
ERROR: modpost: \"cn_add_callback\" [/c/modules/x/cn_test.ko] undefined!
ERROR: modpost: \"cn_del_callback\" [/c/modules/x/cn_test.ko] undefined!
ERROR: modpost: \"cn_add_callback\" [/c/modules/x/other.ko] undefined!
make[2]: *** [scripts/Makefile.modpost:126: Module.symvers] Error 1
";

    #[test]
    fn modpost_s_undefined_symbols_are_read_once_each() {
        assert_eq!(undefined(MODPOST), ["cn_add_callback", "cn_del_callback"]);
        assert!(undefined("WARNING: modpost: missing MODULE_LICENSE()").is_empty());
    }

    #[test]
    fn the_option_comes_from_the_makefile_through_composite_objects() {
        let connector = "obj-$(CONFIG_CONNECTOR)\t\t+= cn.o\nobj-$(CONFIG_PROC_EVENTS)\t+= cn_proc.o\n\ncn-y\t\t\t\t+= cn_queue.o connector.o\n";
        assert_eq!(option_of(connector, "connector.o", 0).as_deref(), Some("CONFIG_CONNECTOR"));
        assert_eq!(option_of(connector, "cn_proc.o", 0).as_deref(), Some("CONFIG_PROC_EVENTS"));
        assert_eq!(
            option_of("foo-$(CONFIG_FOO_EXTRA) += extra.o\n", "extra.o", 0).as_deref(),
            Some("CONFIG_FOO_EXTRA")
        );
        assert_eq!(option_of("obj-y += always.o\n", "always.o", 0), None);
        assert_eq!(option_of(connector, "absent.o", 0), None);
    }

    #[test]
    fn a_tree_is_searched_for_the_exporting_file() {
        let tree = std::env::temp_dir().join(format!("kulink-symbols-{}", std::process::id()));
        let dir = tree.join("drivers/connector");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("connector.c"),
            "int cn_add_callback(void) { return 0; }\nEXPORT_SYMBOL_GPL(cn_add_callback);\n",
        )
        .unwrap();
        std::fs::write(dir.join("Makefile"), "obj-$(CONFIG_CONNECTOR) += cn.o\ncn-y += cn_queue.o connector.o\n")
            .unwrap();
        assert_eq!(exporter(&tree, "cn_add_callback"), Some(PathBuf::from("drivers/connector/connector.c")));
        assert_eq!(exporter(&tree, "cn_add"), None, "a prefix is not the symbol");
        let said = explain(MODPOST, Some(&tree), "6.1");
        assert_eq!(
            said[0],
            "cn_add_callback is exported by drivers/connector/connector.c, built with CONFIG_CONNECTOR, \
             which kernel 6.1 does not have (see `kulink kernels config 6.1 CONFIG_CONNECTOR`)"
        );
        assert_eq!(said[1], "kernel 6.1 exports no cn_del_callback");
        std::fs::write(
            dir.join("connector.c"),
            "EXPORT_SYMBOL_GPL(cn_add_callback);\nEXPORT_SYMBOL(cn_del_callback);\n",
        )
        .unwrap();
        let said = explain(MODPOST, Some(&tree), "6.1");
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("cn_add_callback and cn_del_callback are exported by"), "{said:?}");
        assert_eq!(explain(MODPOST, None, "6.1-cloud")[0], "kernel 6.1-cloud exports no cn_add_callback");
        std::fs::remove_dir_all(&tree).unwrap();
    }
}
