//! The boot contract: what the host tells the agent on the kernel command
//! line, as `kulink.<key>=<value>` words. The host renders a [`BootConfig`],
//! the agent parses it back; a test checks that one undoes the other.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Where the image lists the modules loaded before the one under test (a
/// distribution kernel's drivers, then the test's own modules that the one
/// under test needs), in order: one [`preload_line`] each.
pub const PRELOAD_LIST: &str = "/lib/modules/preload.list";

/// A line of [`PRELOAD_LIST`]: the module's guest path, then its parameters
/// (`name=value`, space-separated), if any.
pub fn preload_line(path: &str, params: &str) -> String {
    format!("{path} {params}").trim_end().to_owned()
}

/// The guest path and parameters of a [`preload_line`].
pub fn parse_preload_line(line: &str) -> (&str, &str) {
    let line = line.trim();
    line.split_once(' ').map_or((line, ""), |(path, params)| (path, params.trim_start()))
}

const PREFIX: &str = "kulink.";

/// The key of [`BootConfig::deferred`].
const DEFERRED_KEY: &str = "deferred";

/// Extension keys of the bare agent (`kulink-agent-core`): each
/// `kulink.param.NAME=VALUE` is a parameter of the module under test.
pub const MODULE_PARAM_KEY: &str = "param.";

#[derive(Debug, Clone, PartialEq, Eq)]
/// What the agent reads from the kernel command line: the wire address, the
/// module to load and the plug-in's settings.
pub struct BootConfig {
    /// The guest's address on the wire and its prefix length.
    pub addr: Ipv4Addr,
    /// The prefix length of `addr`'s subnet.
    pub prefix: u8,
    /// Guest path of the module under test, loaded after the preload list.
    pub module: Option<String>,
    /// Settings of the suite's extension, each `kulink.<key>=<value>`.
    pub extension: BTreeMap<String, String>,
    /// The test's modules and settings come later, over the control port
    /// ([`crate::Command::Resume`]): the agent says it has booted
    /// ([`crate::AgentMsg::Booted`]) and waits for them, so the guest can
    /// be saved before any of them is loaded and serve every module.
    pub deferred: bool,
}

/// A command line the agent cannot start from, or settings that cannot be
/// written as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootError(pub String);

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BootError {}

impl BootConfig {
    /// The address and nothing else: no module, no plug-in settings.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Self {
        Self { addr, prefix, module: None, extension: BTreeMap::new(), deferred: false }
    }

    /// The `kulink.*` words, space-separated. Values are single words: the
    /// kernel splits its command line at spaces.
    pub fn render(&self) -> Result<String, BootError> {
        let mut words = vec![format!("{PREFIX}addr={}/{}", self.addr, self.prefix)];
        if let Some(module) = &self.module {
            words.push(format!("{PREFIX}module={module}"));
        }
        if self.deferred {
            words.push(format!("{PREFIX}{DEFERRED_KEY}=1"));
        }
        for (key, value) in &self.extension {
            if matches!(key.as_str(), "addr" | "module" | DEFERRED_KEY) || key.is_empty() || key.contains(['=', ' ']) {
                return Err(BootError(format!("`{key}` cannot be an extension's boot key")));
            }
            words.push(format!("{PREFIX}{key}={value}"));
        }
        match words.iter().find(|w| w.contains(char::is_whitespace) || w.contains('"')) {
            Some(word) => Err(BootError(format!("`{word}` is not one word of a kernel command line"))),
            None => Ok(words.join(" ")),
        }
    }

    /// Reads the `kulink.*` words of a command line; everything else is the
    /// kernel's.
    pub fn parse(cmdline: &str) -> Result<Self, BootError> {
        let mut keys: BTreeMap<String, String> = cmdline
            .split_whitespace()
            .filter_map(|w| w.strip_prefix(PREFIX)?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let addr =
            keys.remove("addr").ok_or_else(|| BootError("the command line lacks kulink.addr=A.B.C.D/N".into()))?;
        let (ip, prefix) =
            addr.split_once('/').ok_or_else(|| BootError(format!("kulink.addr={addr} needs a /prefix")))?;
        let prefix: u8 =
            prefix.parse().map_err(|_| BootError(format!("kulink.addr prefix `{prefix}` is not a number")))?;
        if prefix > 32 {
            return Err(BootError(format!("kulink.addr prefix {prefix} is over 32")));
        }
        let addr = ip.parse().map_err(|_| BootError(format!("kulink.addr `{ip}` is not an IPv4 address")))?;
        let module = keys.remove("module");
        let deferred = keys.remove(DEFERRED_KEY).is_some_and(|v| v == "1");
        Ok(Self { addr, prefix, module, extension: keys, deferred })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_preload_line_reads_back_as_written() {
        assert_eq!(
            parse_preload_line(&preload_line("/lib/modules/preload/00-a.ko", "")),
            ("/lib/modules/preload/00-a.ko", "")
        );
        assert_eq!(parse_preload_line(&preload_line("/m/b.ko", "base=40 name=x")), ("/m/b.ko", "base=40 name=x"));
        assert_eq!(preload_line("/m/c.ko", ""), "/m/c.ko");
    }

    use super::*;

    fn sample() -> BootConfig {
        let mut c = BootConfig::new(Ipv4Addr::new(192, 0, 2, 15), 24);
        c.module = Some("/lib/modules/m.ko".into());
        c.extension.insert("greeting".into(), "hi,there".into());
        c
    }

    #[test]
    fn parsing_undoes_rendering_among_other_words() {
        let c = sample();
        let words = c.render().unwrap();
        assert_eq!(words, "kulink.addr=192.0.2.15/24 kulink.module=/lib/modules/m.ko kulink.greeting=hi,there");
        assert_eq!(BootConfig::parse(&format!("console=ttyS0 {words} quiet")).unwrap(), c);
        let bare = BootConfig::new(Ipv4Addr::new(10, 0, 0, 1), 8);
        assert_eq!(BootConfig::parse(&bare.render().unwrap()).unwrap(), bare);
        let deferred = BootConfig { deferred: true, ..bare };
        assert_eq!(deferred.render().unwrap(), "kulink.addr=10.0.0.1/8 kulink.deferred=1");
        assert_eq!(BootConfig::parse(&deferred.render().unwrap()).unwrap(), deferred);
    }

    #[test]
    fn bad_addresses_are_named() {
        let err = |line: &str| BootConfig::parse(line).unwrap_err().0;
        assert!(err("quiet").contains("lacks kulink.addr"));
        assert!(err("kulink.addr=192.0.2.15").contains("needs a /prefix"));
        assert!(err("kulink.addr=192.0.2.15/33").contains("over 32"));
        assert!(err("kulink.addr=300.0.2.15/24").contains("not an IPv4 address"));
    }

    #[test]
    fn values_that_are_not_one_word_are_refused() {
        let mut c = sample();
        c.extension.insert("name".into(), "two words".into());
        assert!(c.render().unwrap_err().0.contains("two words"));
        let mut c = sample();
        c.extension.insert("addr".into(), "1.2.3.4/5".into());
        assert!(c.render().is_err(), "an extension cannot shadow a core key");
        let mut c = sample();
        c.extension.insert("deferred".into(), "1".into());
        assert!(c.render().is_err(), "nor the deferral's");
    }
}
