//! A spec's `definitions`: enums and flags whose entries name numbers,
//! structs that fixed headers and binary attributes carry, constants that
//! lengths refer to; and how a value is shown (`enum`, `display-hint`).

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

/// An `enum` or `flags` definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumSet {
    /// The definition's name, as attributes' `enum` refer to it.
    pub name: String,
    /// A `flags` set: each entry is a bit.
    pub flags: bool,
    /// Its entries and their numbers: the value for an enum, the bit's
    /// index for flags (YNL's raw value).
    pub entries: Vec<(String, u64)>,
}

impl EnumSet {
    /// The name of the entry numbered `raw`.
    pub fn name_of(&self, raw: u64) -> Option<&str> {
        self.entries.iter().find(|(_, value)| *value == raw).map(|(name, _)| name.as_str())
    }

    /// The number of the entry called `name`.
    pub fn value_of(&self, name: &str) -> Option<u64> {
        self.entries.iter().find(|(entry, _)| entry == name).map(|(_, value)| *value)
    }
}

/// A `struct` definition: members laid out one after another, no padding
/// but what the spec lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struct {
    /// The definition's name.
    pub name: String,
    /// Its members, in order.
    pub members: Vec<Member>,
}

/// One member of a struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name, and the key of its decoded value.
    pub name: String,
    /// What it holds.
    pub kind: MemberKind,
    /// How its value is shown.
    pub render: Render,
}

/// What a struct member holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    /// An integer of `width` bytes.
    Integer {
        /// Bytes.
        width: u8,
        /// `s8`…`s64`.
        signed: bool,
        /// Network byte order.
        big_endian: bool,
    },
    /// Bytes that carry nothing (`pad`), never a value.
    Pad(usize),
    /// Bytes of a fixed length.
    Binary(usize),
    /// Another struct, inline.
    Struct(String),
}

/// How a decoded value is shown, as YNL shows it: an entry's name (flags
/// as the names of their bits), or a `display-hint`'s text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Render {
    /// The `enum` definition that names the value.
    pub enumeration: Option<String>,
    /// `enum-as-flags`: an enum's entries taken as bits.
    pub as_flags: bool,
    /// The `display-hint`.
    pub hint: Option<DisplayHint>,
}

/// What the kernel's policy accepts (`checks`): value bounds for
/// integers, length bounds for strings and bytes. The fuzzer's boundary
/// values come from here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// The smallest value accepted.
    pub min: Option<i128>,
    /// The largest value accepted.
    pub max: Option<i128>,
    /// The shortest payload accepted.
    pub min_len: Option<usize>,
    /// The longest payload accepted.
    pub max_len: Option<usize>,
    /// The only payload length accepted.
    pub exact_len: Option<usize>,
}

/// A `display-hint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayHint {
    /// Numbers as `0x1f`, bytes as `1f 2e`.
    Hex,
    /// `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// An IPv4 address, from 4 bytes or a number.
    Ipv4,
    /// An IPv6 address, from 16 bytes.
    Ipv6,
    /// Either, by length.
    Ipv4OrV6,
    /// A UUID, from 16 bytes.
    Uuid,
}

/// The definitions of one spec, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Definitions {
    pub enums: Vec<EnumSet>,
    pub structs: Vec<Struct>,
    consts: Vec<(String, u64)>,
}

impl Definitions {
    /// The definitions, or what is wrong with one of them.
    pub fn resolve(raw: &[RawDefinition]) -> Result<Self, String> {
        let mut defs = Definitions::default();
        for def in raw {
            let fail = |what: String| format!("definition {}: {what}", def.name);
            match def.kind.as_str() {
                "const" => {
                    let value = def.value.as_ref().and_then(Yaml::as_u64);
                    // String constants name nothing a message carries.
                    if let Some(value) = value {
                        defs.consts.push((def.name.clone(), value));
                    }
                }
                "enum" | "flags" => {
                    let mut next = def.value_start.as_ref().map_or(Ok(0), |v| defs.number(v)).map_err(fail)?;
                    let mut entries = Vec::new();
                    for entry in &def.entries {
                        let (name, value) = match entry {
                            RawEntry::Name(name) => (name.clone(), next),
                            RawEntry::Full { name, value } => (name.clone(), value.unwrap_or(next)),
                        };
                        next = value + 1;
                        entries.push((name, value));
                    }
                    defs.enums.push(EnumSet { name: def.name.clone(), flags: def.kind == "flags", entries });
                }
                "struct" => {
                    let members = def.members.iter().map(|m| defs.member(m)).collect::<Result<_, _>>().map_err(fail)?;
                    defs.structs.push(Struct { name: def.name.clone(), members });
                }
                other => return Err(fail(format!("type {other} is not const, enum, flags or struct"))),
            }
        }
        for s in &defs.structs {
            for m in &s.members {
                if let MemberKind::Struct(inner) = &m.kind {
                    if defs.structs.iter().all(|d| &d.name != inner) {
                        return Err(format!("struct {}.{}: {inner} is not a struct", s.name, m.name));
                    }
                }
                defs.check_render(&m.render).map_err(|e| format!("struct {}.{}: {e}", s.name, m.name))?;
            }
        }
        Ok(defs)
    }

    /// A number written as such or as a constant's name.
    fn number(&self, value: &Yaml) -> Result<u64, String> {
        match value {
            Yaml::Number(n) => n.as_u64().ok_or_else(|| format!("{n} is not a count")),
            Yaml::String(name) => self
                .consts
                .iter()
                .find(|(c, _)| c == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("{name} is not a numeric constant")),
            other => Err(format!("{other:?} is not a number")),
        }
    }

    fn member(&self, raw: &RawMember) -> Result<Member, String> {
        let in_member = |e: String| format!("{}: {e}", raw.name);
        let big_endian = big_endian(raw.byte_order.as_deref()).map_err(in_member)?;
        let len = || {
            let len = raw.len.as_ref().ok_or_else(|| in_member("a binary or pad member needs len".into()))?;
            self.number(len).map(|n| n as usize).map_err(in_member)
        };
        let kind = match raw.kind.as_str() {
            "pad" => MemberKind::Pad(len()?),
            "binary" => match &raw.struct_ {
                Some(name) => MemberKind::Struct(name.clone()),
                None => MemberKind::Binary(len()?),
            },
            int => match integer_type(int) {
                Some((width, signed)) if width > 0 => MemberKind::Integer { width, signed, big_endian },
                _ => return Err(in_member(format!("type {int} is not a fixed-width integer, binary or pad"))),
            },
        };
        Ok(Member {
            name: raw.name.clone(),
            kind,
            render: render(raw.enum_.clone(), raw.enum_as_flags.unwrap_or(false), raw.display_hint.as_deref())?,
        })
    }

    /// An attribute's `checks`. A bound the spec does not define (a
    /// constant of the kernel's C headers, such as `page-size`) is left
    /// open.
    pub fn checks(&self, raw: Option<&RawChecks>) -> Checks {
        let Some(raw) = raw else { return Checks::default() };
        let bound = |v: &Option<Yaml>| v.as_ref().and_then(|v| self.bound(v));
        let len = |v: &Option<Yaml>| bound(v).and_then(|n| usize::try_from(n).ok());
        Checks {
            min: bound(&raw.min),
            max: bound(&raw.max),
            min_len: len(&raw.min_len),
            max_len: len(&raw.max_len),
            exact_len: len(&raw.exact_len),
        }
    }

    /// A bound: a number, `u32-max`/`s16-min` and the like, or a
    /// constant's name.
    fn bound(&self, value: &Yaml) -> Option<i128> {
        match value {
            Yaml::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)),
            Yaml::String(text) => {
                if let Some(n) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                    return i128::from_str_radix(n, 16).ok();
                }
                let limit = |(kind, end): (&str, &str)| {
                    let (width, signed) = integer_type(kind).filter(|(w, _)| *w > 0)?;
                    let bits = 8 * u32::from(width);
                    match (signed, end) {
                        (false, "max") => Some((1i128 << bits) - 1),
                        (true, "max") => Some((1i128 << (bits - 1)) - 1),
                        (true, "min") => Some(-(1i128 << (bits - 1))),
                        _ => None,
                    }
                };
                text.rsplit_once('-').and_then(limit).or_else(|| self.number(value).ok().map(i128::from))
            }
            _ => None,
        }
    }

    /// The enum an attribute or member names is defined.
    pub fn check_render(&self, render: &Render) -> Result<(), String> {
        match &render.enumeration {
            Some(name) if self.enumeration(name).is_none() => Err(format!("enum {name} is not an enum definition")),
            _ => Ok(()),
        }
    }

    pub fn enumeration(&self, name: &str) -> Option<&EnumSet> {
        self.enums.iter().find(|e| e.name == name)
    }

    pub fn structure(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }
}

/// The bytes a struct takes on the wire.
pub(crate) fn struct_size(structs: &[Struct], name: &str) -> usize {
    let Some(s) = structs.iter().find(|s| s.name == name) else { return 0 };
    s.members
        .iter()
        .map(|m| match &m.kind {
            MemberKind::Integer { width, .. } => usize::from(*width),
            MemberKind::Pad(len) | MemberKind::Binary(len) => *len,
            MemberKind::Struct(inner) => struct_size(structs, inner),
        })
        .sum()
}

/// `u8`…`u64` → (bytes, false), `s8`…`s64` → (bytes, true), `uint` and
/// `sint` → (0, _).
pub(crate) fn integer_type(kind: &str) -> Option<(u8, bool)> {
    let signed = match kind.as_bytes().first() {
        Some(b'u') => false,
        Some(b's') => true,
        _ => return None,
    };
    match &kind[1..] {
        "int" => Some((0, signed)),
        bits @ ("8" | "16" | "32" | "64") => Some((bits.parse::<u8>().ok()? / 8, signed)),
        _ => None,
    }
}

pub(crate) fn big_endian(order: Option<&str>) -> Result<bool, String> {
    match order {
        None | Some("little-endian" | "host") => Ok(false),
        Some("big-endian") => Ok(true),
        Some(other) => Err(format!("byte-order {other} is not big-endian or little-endian")),
    }
}

pub(crate) fn render(enumeration: Option<String>, as_flags: bool, hint: Option<&str>) -> Result<Render, String> {
    let hint = match hint {
        None => None,
        Some("hex") => Some(DisplayHint::Hex),
        Some("mac") => Some(DisplayHint::Mac),
        Some("ipv4") => Some(DisplayHint::Ipv4),
        Some("ipv6") => Some(DisplayHint::Ipv6),
        Some("ipv4-or-v6") => Some(DisplayHint::Ipv4OrV6),
        Some("uuid") => Some(DisplayHint::Uuid),
        Some(other) => return Err(format!("display-hint {other} is not hex, mac, ipv4, ipv6, ipv4-or-v6 or uuid")),
    };
    Ok(Render { enumeration, as_flags, hint })
}

// The YAML as written.

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct RawDefinition {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value: Option<Yaml>,
    value_start: Option<Yaml>,
    #[serde(default)]
    entries: Vec<RawEntry>,
    #[serde(default)]
    members: Vec<RawMember>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct RawChecks {
    min: Option<Yaml>,
    max: Option<Yaml>,
    min_len: Option<Yaml>,
    max_len: Option<Yaml>,
    exact_len: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawEntry {
    Name(String),
    Full { name: String, value: Option<u64> },
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMember {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    byte_order: Option<String>,
    len: Option<Yaml>,
    #[serde(rename = "enum")]
    enum_: Option<String>,
    enum_as_flags: Option<bool>,
    display_hint: Option<String>,
    #[serde(rename = "struct")]
    struct_: Option<String>,
}
