//! A netlink family as the kernel's YNL specs describe it
//! (`Documentation/netlink/specs/*.yaml`): generic netlink's (protocols
//! `genetlink`, `genetlink-c` and `genetlink-legacy`) and the classic
//! protocols' (`netlink-raw`: rtnetlink, nftables, conntrack...):
//! attribute sets, operations, multicast groups.
//!
//! kulink reads the whole language the kernel's own specs use: integer
//! (`u8`…`u64`, `s8`…`s64`, `uint`, `sint`, either byte order), `string`,
//! `binary`, `flag`, `pad`, `unused`, `nest`, `bitfield32`,
//! `indexed-array`, `nest-type-value` and `sub-message` attributes,
//! `multi-attr`, `subset-of` sets, binary attributes that hold a struct
//! or a C array, fixed headers, enums and flags named by their entries,
//! `display-hint`s, `checks`, and both numberings of operations
//! (`unified`, and `directional`, where requests and what the kernel sends
//! are numbered apart). Values follow YNL's rules: the first attribute and
//! the first operation are 1, each next one is one more unless it says its
//! `value`.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::definitions::{self, Checks, Definitions, EnumSet, RawChecks, RawDefinition, Render, Struct};

/// A spec that cannot be read or used, with what is wrong in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

fn error(message: impl Into<String>) -> SpecError {
    SpecError(message.into())
}

/// One family.
///
/// ```
/// let spec = kulink_genl::Spec::parse(r#"
/// name: demo
/// protocol: genetlink
/// attribute-sets:
///   - name: main
///     attributes:
///       - { name: count, type: u32 }
///       - { name: label, type: string }
/// operations:
///   list:
///     - { name: notify, attribute-set: main, mcgrp: events }
/// mcast-groups:
///   list:
///     - name: events
/// "#).unwrap();
/// assert_eq!(spec.operation("notify").unwrap().value, 1);
/// assert_eq!(spec.set("main").unwrap().attribute("label").unwrap().value, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The family name the controller knows.
    pub name: String,
    /// Generic netlink, or a classic protocol of its own (`netlink-raw`).
    pub protocol: Protocol,
    /// The version put in requests' generic netlink header.
    pub version: u8,
    /// Its attribute sets.
    pub sets: Vec<AttrSet>,
    /// Its operations.
    pub operations: Vec<Operation>,
    /// Prefix of the operations' C enumerators (`name-prefix`), if given.
    pub operation_prefix: Option<String>,
    /// Multicast group names.
    pub mcast_groups: Vec<String>,
    /// Its `enum` and `flags` definitions.
    pub enums: Vec<EnumSet>,
    /// Its `struct` definitions.
    pub structs: Vec<Struct>,
    /// Its `sub-messages`: what an attribute holds, chosen by another's
    /// value.
    pub sub_messages: Vec<SubMessage>,
}

/// Which netlink a family speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Generic netlink (`genetlink`, `genetlink-c`, `genetlink-legacy`):
    /// operations are 8-bit commands after a generic netlink header.
    Generic,
    /// A classic protocol (`netlink-raw`: rtnetlink, nftables...), by its
    /// number: operations are netlink message types.
    Raw(u32),
}

/// A `sub-messages` entry: the formats an attribute may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMessage {
    /// Its name, as attributes' `sub-message` refer to it.
    pub name: String,
    /// Its formats, by the selector's value.
    pub formats: Vec<SubMessageFormat>,
}

/// One format of a sub-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMessageFormat {
    /// The selector's value that chooses it (`bond`, `vlan`...).
    pub value: String,
    /// The struct it starts with.
    pub fixed_header: Option<String>,
    /// The set its attributes come from.
    pub attribute_set: Option<String>,
}

/// A named set of attributes (the kernel's `enum` of attribute types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrSet {
    /// The set's name, as operations and nests refer to it.
    pub name: String,
    /// Prefix of the C enumerators (`name-prefix`), if the spec gives one.
    pub name_prefix: Option<String>,
    /// Its attributes, in the order the spec lists them.
    pub attributes: Vec<AttrSpec>,
}

/// One attribute of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrSpec {
    /// The attribute's name in the spec, and the key of its decoded value.
    pub name: String,
    /// Its type number on the wire.
    pub value: u16,
    /// What its payload holds.
    pub kind: AttrKind,
    /// It may appear more than once (`multi-attr`).
    pub multi: bool,
    /// How its value is shown (`enum`, `display-hint`).
    pub render: Render,
    /// What the kernel's policy accepts.
    pub checks: Checks,
}

/// What an attribute's payload holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrKind {
    /// `u8`…`u64` (`width` bytes) or `uint` (`width` 0: 4 or 8 bytes).
    Unsigned {
        /// Bytes on the wire.
        width: u8,
        /// Network byte order (`byte-order: big-endian`).
        big_endian: bool,
    },
    /// `s8`…`s64` or `sint`, as `Unsigned`.
    Signed {
        /// Bytes on the wire.
        width: u8,
        /// Network byte order (`byte-order: big-endian`).
        big_endian: bool,
    },
    /// NUL-terminated text.
    String,
    /// Bytes of any length.
    Binary,
    /// A binary attribute that holds the named struct (`struct`).
    Struct(String),
    /// A binary attribute that holds a C array of integers (`sub-type`),
    /// in host byte order.
    Array {
        /// Bytes of each element.
        width: u8,
        /// `s8`…`s64`.
        signed: bool,
    },
    /// Present or absent, no payload.
    Flag,
    /// Alignment padding, never a value.
    Pad,
    /// Attributes of the named set.
    Nest(String),
    /// `bitfield32`: a `struct nla_bitfield32`, a value and the selector
    /// of the bits it sets.
    Bitfield32,
    /// `indexed-array`: a nest of elements of one kind, each an attribute
    /// whose type is its index (from 0), as a list.
    IndexedArray(Box<AttrKind>),
    /// `unused`: a number kept free (often 0, `unspec`), never a value.
    Unused,
    /// `sub-message`: what the attribute holds is the format of the
    /// named sub-message that another attribute's value chooses.
    SubMessage {
        /// The sub-message's name.
        name: String,
        /// The attribute whose value chooses the format: a sibling, or an
        /// attribute of an enclosing nest.
        selector: String,
    },
    /// `nest-type-value`: nests inside nests, one level for each name of
    /// `keys`, whose attribute type is that key's value, around attributes
    /// of the named set (nlctrl's policies: policy id, then attribute id).
    NestTypeValue {
        /// The levels' names, outermost first.
        keys: Vec<String>,
        /// The set of the innermost attributes.
        set: String,
    },
}

/// One operation (a generic netlink command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The operation's name.
    pub name: String,
    /// The command number its requests carry. In the `directional` model
    /// an event, which nothing sends, has 0 (the `..._UNSPEC` number).
    pub value: u16,
    /// The command number of what the kernel sends for it (replies and
    /// notifications): `value` in the `unified` model; in the `directional`
    /// one numbered apart, and 0 for an operation with no reply.
    pub reply_value: u16,
    /// The set its attributes come from, if it has any.
    pub attribute_set: Option<String>,
    /// The multicast group its notifications go to.
    pub mcgrp: Option<String>,
    /// Who may send it (the spec's `flags`).
    pub permission: Permission,
    /// The struct every message of it starts with, before its attributes
    /// (`fixed-header`, the operation's own or the family's).
    pub fixed_header: Option<String>,
}

/// Who may send an operation: its `flags` in the spec, the kernel's
/// `GENL_ADMIN_PERM` and `GENL_UNS_ADMIN_PERM`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Permission {
    /// Anyone.
    #[default]
    Anyone,
    /// `admin-perm`: `CAP_NET_ADMIN` in the initial user namespace.
    Admin,
    /// `uns-admin-perm`: `CAP_NET_ADMIN` over the socket's network
    /// namespace.
    NamespaceAdmin,
}

impl Permission {
    /// Sending it needs `CAP_NET_ADMIN` somewhere.
    pub fn needs_admin(self) -> bool {
        self != Permission::Anyone
    }
}

impl Spec {
    /// Reads a spec file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| error(format!("cannot read spec {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| error(format!("spec {}: {e}", path.display())))
    }

    /// Reads a spec from its YAML text.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let raw: RawSpec = serde_yaml_ng::from_str(text).map_err(|e| error(format!("not a YNL spec: {e}")))?;
        raw.resolve()
    }

    /// The `enum` or `flags` definition called `name`.
    pub fn enumeration(&self, name: &str) -> Option<&EnumSet> {
        self.enums.iter().find(|e| e.name == name)
    }

    /// The `struct` definition called `name`.
    pub fn structure(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// The sub-message called `name`.
    pub fn sub_message(&self, name: &str) -> Option<&SubMessage> {
        self.sub_messages.iter().find(|s| s.name == name)
    }

    /// The bytes the struct `name` takes on the wire.
    pub fn struct_size(&self, name: &str) -> usize {
        definitions::struct_size(&self.structs, name)
    }

    /// The attribute set called `name`.
    pub fn set(&self, name: &str) -> Option<&AttrSet> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// The operation called `name`.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.name == name)
    }

    /// The operation whose requests carry command number `value`.
    pub fn operation_by_request(&self, value: u16) -> Option<&Operation> {
        self.operations.iter().find(|o| o.value == value && value != 0)
    }

    /// The operation a message from the kernel with command number `value`
    /// belongs to (see [`Operation::reply_value`]).
    pub fn operation_by_value(&self, value: u16) -> Option<&Operation> {
        self.operations.iter().find(|o| o.reply_value == value)
    }
}

impl AttrSet {
    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&AttrSpec> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The attribute with type number `value`.
    pub fn attribute_by_value(&self, value: u16) -> Option<&AttrSpec> {
        self.attributes.iter().find(|a| a.value == value)
    }
}

// The YAML as written; `resolve` numbers it and checks its references.

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawSpec {
    name: String,
    protocol: Option<String>,
    protonum: Option<u32>,
    version: Option<u8>,
    #[serde(default)]
    sub_messages: Vec<RawSubMessage>,
    #[serde(default)]
    definitions: Vec<RawDefinition>,
    #[serde(default)]
    attribute_sets: Vec<RawSet>,
    operations: Option<RawOperations>,
    mcast_groups: Option<RawGroups>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawSet {
    name: String,
    name_prefix: Option<String>,
    subset_of: Option<String>,
    attributes: Vec<RawAttr>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "kebab-case")]
struct RawAttr {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    value: Option<u16>,
    nested_attributes: Option<String>,
    multi_attr: Option<bool>,
    byte_order: Option<String>,
    /// An indexed array's element type.
    sub_type: Option<String>,
    /// A `nest-type-value`'s levels.
    type_value: Option<Vec<String>>,
    #[serde(rename = "enum")]
    enum_: Option<String>,
    enum_as_flags: Option<bool>,
    display_hint: Option<String>,
    #[serde(rename = "struct")]
    struct_: Option<String>,
    checks: Option<RawChecks>,
    sub_message: Option<String>,
    selector: Option<String>,
}

#[derive(Deserialize)]
struct RawSubMessage {
    name: String,
    formats: Vec<RawFormat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFormat {
    value: String,
    fixed_header: Option<String>,
    attribute_set: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawOperations {
    name_prefix: Option<String>,
    enum_model: Option<String>,
    fixed_header: Option<String>,
    #[serde(default)]
    list: Vec<RawOperation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawOperation {
    name: String,
    value: Option<u16>,
    attribute_set: Option<String>,
    /// A notification that reuses another operation's attributes.
    notify: Option<String>,
    /// An event: a message of the kernel's own, with these attributes.
    event: Option<serde_yaml_ng::Value>,
    #[serde(rename = "do")]
    do_: Option<RawMode>,
    dump: Option<RawMode>,
    mcgrp: Option<String>,
    #[serde(default)]
    flags: Vec<String>,
    fixed_header: Option<String>,
}

/// An operation's `do` or `dump`: the numbers of its request and reply,
/// in the directional model, when they are given.
#[derive(Deserialize)]
struct RawMode {
    request: Option<RawMessage>,
    reply: Option<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    value: Option<u16>,
}

#[derive(Deserialize)]
struct RawGroups {
    list: Vec<RawGroup>,
}

#[derive(Deserialize)]
struct RawGroup {
    name: String,
}

impl RawSpec {
    fn resolve(self) -> Result<Spec, SpecError> {
        let protocol = match self.protocol.as_deref() {
            None | Some("genetlink" | "genetlink-c" | "genetlink-legacy") => Protocol::Generic,
            Some("netlink-raw") => {
                Protocol::Raw(self.protonum.ok_or_else(|| error("a netlink-raw spec needs protonum"))?)
            }
            Some(other) => return Err(error(format!("protocol {other} is not one of YNL's"))),
        };
        let defs = Definitions::resolve(&self.definitions).map_err(SpecError)?;
        let sets = self
            .attribute_sets
            .iter()
            .map(|set| set.resolve(&self.attribute_sets, &defs))
            .collect::<Result<Vec<_>, _>>()?;
        let mcast_groups: Vec<String> =
            self.mcast_groups.map(|g| g.list.into_iter().map(|g| g.name).collect()).unwrap_or_default();
        let operation_prefix = self.operations.as_ref().and_then(|ops| ops.name_prefix.clone());
        let operations = match self.operations {
            Some(ops) => resolve_operations(ops, &sets, &mcast_groups, &defs)?,
            None => Vec::new(),
        };
        let version = self.version.unwrap_or(1);
        let Definitions { enums, structs, .. } = defs;
        let sub_messages = self
            .sub_messages
            .into_iter()
            .map(|raw| SubMessage {
                name: raw.name,
                formats: raw
                    .formats
                    .into_iter()
                    .map(|f| SubMessageFormat {
                        value: f.value,
                        fixed_header: f.fixed_header,
                        attribute_set: f.attribute_set,
                    })
                    .collect(),
            })
            .collect();
        let spec = Spec {
            name: self.name,
            protocol,
            version,
            sets,
            operations,
            operation_prefix,
            mcast_groups,
            enums,
            structs,
            sub_messages,
        };
        spec.check_references()?;
        Ok(spec)
    }
}

impl Spec {
    /// Every set, struct and sub-message a spec names is defined; generic
    /// netlink commands fit their 8 bits.
    fn check_references(&self) -> Result<(), SpecError> {
        let spec = self;
        if spec.protocol == Protocol::Generic {
            if let Some(op) = spec.operations.iter().find(|o| o.value > 255 || o.reply_value > 255) {
                return Err(error(format!("operation {}: a generic netlink command is below 256", op.name)));
            }
        }
        for sub in &spec.sub_messages {
            for format in &sub.formats {
                if let Some(set) = format.attribute_set.as_ref().filter(|s| spec.set(s).is_none()) {
                    return Err(error(format!(
                        "sub-message {} {}: {set} is not an attribute set",
                        sub.name, format.value
                    )));
                }
                if let Some(header) = format.fixed_header.as_ref().filter(|h| spec.structure(h).is_none()) {
                    return Err(error(format!("sub-message {} {}: {header} is not a struct", sub.name, format.value)));
                }
            }
        }
        for set in &spec.sets {
            for attr in &set.attributes {
                let nest = match &attr.kind {
                    AttrKind::IndexedArray(element) => element.as_ref(),
                    kind => kind,
                };
                if let AttrKind::SubMessage { name, .. } = nest {
                    if spec.sub_message(name).is_none() {
                        return Err(error(format!("{}.{}: sub-message {name} is not defined", set.name, attr.name)));
                    }
                }
                if let AttrKind::Struct(name) = nest {
                    if spec.structure(name).is_none() {
                        return Err(error(format!(
                            "{}.{}: struct {name} is not a struct definition",
                            set.name, attr.name
                        )));
                    }
                }
                if let AttrKind::Nest(inner) | AttrKind::NestTypeValue { set: inner, .. } = nest {
                    if spec.set(inner).is_none() {
                        return Err(error(format!(
                            "{}.{}: nested-attributes {inner} is not an attribute set",
                            set.name, attr.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl RawSet {
    fn resolve(&self, all: &[RawSet], defs: &Definitions) -> Result<AttrSet, SpecError> {
        let parent = match &self.subset_of {
            Some(name) => Some(
                all.iter()
                    .find(|s| &s.name == name)
                    .ok_or_else(|| error(format!("set {}: subset-of {name} is not an attribute set", self.name)))?
                    .resolve(all, defs)?,
            ),
            None => None,
        };
        let mut attributes: Vec<AttrSpec> = Vec::new();
        let mut next = 1u16;
        for raw in &self.attributes {
            let attr = match &parent {
                // A subset names attributes of its parent, with their numbers and types.
                Some(parent) => {
                    let mut attr = parent.attribute(&raw.name).cloned().ok_or_else(|| {
                        error(format!("set {}: {} is not an attribute of {}", self.name, raw.name, parent.name))
                    })?;
                    if let Some(multi) = raw.multi_attr {
                        attr.multi = multi;
                    }
                    // It may narrow what a nest holds to a subset of its own (ovpn's
                    // requests), as YNL's merge of the two entries has it.
                    if let Some(narrower) = &raw.nested_attributes {
                        attr.kind.renest(narrower);
                    }
                    attr
                }
                None => {
                    let value = raw.value.unwrap_or(next);
                    next = value.wrapping_add(1);
                    let in_attr = |e: String| error(format!("{}.{}: {e}", self.name, raw.name));
                    let render = definitions::render(
                        raw.enum_.clone(),
                        raw.enum_as_flags.unwrap_or(false),
                        raw.display_hint.as_deref(),
                    )
                    .map_err(in_attr)?;
                    defs.check_render(&render).map_err(in_attr)?;
                    AttrSpec {
                        name: raw.name.clone(),
                        value,
                        kind: raw.kind().map_err(in_attr)?,
                        multi: raw.multi_attr.unwrap_or(false),
                        render,
                        checks: defs.checks(raw.checks.as_ref()),
                    }
                }
            };
            // A subset naming one of its parent's attributes twice (devlink's
            // do) names it once.
            if parent.is_some() && attributes.contains(&attr) {
                continue;
            }
            if let Some(twin) = attributes.iter().find(|a| a.value == attr.value || a.name == attr.name) {
                return Err(error(format!("set {}: {} and {} share a name or value", self.name, twin.name, attr.name)));
            }
            attributes.push(attr);
        }
        Ok(AttrSet { name: self.name.clone(), name_prefix: self.name_prefix.clone(), attributes })
    }
}

impl AttrKind {
    /// Points a nest (or an array of nests) at another set.
    fn renest(&mut self, set: &str) {
        match self {
            AttrKind::Nest(inner) | AttrKind::NestTypeValue { set: inner, .. } => *inner = set.to_owned(),
            AttrKind::IndexedArray(element) => element.renest(set),
            _ => {}
        }
    }
}

impl RawAttr {
    fn kind(&self) -> Result<AttrKind, String> {
        let big_endian = definitions::big_endian(self.byte_order.as_deref())?;
        let kind = self.kind.as_deref().ok_or("no type")?;
        if kind == "indexed-array" {
            let element = self.sub_type.as_deref().ok_or("an indexed-array needs a sub-type")?;
            if element == "indexed-array" {
                return Err("an indexed-array of indexed-arrays is not YNL".into());
            }
            let element = RawAttr { kind: Some(element.to_owned()), sub_type: None, ..self.clone() };
            return Ok(AttrKind::IndexedArray(Box::new(element.kind()?)));
        }
        if let Some((width, signed)) = definitions::integer_type(kind) {
            return Ok(if signed { Signed { width, big_endian } } else { Unsigned { width, big_endian } });
        }
        Ok(match kind {
            "string" => AttrKind::String,
            "binary" => match (&self.struct_, self.sub_type.as_deref()) {
                (Some(name), _) => AttrKind::Struct(name.clone()),
                (None, Some(element)) => match definitions::integer_type(element) {
                    Some((width, signed)) if width > 0 => AttrKind::Array { width, signed },
                    _ => return Err(format!("a binary's sub-type {element} is not a fixed-width integer")),
                },
                (None, None) => AttrKind::Binary,
            },
            "flag" => AttrKind::Flag,
            "pad" => AttrKind::Pad,
            "unused" => AttrKind::Unused,
            "bitfield32" => AttrKind::Bitfield32,
            "nest-type-value" => AttrKind::NestTypeValue {
                keys: self.type_value.clone().filter(|k| !k.is_empty()).ok_or("a nest-type-value needs type-value")?,
                set: self.nested_attributes.clone().ok_or("a nest-type-value needs nested-attributes")?,
            },
            "nest" => AttrKind::Nest(self.nested_attributes.clone().ok_or("a nest needs nested-attributes")?),
            "sub-message" => AttrKind::SubMessage {
                name: self.sub_message.clone().ok_or("a sub-message attribute needs sub-message")?,
                selector: self.selector.clone().ok_or("a sub-message attribute needs a selector")?,
            },
            other => {
                return Err(format!(
                    "type {other} is not supported (integers, string, binary, flag, pad, unused, nest, bitfield32, \
                     indexed-array, nest-type-value)"
                ))
            }
        })
    }
}

use AttrKind::{Signed, Unsigned};

fn resolve_operations(
    ops: RawOperations,
    sets: &[AttrSet],
    groups: &[String],
    defs: &Definitions,
) -> Result<Vec<Operation>, SpecError> {
    let directional = match ops.enum_model.as_deref() {
        None | Some("unified") => false,
        Some("directional") => true,
        Some(model) => return Err(error(format!("enum-model {model} is not unified or directional"))),
    };
    let numbers = if directional { directional_numbers(&ops.list)? } else { unified_numbers(&ops.list) };
    let mut resolved: Vec<Operation> = Vec::new();
    for (raw, (value, reply_value)) in ops.list.iter().zip(numbers) {
        let attribute_set = match (&raw.attribute_set, &raw.notify) {
            (Some(set), _) => Some(set.clone()),
            (None, Some(target)) => {
                let target = ops
                    .list
                    .iter()
                    .find(|o| &o.name == target)
                    .ok_or_else(|| error(format!("operation {}: notify {target} is not an operation", raw.name)))?;
                target.attribute_set.clone()
            }
            (None, None) => None,
        };
        if let Some(set) = attribute_set.as_ref().filter(|s| !sets.iter().any(|x| &x.name == *s)) {
            return Err(error(format!("operation {}: attribute-set {set} is not an attribute set", raw.name)));
        }
        if let Some(group) = raw.mcgrp.as_ref().filter(|g| !groups.contains(g)) {
            return Err(error(format!("operation {}: mcgrp {group} is not a multicast group", raw.name)));
        }
        // Replies may share a number (devlink's replies to several
        // operations are all DEVLINK_CMD_NEW); requests may not.
        if let Some(twin) = resolved.iter().find(|o| o.name == raw.name || (value != 0 && o.value == value)) {
            return Err(error(format!("operations {} and {} share a name or value", twin.name, raw.name)));
        }
        let permission = match raw.flags.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            [] => Permission::Anyone,
            ["admin-perm"] => Permission::Admin,
            ["uns-admin-perm"] => Permission::NamespaceAdmin,
            _ => {
                return Err(error(format!(
                    "operation {}: flags {:?}: want one of admin-perm or uns-admin-perm",
                    raw.name, raw.flags
                )))
            }
        };
        let fixed_header = raw.fixed_header.clone().or_else(|| ops.fixed_header.clone());
        if let Some(header) = fixed_header.as_ref().filter(|h| defs.structure(h).is_none()) {
            return Err(error(format!("operation {}: fixed-header {header} is not a struct definition", raw.name)));
        }
        resolved.push(Operation {
            name: raw.name.clone(),
            value,
            reply_value,
            attribute_set,
            mcgrp: raw.mcgrp.clone(),
            permission,
            fixed_header,
        });
    }
    Ok(resolved)
}

/// One numbering for requests and replies: each operation one more than
/// the last unless it says its `value`.
fn unified_numbers(list: &[RawOperation]) -> Vec<(u16, u16)> {
    let mut next = 1u16;
    list.iter()
        .map(|raw| {
            let value = raw.value.unwrap_or(next);
            next = value.wrapping_add(1);
            (value, value)
        })
        .collect()
}

/// Requests and what the kernel sends numbered apart, as YNL's
/// `directional` model has them: a request number for each `do` or `dump`,
/// a reply number for each that replies and for each notification or
/// event; a `value` given in the request, the reply or an event sets its
/// count afresh. 0 stands for none.
fn directional_numbers(list: &[RawOperation]) -> Result<Vec<(u16, u16)>, SpecError> {
    let (mut request, mut reply) = (1u16, 1u16);
    let mut numbers = Vec::new();
    for raw in list {
        if raw.notify.is_some() || raw.event.is_some() {
            reply = raw.value.unwrap_or(reply);
            numbers.push((0, reply));
            reply = reply.wrapping_add(1);
            continue;
        }
        let mode = raw.do_.as_ref().or(raw.dump.as_ref()).ok_or_else(|| {
            error(format!("operation {}: a directional operation needs do, dump, notify or event", raw.name))
        })?;
        request = mode.request.as_ref().and_then(|m| m.value).unwrap_or(request);
        reply = mode.reply.as_ref().and_then(|m| m.value).unwrap_or(reply);
        let replies = mode.reply.is_some();
        numbers.push((request, if replies { reply } else { 0 }));
        request = request.wrapping_add(1);
        if replies {
            reply = reply.wrapping_add(1);
        }
    }
    Ok(numbers)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const DEMO: &str = r#"
name: demo
protocol: genetlink
doc: A family for the tests.
attribute-sets:
  - name: main
    name-prefix: demo-a-
    attributes:
      - name: port
        type: u16
        byte-order: big-endian
      - name: count
        type: u64
      - name: pad
        type: pad
      - name: label
        type: string
        value: 9
      - name: item
        type: nest
        nested-attributes: item
        multi-attr: true
  - name: item
    attributes:
      - { name: id, type: sint }
      - { name: on, type: flag }
  - name: only-port
    subset-of: main
    attributes:
      - name: port
      - name: item
        nested-attributes: item-id
  - name: item-id
    subset-of: item
    attributes:
      - name: id
operations:
  list:
    - name: get
      value: 3
      attribute-set: main
      flags: [ uns-admin-perm ]
      do:
        request:
          attributes: [ port ]
    - name: changed
      notify: get
      mcgrp: events
mcast-groups:
  list:
    - name: events
"#;

    #[test]
    fn values_count_from_one_unless_given() {
        let spec = Spec::parse(DEMO).unwrap();
        assert_eq!(spec.version, 1);
        let main = spec.set("main").unwrap();
        let values: Vec<_> = main.attributes.iter().map(|a| (a.name.as_str(), a.value)).collect();
        assert_eq!(values, [("port", 1), ("count", 2), ("pad", 3), ("label", 9), ("item", 10)]);
        assert_eq!(main.attribute("port").unwrap().kind, Unsigned { width: 2, big_endian: true });
        assert_eq!(spec.set("item").unwrap().attribute("id").unwrap().kind, Signed { width: 0, big_endian: false });
        let only_port = spec.set("only-port").unwrap();
        assert_eq!(only_port.attributes[0], main.attribute("port").unwrap().clone());
        // A subset may narrow what a nest holds.
        assert_eq!(only_port.attribute("item").unwrap().kind, AttrKind::Nest("item-id".into()));
        assert_eq!(only_port.attribute("item").unwrap().value, 10);
        assert_eq!(spec.operation("get").unwrap().value, 3);
        let changed = spec.operation("changed").unwrap();
        assert_eq!(
            (changed.value, changed.attribute_set.as_deref(), changed.mcgrp.as_deref()),
            (4, Some("main"), Some("events"))
        );
        assert_eq!(spec.operation_by_value(4).unwrap().name, "changed");
        assert_eq!(
            (spec.operation("get").unwrap().permission, changed.permission),
            (Permission::NamespaceAdmin, Permission::Anyone)
        );
        assert_eq!(spec.mcast_groups, ["events"]);
    }

    #[test]
    fn a_bad_spec_names_what_is_wrong() {
        let bad = |from: &str, to: &str| Spec::parse(&DEMO.replace(from, to)).unwrap_err().0;
        assert!(bad("type: string", "type: bitfield64").contains("main.label: type bitfield64 is not supported"));
        assert!(bad("nested-attributes: item", "nested-attributes: nope").contains("nested-attributes nope"));
        assert!(bad("value: 9", "value: 2").contains("count and label share a name or value"));
        assert!(bad("mcgrp: events", "mcgrp: other").contains("mcgrp other is not a multicast group"));
        assert!(bad("notify: get", "notify: gone").contains("notify gone is not an operation"));
        assert!(bad("      - name: port\n      - name: item", "      - name: nope\n      - name: item")
            .contains("nope is not an attribute of main"));
        assert!(bad("nested-attributes: item-id", "nested-attributes: gone").contains("nested-attributes gone"));
        assert!(bad("[ uns-admin-perm ]", "[ admin-perm, uns-admin-perm ]").contains("operation get: flags"));
        assert!(bad("protocol: genetlink", "protocol: netlink-raw").contains("needs protonum"));
        assert!(bad("protocol: genetlink", "protocol: carrier-pigeon").contains("not one of YNL's"));
        assert!(bad("value: 3\n", "value: 300\n").contains("a generic netlink command is below 256"));
        assert!(Spec::parse("- just\n- a list\n").unwrap_err().0.contains("not a YNL spec"));
    }

    /// What the kernel's own legacy families use: `unused`, `bitfield32`,
    /// indexed arrays, nest-type-value, and requests and replies numbered
    /// apart.
    pub(crate) const LEGACY: &str = r#"
name: legacy
protocol: genetlink-legacy
attribute-sets:
  - name: main
    attributes:
      - { name: unspec, type: unused, value: 0 }
      - { name: mask, type: bitfield32 }
      - { name: ids, type: indexed-array, sub-type: u32 }
      - { name: items, type: indexed-array, sub-type: nest, nested-attributes: item }
      - { name: policy, type: nest-type-value, type-value: [ policy-id, attr-id ], nested-attributes: item }
  - name: item
    attributes:
      - { name: id, type: u32 }
operations:
  enum-model: directional
  list:
    - name: get
      attribute-set: main
      do:
        request: { value: 1 }
        reply: { value: 3 }
    - name: set
      attribute-set: main
      do:
        request: { attributes: [ mask ] }
    - name: list
      attribute-set: main
      dump:
        request: { attributes: [] }
        reply: { value: 3 }
    - name: changed
      notify: get
      mcgrp: events
    - name: gone
      attribute-set: main
      event: { attributes: [ ids ] }
      mcgrp: events
mcast-groups:
  list:
    - name: events
"#;

    #[test]
    fn legacy_types_and_directional_numbers_are_read_as_ynl_reads_them() {
        let spec = Spec::parse(LEGACY).unwrap();
        let main = spec.set("main").unwrap();
        let kinds: Vec<_> = main.attributes.iter().map(|a| (a.name.as_str(), a.value)).collect();
        assert_eq!(kinds, [("unspec", 0), ("mask", 1), ("ids", 2), ("items", 3), ("policy", 4)]);
        assert_eq!(main.attribute("unspec").unwrap().kind, AttrKind::Unused);
        assert_eq!(
            main.attribute("ids").unwrap().kind,
            AttrKind::IndexedArray(Box::new(Unsigned { width: 4, big_endian: false }))
        );
        assert_eq!(
            main.attribute("policy").unwrap().kind,
            AttrKind::NestTypeValue { keys: vec!["policy-id".into(), "attr-id".into()], set: "item".into() }
        );
        // (request, reply) as YNL's directional model numbers them.
        let numbers: Vec<_> = spec.operations.iter().map(|o| (o.name.as_str(), o.value, o.reply_value)).collect();
        assert_eq!(numbers, [("get", 1, 3), ("set", 2, 0), ("list", 3, 3), ("changed", 0, 4), ("gone", 0, 5)]);
        assert_eq!(spec.operation_by_request(2).unwrap().name, "set");
        assert_eq!(spec.operation_by_value(3).unwrap().name, "get", "replies may share a number");
        assert_eq!(spec.operation_by_value(5).unwrap().name, "gone");
        assert!(spec.operation_by_request(0).is_none());
        let bad = |from: &str, to: &str| Spec::parse(&LEGACY.replace(from, to)).unwrap_err().0;
        assert!(bad("request: { attributes: [ mask ] }", "request: { value: 1 }").contains("get and set share"));
        assert!(bad("sub-type: u32", "sub-type: indexed-array").contains("indexed-arrays"));
        assert!(bad("type-value: [ policy-id, attr-id ], ", "").contains("needs type-value"));
        assert!(bad("enum-model: directional", "enum-model: other").contains("not unified or directional"));
    }

    const DEFS: &str = r#"
name: defs
definitions:
  - { name: key-len, type: const, value: 32 }
  - { name: mode, type: enum, entries: [ off, on ] }
  - name: hdr
    type: struct
    members:
      - { name: id, type: u32 }
attribute-sets:
  - name: main
    attributes:
      - { name: a, type: u32, checks: { max: u32-max } }
      - { name: b, type: s16, checks: { min: s16-min, max: 0xFFF } }
      - { name: key, type: binary, checks: { exact-len: key-len } }
      - { name: page, type: u32, checks: { min: page-size } }
      - { name: m, type: u8, enum: mode }
operations:
  fixed-header: hdr
  list:
    - { name: get, attribute-set: main }
"#;

    #[test]
    fn checks_read_numbers_limits_and_constants() {
        let spec = Spec::parse(DEFS).unwrap();
        let checks = |name: &str| spec.set("main").unwrap().attribute(name).unwrap().checks;
        assert_eq!(checks("a").max, Some(u32::MAX.into()));
        assert_eq!((checks("b").min, checks("b").max), (Some(-32768), Some(0xfff)));
        assert_eq!(checks("key").exact_len, Some(32));
        // A constant of the kernel's headers the spec does not define: open.
        assert_eq!(checks("page").min, None);
        assert_eq!(spec.operation("get").unwrap().fixed_header.as_deref(), Some("hdr"));
    }

    #[test]
    fn references_to_definitions_are_checked() {
        let bad = |from: &str, to: &str| Spec::parse(&DEFS.replace(from, to)).unwrap_err().0;
        assert!(bad("enum: mode }", "enum: gone }").contains("main.m: enum gone is not an enum definition"));
        assert!(bad("fixed-header: hdr", "fixed-header: gone").contains("fixed-header gone is not a struct"));
        assert!(bad("type: u32 }\nattribute", "type: u128 }\nattribute").contains("hdr: id: type u128"));
        assert!(bad("type: const", "type: union").contains("type union is not const, enum, flags or struct"));
    }
}
