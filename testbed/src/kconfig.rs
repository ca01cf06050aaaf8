//! Kernel config fragments: parsing, and checking that olddefconfig kept
//! every option we asked for (a vanished option is a silent broken build).

use std::collections::BTreeMap;

/// `CONFIG_NAME` -> requested value; `None` means "is not set".
pub type Options = BTreeMap<String, Option<String>>;

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
