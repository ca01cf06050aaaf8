//! Random well-formed fields for a family's messages, in the form
//! [`Spec::encode_body`] takes and decoding gives: every attribute kind,
//! enums and flags by name, values at and inside the `checks` bounds,
//! payload lengths a `display-hint` fits. The fuzzer and the YNL oracle
//! build their messages from here.

use serde_json::{Map, Value as Json};

use crate::definitions::{Checks, DisplayHint, MemberKind, Render};
use crate::spec::{AttrKind, AttrSet, AttrSpec, Operation, Spec, SubMessageFormat};

/// How deep nests go: deeper ones are sent empty.
const MAX_DEPTH: u8 = 3;

/// Random fields for a message of `op`: its fixed header's members and a
/// random choice of its attributes.
///
/// ```
/// let spec = kulink_genl::Spec::parse("name: demo\nattribute-sets:\n  - name: main\n    attributes:\n      - { name: count, type: u8, checks: { max: 9 } }\noperations:\n  list:\n    - { name: get, attribute-set: main }\n").unwrap();
/// let op = spec.operation("get").unwrap();
/// let mut rng = fastrand::Rng::with_seed(1);
/// for _ in 0..100 {
///     let fields = kulink_genl::sample::fields(&spec, op, &mut rng);
///     assert!(fields.get("count").map_or(true, |n| n.as_u64().unwrap() <= 9));
///     spec.encode_body(op, &fields).unwrap();
/// }
/// ```
pub fn fields(spec: &Spec, op: &Operation, rng: &mut fastrand::Rng) -> Json {
    let mut sampler = Sampler { spec, rng };
    Json::Object(sampler.message(op.fixed_header.as_deref(), op.attribute_set.as_deref(), 0))
}

struct Sampler<'a, 'r> {
    spec: &'a Spec,
    rng: &'r mut fastrand::Rng,
}

impl Sampler<'_, '_> {
    /// About half of the set's attributes, each with a value.
    fn set(&mut self, set: &AttrSet, depth: u8) -> Map<String, Json> {
        let mut fields = Map::new();
        if depth >= MAX_DEPTH {
            return fields;
        }
        // A sub-message and its selector first, so that they agree.
        for attr in &set.attributes {
            let AttrKind::SubMessage { name, selector } = &attr.kind else { continue };
            let selector_is_text = set.attribute(selector).is_some_and(|s| s.kind == AttrKind::String);
            if !selector_is_text || !self.rng.bool() {
                continue;
            }
            let formats = &self.spec.sub_message(name).expect("a spec's sub-messages are defined").formats;
            let format = match fields.get(selector) {
                Some(chosen) => formats.iter().find(|f| Some(f.value.as_str()) == chosen.as_str()),
                None => self.rng.choice(formats),
            };
            if let Some(format) = format {
                fields.insert(selector.clone(), Json::String(format.value.clone()));
                fields.insert(attr.name.clone(), Json::Object(self.sub_message(format, depth)));
            }
        }
        for attr in &set.attributes {
            let taken = fields.contains_key(&attr.name) || matches!(attr.kind, AttrKind::SubMessage { .. });
            if !taken && self.rng.bool() {
                if let Some(value) = self.attribute(attr, depth) {
                    fields.insert(attr.name.clone(), value);
                }
            }
        }
        fields
    }

    fn attribute(&mut self, attr: &AttrSpec, depth: u8) -> Option<Json> {
        if !attr.multi {
            return self.value(&attr.kind, &attr.render, &attr.checks, depth);
        }
        let count = self.rng.usize(1..4);
        let values: Option<Vec<Json>> =
            (0..count).map(|_| self.value(&attr.kind, &attr.render, &attr.checks, depth)).collect();
        values.map(Json::Array)
    }

    /// A value of `kind`; none for what carries no value (pad, unused).
    fn value(&mut self, kind: &AttrKind, render: &Render, checks: &Checks, depth: u8) -> Option<Json> {
        Some(match kind {
            // Sampled with its selector, by the set (see `set`).
            AttrKind::Pad | AttrKind::Unused | AttrKind::SubMessage { .. } => return None,
            AttrKind::Unsigned { width, .. } => self.integer(*width, false, render, checks),
            AttrKind::Signed { width, .. } => self.integer(*width, true, render, checks),
            AttrKind::String => {
                let len = self.length(checks, 0, 32);
                Json::String((0..len).map(|_| self.rng.alphanumeric()).collect())
            }
            AttrKind::Binary => {
                let len = match render.hint {
                    Some(DisplayHint::Ipv4) => 4,
                    Some(DisplayHint::Ipv6 | DisplayHint::Uuid) => 16,
                    Some(DisplayHint::Ipv4OrV6) => *self.rng.choice(&[4, 16]).expect("two lengths"),
                    Some(DisplayHint::Mac) => checks.exact_len.unwrap_or(6),
                    _ => self.length(checks, 0, 64),
                };
                self.bytes(len)
            }
            AttrKind::Flag => Json::Bool(true),
            AttrKind::Struct(name) => Json::Object(self.structure(name)),
            AttrKind::Array { width, signed } => {
                let count = self.rng.usize(..5);
                Json::Array((0..count).map(|_| self.integer(*width, *signed, render, &Checks::default())).collect())
            }
            AttrKind::Bitfield32 => {
                let mut word = || self.integer(4, false, render, &Checks::default());
                serde_json::json!({"value": word(), "selector": word()})
            }
            AttrKind::Nest(name) => Json::Object(self.set(self.spec.set(name).expect("nests name sets"), depth + 1)),
            AttrKind::NestTypeValue { keys, set } => {
                let mut fields: Map<String, Json> =
                    keys.iter().map(|k| (k.clone(), self.rng.u16(..16).into())).collect();
                fields.extend(self.set(self.spec.set(set).expect("nests name sets"), depth + 1));
                Json::Object(fields)
            }
            AttrKind::IndexedArray(element) => {
                let count = if depth + 1 >= MAX_DEPTH { 0 } else { self.rng.usize(..4) };
                let items: Option<Vec<Json>> =
                    (0..count).map(|_| self.value(element, render, checks, depth + 1)).collect();
                Json::Array(items?)
            }
        })
    }

    /// An integer of `width` bytes (0: `uint`/`sint`): an entry's name or
    /// flags' names if an enum names it, else a number: the least or the
    /// greatest the checks and the type allow, or one between.
    fn integer(&mut self, width: u8, signed: bool, render: &Render, checks: &Checks) -> Json {
        let bits = 8 * u32::from(if width == 0 { 8 } else { width });
        if let Some(set) = render.enumeration.as_deref().and_then(|name| self.spec.enumeration(name)) {
            if set.flags || render.as_flags {
                let names: Vec<Json> = set
                    .entries
                    .iter()
                    .filter(|(_, bit)| *bit < u64::from(bits) && self.rng.bool())
                    .map(|(name, _)| Json::String(name.clone()))
                    .collect();
                return Json::Array(names);
            }
            let fitting: Vec<&String> =
                set.entries.iter().filter(|(_, value)| bits == 64 || value >> bits == 0).map(|(n, _)| n).collect();
            if let Some(name) = self.rng.choice(fitting) {
                return Json::String(name.clone());
            }
        }
        let (type_min, type_max) = match signed {
            true => (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1),
            false => (0, (1i128 << bits) - 1),
        };
        let low = checks.min.unwrap_or(type_min).clamp(type_min, type_max);
        let high = checks.max.unwrap_or(type_max).clamp(low, type_max);
        let n = match self.rng.u8(..4) {
            0 => low,
            1 => high,
            _ => self.rng.i128(low..=high),
        };
        match signed {
            true => Json::from(n as i64),
            false => Json::from(n as u64),
        }
    }

    /// A payload length the checks allow, `default_min..=default_max`
    /// where they are silent.
    fn length(&mut self, checks: &Checks, default_min: usize, default_max: usize) -> usize {
        if let Some(len) = checks.exact_len {
            return len;
        }
        let low = checks.min_len.unwrap_or(default_min);
        let high = checks.max_len.unwrap_or(default_max.max(low)).max(low);
        match self.rng.u8(..4) {
            0 => low,
            1 => high,
            _ => self.rng.usize(low..=high),
        }
    }

    fn bytes(&mut self, len: usize) -> Json {
        let bytes: Vec<u8> = (0..len).map(|_| self.rng.u8(..)).collect();
        Json::String(hex::encode(bytes))
    }

    /// A sub-message in `format`: its header's members and its attributes.
    fn sub_message(&mut self, format: &SubMessageFormat, depth: u8) -> Map<String, Json> {
        self.message(format.fixed_header.as_deref(), format.attribute_set.as_deref(), depth + 1)
    }

    /// A message's or a sub-message's fields: every member of its fixed
    /// header, if it has one, and a random choice of its set's attributes.
    fn message(&mut self, header: Option<&str>, set: Option<&str>, depth: u8) -> Map<String, Json> {
        let mut fields = header.map(|header| self.structure(header)).unwrap_or_default();
        if let Some(set) = set.and_then(|name| self.spec.set(name)) {
            // An attribute named as a header member (rtnetlink's ifa-flags, a
            // u8 in the header and a u32 attribute) cannot be told apart from
            // it in one object: the header's is kept, as YNL keeps it.
            for (name, value) in self.set(set, depth) {
                fields.entry(name).or_insert(value);
            }
        }
        fields
    }

    /// Every member of struct `name`.
    fn structure(&mut self, name: &str) -> Map<String, Json> {
        let members = &self.spec.structure(name).expect("a spec's structs are defined").members;
        let mut fields = Map::new();
        for member in members {
            let value = match &member.kind {
                MemberKind::Pad(_) => continue,
                MemberKind::Integer { width, signed, .. } => {
                    self.integer(*width, *signed, &member.render, &Checks::default())
                }
                MemberKind::Binary(len) => self.bytes(*len),
                MemberKind::Struct(inner) => Json::Object(self.structure(inner)),
            };
            fields.insert(member.name.clone(), value);
        }
        fields
    }
}
