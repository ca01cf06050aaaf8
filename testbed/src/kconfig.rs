//! Kernel config fragments: parsing, and checking that olddefconfig kept
//! every option we asked for (a vanished option is a silent broken build).

use std::collections::BTreeMap;

/// `CONFIG_NAME` -> requested value; `None` means "is not set".
pub type Options = BTreeMap<String, Option<String>>;

/// The options a `.config` or a fragment sets, and those it says are not set.
pub fn parse(text: &str) -> Options {
    let mut opts = Options::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("# ").and_then(|l| l.strip_suffix(" is not set")) {
            opts.insert(name.to_owned(), None);
        } else if let Some((name, value)) = line.split_once('=') {
            if name.starts_with("CONFIG_") {
                let value = if value == "n" { None } else { Some(value.to_owned()) };
                opts.insert(name.to_owned(), value);
            }
        }
    }
    opts
}

/// `CONFIG_NAME` for an option given as `NAME` or `CONFIG_NAME`; `None`
/// for what is no option name (upper-case letters, digits, `_`).
pub fn option_name(text: &str) -> Option<String> {
    let bare = text.strip_prefix("CONFIG_").unwrap_or(text);
    let valid = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    valid.then(|| format!("CONFIG_{bare}"))
}

/// Each option's line as `.config` writes it: `CONFIG_X=value`, or
/// `# CONFIG_X is not set` (for an option the config does not mention too).
pub fn lines_of(config: &str, names: &[String]) -> Vec<String> {
    let options = parse(config);
    names
        .iter()
        .map(|name| match options.get(name).cloned().flatten() {
            Some(value) => format!("{name}={value}"),
            None => format!("# {name} is not set"),
        })
        .collect()
}

/// Requested options the final config does not honour, as readable lines.
pub fn unmet(requested: &Options, final_config: &str) -> Vec<String> {
    let actual = parse(final_config);
    requested
        .iter()
        .filter_map(|(name, want)| {
            let have = actual.get(name).cloned().flatten();
            (have != *want).then(|| {
                let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "not set".into());
                format!("{name}: requested {}, got {}", show(want), show(&have))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_and_not_set() {
        let o = parse("# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\nCONFIG_D=n\nFOO=1\n");
        assert_eq!(o.len(), 4);
        assert_eq!(o["CONFIG_A"].as_deref(), Some("y"));
        assert_eq!(o["CONFIG_B"], None);
        assert_eq!(o["CONFIG_C"].as_deref(), Some("\"x y\""));
        assert_eq!(o["CONFIG_D"], None);
    }

    #[test]
    fn options_are_named_and_shown_as_the_config_writes_them() {
        assert_eq!(option_name("NET").as_deref(), Some("CONFIG_NET"));
        assert_eq!(option_name("CONFIG_IPV6").as_deref(), Some("CONFIG_IPV6"));
        assert_eq!(option_name("net"), None);
        assert_eq!(option_name("CONFIG_"), None);
        assert_eq!(option_name("X=y"), None);
        let config = "CONFIG_NET=y\n# CONFIG_CONNECTOR is not set\nCONFIG_LOG_BUF_SHIFT=17\n";
        let names = ["CONFIG_NET", "CONFIG_CONNECTOR", "CONFIG_LOG_BUF_SHIFT", "CONFIG_ABSENT"].map(String::from);
        assert_eq!(
            lines_of(config, &names),
            ["CONFIG_NET=y", "# CONFIG_CONNECTOR is not set", "CONFIG_LOG_BUF_SHIFT=17", "# CONFIG_ABSENT is not set"]
        );
    }

    #[test]
    fn reports_vanished_changed_and_unwanted_options() {
        let want = parse("CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=m\n# CONFIG_D is not set\n");
        let got = "CONFIG_A=y\nCONFIG_C=y\nCONFIG_D=y\n";
        assert_eq!(
            unmet(&want, got),
            vec![
                "CONFIG_B: requested y, got not set",
                "CONFIG_C: requested m, got y",
                "CONFIG_D: requested not set, got y",
            ]
        );
        assert!(unmet(&want, "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=m\n# CONFIG_D is not set\n").is_empty());
    }
}
