//! Messages as named, typed fields: decoded from bytes by a [`Spec`], or
//! as raw attributes without one; and requests encoded from JSON by a spec.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value as Json;

use crate::byte_order::{self, Order};
use crate::codec::{Attr, Attrs, DecodeError};
use crate::definitions::{MemberKind, Render};
use crate::shown::{self, Shown};
use crate::spec::{AttrKind, AttrSet, Operation, Spec};

/// One attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An unsigned integer of any width.
    Unsigned(u64),
    /// A signed integer of any width.
    Signed(i64),
    /// A string, without its NUL.
    String(String),
    /// Shown as a hex string.
    Binary(Vec<u8>),
    /// Present (a flag is never decoded as absent: it is then missing).
    Flag,
    /// The attributes of a nest, by name.
    Nested(Fields),
    /// Every occurrence of a `multi-attr` attribute, in order; the
    /// elements of an array.
    List(Vec<Value>),
    /// The name of the enum entry a number stands for.
    Enum(String),
    /// The names of the bits a flags number sets, lowest first.
    Flags(Vec<String>),
    /// A value as its `display-hint` shows it (an address, a MAC, hex).
    Text(String),
}

/// Attributes by name, in the order they came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields(pub Vec<(String, Value)>);

impl Fields {
    /// The value of the attribute called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// One decoded generic netlink message.
///
/// ```
/// use kulink_genl::{codec::AttrWriter, Message, Spec, Value};
/// let spec = Spec::parse("name: demo\nattribute-sets:\n  - name: main\n    attributes:\n      - { name: count, type: u32 }\noperations:\n  list:\n    - { name: notify, attribute-set: main }\n").unwrap();
/// let mut attrs = AttrWriter::new();
/// attrs.put(1, &7u32.to_ne_bytes());
/// let message = Message::decode(Some(&spec), 1, &attrs.into_bytes()).unwrap();
/// assert_eq!(message.op, "notify");
/// assert_eq!(message.attrs.get("count"), Some(&Value::Unsigned(7)));
/// assert_eq!(message.to_json()["attrs"]["count"], 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The operation's name, or `cmd-N` when the spec does not know the
    /// command (or there is no spec).
    pub op: String,
    /// Its attributes, by name (`attr-N` for those the spec does not know).
    pub attrs: Fields,
}

impl Message {
    /// Decodes the body (everything after the generic netlink header: the
    /// fixed header, if the operation has one, then the attributes) of a
    /// message from the kernel with command `cmd`. Without a spec, or for
    /// a command the spec does not know, attributes are named by their
    /// type number and kept as bytes.
    pub fn decode(spec: Option<&Spec>, cmd: u8, body: &[u8]) -> Result<Self, DecodeError> {
        match spec.zip(spec.and_then(|s| s.operation_by_value(cmd.into()))) {
            Some((spec, op)) => Self::decode_as(spec, op, body),
            None => Ok(Self { op: format!("cmd-{cmd}"), attrs: decode_raw(Attrs(body))? }),
        }
    }

    /// Decodes the body of a message of operation `op`, whichever way it
    /// went: a request as the kernel reads it, or what the kernel sent.
    /// The fixed header's members come first, then the attributes.
    pub fn decode_as(spec: &Spec, op: &Operation, body: &[u8]) -> Result<Self, DecodeError> {
        let (mut attrs, rest) = decode_header(spec, op.fixed_header.as_deref(), body, "fixed header")?;
        let set = op.attribute_set.as_deref().and_then(|name| spec.set(name));
        attrs.0.extend(
            match set {
                Some(set) => decode_set(spec, set, Attrs(rest), None)?,
                None => decode_raw(Attrs(rest))?,
            }
            .0,
        );
        Ok(Self { op: op.name.clone(), attrs })
    }

    /// [`Message::decode`] of a body a machine of byte order `order` wrote
    /// (a big-endian guest's, read on a little-endian host).
    pub fn decode_from(spec: Option<&Spec>, cmd: u8, body: &[u8], order: Order) -> Result<Self, DecodeError> {
        if order.is_native() {
            return Self::decode(spec, cmd, body);
        }
        let mut body = body.to_vec();
        match spec.zip(spec.and_then(|s| s.operation_by_value(cmd.into()))) {
            Some((spec, op)) => byte_order::turn_body(spec, op, &mut body, order)?,
            None => byte_order::turn_attributes(&mut body, order)?,
        }
        Self::decode(spec, cmd, &body)
    }

    /// [`Message::decode_as`] of a body a machine of byte order `order` wrote.
    pub fn decode_as_from(spec: &Spec, op: &Operation, body: &[u8], order: Order) -> Result<Self, DecodeError> {
        if order.is_native() {
            return Self::decode_as(spec, op, body);
        }
        let mut body = body.to_vec();
        byte_order::turn_body(spec, op, &mut body, order)?;
        Self::decode_as(spec, op, &body)
    }

    /// As JSON: `{"op": ..., "attrs": {...}}`.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).expect("a message is always JSON")
    }
}

fn decode_raw(attrs: Attrs<'_>) -> Result<Fields, DecodeError> {
    let mut fields = Fields::default();
    for attr in attrs.iter() {
        let attr = attr?;
        fields.0.push((attr.kind.to_string(), Value::Binary(attr.payload.to_vec())));
    }
    Ok(fields)
}

/// The sets being decoded around an attribute, innermost first, each with
/// what it decoded so far: where a sub-message's selector is found.
struct Scope<'a> {
    set: &'a AttrSet,
    fields: &'a Fields,
    outer: Option<&'a Scope<'a>>,
}

impl Scope<'_> {
    /// The selector's value, from the innermost set that has an attribute
    /// of that name (as YNL looks it up); none if it has not come.
    fn selector(&self, name: &str) -> Option<String> {
        if self.set.attribute(name).is_none() {
            return self.outer?.selector(name);
        }
        match self.fields.get(name)? {
            Value::String(text) | Value::Enum(text) | Value::Text(text) => Some(text.clone()),
            Value::Unsigned(n) => Some(n.to_string()),
            Value::Signed(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn decode_set(spec: &Spec, set: &AttrSet, attrs: Attrs<'_>, outer: Option<&Scope<'_>>) -> Result<Fields, DecodeError> {
    let mut fields = Fields::default();
    for attr in attrs.iter() {
        let attr = attr?;
        // A kernel newer than the spec may send attributes it does not name.
        let Some(attr_spec) = set.attribute_by_value(attr.kind) else {
            fields.0.push((format!("attr-{}", attr.kind), Value::Binary(attr.payload.to_vec())));
            continue;
        };
        let scope = Scope { set, fields: &fields, outer };
        let Some(value) = decode_one(spec, &attr_spec.kind, &attr_spec.render, attr, &scope)? else { continue };
        let existing = fields.0.iter_mut().find(|(name, _)| *name == attr_spec.name);
        match (existing, attr_spec.multi) {
            (None, false) => fields.0.push((attr_spec.name.clone(), value)),
            (None, true) => fields.0.push((attr_spec.name.clone(), Value::List(vec![value]))),
            (Some((_, Value::List(list))), true) => list.push(value),
            _ => return Err(DecodeError::Repeated(attr_spec.name.clone())),
        }
    }
    Ok(fields)
}

/// One attribute's value as its kind says, shown as `render` has it; none
/// for padding.
fn decode_one(
    spec: &Spec,
    kind: &AttrKind,
    render: &Render,
    attr: Attr<'_>,
    scope: &Scope<'_>,
) -> Result<Option<Value>, DecodeError> {
    Ok(Some(match kind {
        AttrKind::Pad => return Ok(None),
        AttrKind::Unsigned { width, big_endian } => {
            shown_integer(spec, render, Value::Unsigned(integer(attr.payload, *width, *big_endian)?))
        }
        AttrKind::Signed { width, big_endian } => {
            shown_integer(spec, render, Value::Signed(signed(attr.payload, *width, *big_endian)?))
        }
        AttrKind::String => Value::String(attr.str()?.to_owned()),
        AttrKind::Binary => shown_bytes(render, attr.payload),
        // A number the spec keeps free carries nothing it can name: its bytes.
        AttrKind::Unused => Value::Binary(attr.payload.to_vec()),
        AttrKind::Struct(name) => Value::Nested(decode_struct(spec, name, attr.payload)?),
        AttrKind::SubMessage { name, selector } => {
            let sub = spec.sub_message(name).expect("a spec's sub-messages are defined");
            let chosen = scope.selector(selector);
            // A format the spec does not know (a newer kernel's): its bytes.
            let Some(format) = sub.formats.iter().find(|f| Some(&f.value) == chosen.as_ref()) else {
                return Ok(Some(Value::Binary(attr.payload.to_vec())));
            };
            let (mut fields, rest) =
                decode_header(spec, format.fixed_header.as_deref(), attr.payload, "sub-message header")?;
            if let Some(set) = format.attribute_set.as_deref().and_then(|s| spec.set(s)) {
                // YNL looks no further than the sub-message's own attributes.
                fields.0.extend(decode_set(spec, set, Attrs(rest), None)?.0);
            }
            Value::Nested(fields)
        }
        AttrKind::Array { width, signed: is_signed } => {
            if attr.payload.len() % usize::from(*width) != 0 {
                return Err(DecodeError::BadLength { what: "array attribute", len: attr.payload.len() });
            }
            let element = |chunk: &[u8]| -> Result<Value, DecodeError> {
                let value = match is_signed {
                    true => Value::Signed(signed(chunk, *width, false)?),
                    false => Value::Unsigned(integer(chunk, *width, false)?),
                };
                Ok(shown_integer(spec, render, value))
            };
            Value::List(attr.payload.chunks(usize::from(*width)).map(element).collect::<Result<_, _>>()?)
        }
        AttrKind::Flag if attr.payload.is_empty() => Value::Flag,
        AttrKind::Flag => return Err(DecodeError::BadLength { what: "flag attribute", len: attr.payload.len() }),
        AttrKind::Nest(inner) => {
            let inner = spec.set(inner).expect("a spec's nests name its sets");
            Value::Nested(decode_set(spec, inner, attr.nested(), Some(scope))?)
        }
        AttrKind::Bitfield32 => {
            if attr.payload.len() != 8 {
                return Err(DecodeError::BadLength { what: "bitfield32 attribute", len: attr.payload.len() });
            }
            let word = |at: usize| {
                let raw = integer(&attr.payload[at..at + 4], 4, false).unwrap_or_default();
                shown_integer(spec, render, Value::Unsigned(raw))
            };
            Value::Nested(Fields(vec![("value".into(), word(0)), ("selector".into(), word(4))]))
        }
        AttrKind::NestTypeValue { keys, set } => {
            let mut fields = Fields::default();
            let mut level = attr;
            for key in keys {
                level = level
                    .nested()
                    .iter()
                    .next()
                    .ok_or(DecodeError::BadLength { what: "nest-type-value level", len: level.payload.len() })??;
                fields.0.push((key.clone(), Value::Unsigned(level.kind.into())));
            }
            let set = spec.set(set).expect("a spec's nests name its sets");
            fields.0.extend(decode_set(spec, set, level.nested(), None)?.0);
            Value::Nested(fields)
        }
        AttrKind::IndexedArray(element) => {
            let mut list = Vec::new();
            for item in attr.nested().iter() {
                list.extend(decode_one(spec, element, render, item?, scope)?);
            }
            Value::List(list)
        }
    }))
}

impl From<Shown> for Value {
    fn from(shown: Shown) -> Self {
        match shown {
            Shown::Enum(name) => Value::Enum(name),
            Shown::Flags(names) => Value::Flags(names),
            Shown::Text(text) => Value::Text(text),
        }
    }
}

/// An integer value as `render` shows it, or as it is.
fn shown_integer(spec: &Spec, render: &Render, value: Value) -> Value {
    let n = match value {
        Value::Unsigned(n) => i128::from(n),
        Value::Signed(n) => i128::from(n),
        _ => return value,
    };
    shown::integer(spec, render, n).map_or(value, Value::from)
}

/// Bytes as `render` shows them, or as bytes.
fn shown_bytes(render: &Render, payload: &[u8]) -> Value {
    shown::bytes(render, payload).map_or_else(|| Value::Binary(payload.to_vec()), Value::from)
}

/// The fixed header `header` (a message's or a sub-message's, if it has
/// one) at the start of `body`, whole, and the bytes after it.
fn decode_header<'a>(
    spec: &Spec,
    header: Option<&str>,
    body: &'a [u8],
    what: &'static str,
) -> Result<(Fields, &'a [u8]), DecodeError> {
    let Some(header) = header else { return Ok((Fields::default(), body)) };
    let size = spec.struct_size(header);
    let bytes = body.get(..size).ok_or(DecodeError::BadLength { what, len: body.len() })?;
    Ok((decode_struct(spec, header, bytes)?, &body[size..]))
}

/// The members of struct `name` from its bytes: integers, bytes, inner
/// structs, shown as each member's `enum` or `display-hint` has it. Bytes
/// past the struct's end (members a newer kernel added) are left; a
/// struct that ends after a whole member (an older kernel's) gives the
/// members it holds, and one cut inside a member is an error.
fn decode_struct(spec: &Spec, name: &str, bytes: &[u8]) -> Result<Fields, DecodeError> {
    let short = || DecodeError::BadLength { what: "struct", len: bytes.len() };
    let members = &spec.structure(name).expect("a spec's structs are defined").members;
    let mut fields = Fields::default();
    let mut at = 0;
    for member in members {
        let size = match &member.kind {
            MemberKind::Integer { width, .. } => usize::from(*width),
            MemberKind::Pad(len) | MemberKind::Binary(len) => *len,
            MemberKind::Struct(inner) => spec.struct_size(inner),
        };
        // An older kernel's struct ends after a member the spec's goes on
        // from (rtnl_link_stats64 grew in 5.19): the members it holds.
        if at == bytes.len() && at > 0 {
            break;
        }
        let field = bytes.get(at..at + size).ok_or_else(short)?;
        at += size;
        let value = match &member.kind {
            MemberKind::Pad(_) => continue,
            MemberKind::Integer { width, signed: false, big_endian } => {
                shown_integer(spec, &member.render, Value::Unsigned(integer(field, *width, *big_endian)?))
            }
            MemberKind::Integer { width, signed: true, big_endian } => {
                shown_integer(spec, &member.render, Value::Signed(signed(field, *width, *big_endian)?))
            }
            MemberKind::Binary(_) => shown_bytes(&member.render, field),
            MemberKind::Struct(inner) => Value::Nested(decode_struct(spec, inner, field)?),
        };
        fields.0.push((member.name.clone(), value));
    }
    Ok(fields)
}

/// A signed integer payload, sign-extended from its width.
fn signed(payload: &[u8], width: u8, big_endian: bool) -> Result<i64, DecodeError> {
    let raw = integer(payload, width, big_endian)?;
    let bits = 8 * payload.len() as u32;
    Ok(((raw << (64 - bits)) as i64) >> (64 - bits))
}

/// An integer payload of `width` bytes (0: 4 or 8, as `uint` has).
fn integer(payload: &[u8], width: u8, big_endian: bool) -> Result<u64, DecodeError> {
    let ok = match width {
        0 => matches!(payload.len(), 4 | 8),
        w => payload.len() == usize::from(w),
    };
    if !ok {
        return Err(DecodeError::BadLength { what: "integer attribute", len: payload.len() });
    }
    let mut bytes = [0u8; 8];
    Ok(if big_endian {
        bytes[8 - payload.len()..].copy_from_slice(payload);
        u64::from_be_bytes(bytes)
    } else if cfg!(target_endian = "little") {
        bytes[..payload.len()].copy_from_slice(payload);
        u64::from_le_bytes(bytes)
    } else {
        bytes[8 - payload.len()..].copy_from_slice(payload);
        u64::from_be_bytes(bytes)
    })
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Unsigned(n) => s.serialize_u64(*n),
            Value::Signed(n) => s.serialize_i64(*n),
            Value::String(text) => s.serialize_str(text),
            Value::Binary(bytes) => s.serialize_str(&hex::encode(bytes)),
            Value::Flag => s.serialize_bool(true),
            Value::Enum(text) | Value::Text(text) => s.serialize_str(text),
            Value::Flags(names) => names.serialize(s),
            Value::Nested(fields) => fields.serialize(s),
            Value::List(values) => {
                let mut seq = s.serialize_seq(Some(values.len()))?;
                values.iter().try_for_each(|v| seq.serialize_element(v))?;
                seq.end()
            }
        }
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        self.0.iter().try_for_each(|(name, value)| map.serialize_entry(name, value))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::codec::AttrWriter;

    const SPEC: &str = r#"
name: demo
attribute-sets:
  - name: main
    attributes:
      - { name: port, type: u16, byte-order: big-endian }
      - { name: count, type: u64 }
      - { name: pad, type: pad }
      - { name: label, type: string }
      - { name: item, type: nest, nested-attributes: item, multi-attr: true }
      - { name: blob, type: binary }
      - { name: on, type: flag }
  - name: item
    attributes:
      - { name: delta, type: s8 }
      - { name: total, type: sint }
operations:
  list:
    - { name: get, attribute-set: main }
    - { name: ping }
"#;

    fn spec() -> Spec {
        Spec::parse(SPEC).unwrap()
    }

    #[test]
    fn encode_then_decode_gives_the_same_fields() {
        let spec = spec();
        let request = json!({
            "port": 5000, "count": 1u64 << 40, "label": "udp",
            "item": [{"delta": -3, "total": -5_000_000_000i64}, {"delta": 7}],
            "blob": "00ff", "on": true
        });
        let (cmd, bytes) = spec.encode("get", &request).unwrap();
        assert_eq!(cmd, 1);
        // The port is big-endian on the wire.
        assert_eq!(&bytes[4..6], &[0x13, 0x88]);
        let message = Message::decode(Some(&spec), cmd, &bytes).unwrap();
        assert_eq!(message.op, "get");
        assert_eq!(message.to_json(), json!({"op": "get", "attrs": request}));
        let item = message.attrs.get("item").unwrap();
        let Value::List(items) = item else { panic!("{item:?}") };
        assert_eq!(
            items[0],
            Value::Nested(Fields(vec![
                ("delta".into(), Value::Signed(-3)),
                ("total".into(), Value::Signed(-5_000_000_000))
            ]))
        );
    }

    #[test]
    fn unknown_commands_and_attributes_stay_raw() {
        let spec = spec();
        let mut attrs = AttrWriter::new();
        attrs.put(2, &5u64.to_ne_bytes());
        attrs.put(3, &[0; 4]); // pad: skipped
        attrs.put(40, &[1, 2]);
        let bytes = attrs.into_bytes();
        let message = Message::decode(Some(&spec), 1, &bytes).unwrap();
        assert_eq!(message.to_json(), json!({"op": "get", "attrs": {"count": 5, "attr-40": "0102"}}));
        assert_eq!(Message::decode(Some(&spec), 9, &bytes).unwrap().op, "cmd-9");
        let raw = Message::decode(None, 1, &bytes).unwrap();
        assert_eq!(raw.to_json()["attrs"]["2"], json!(hex::encode(5u64.to_ne_bytes())));
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let spec = spec();
        let decode = |kind: u16, payload: &[u8]| {
            let mut attrs = AttrWriter::new();
            attrs.put(kind, payload);
            attrs.put(kind, payload);
            Message::decode(Some(&spec), 1, &attrs.into_bytes())
        };
        assert!(matches!(decode(2, &[1, 2, 3]), Err(DecodeError::BadLength { .. })));
        assert!(matches!(decode(7, &[1]), Err(DecodeError::BadLength { .. })));
        assert_eq!(decode(2, &[0; 8]), Err(DecodeError::Repeated("count".into())));
    }

    #[test]
    fn bad_request_values_name_the_attribute() {
        let spec = spec();
        let err = |attrs: Json| spec.encode("get", &attrs).unwrap_err().0;
        assert_eq!(err(json!({"port": 70000})), "get.port: 70000 is not a u16");
        assert_eq!(err(json!({"item": [{"delta": 200}]})), "get.item.delta: 200 is not an s8");
        assert_eq!(err(json!({"nope": 1})), "get.nope: no such attribute in main");
        assert_eq!(err(json!({"blob": "xyz"})), "get.blob: \"xyz\" is not a hex string");
        assert!(spec.encode("ping", &json!({"port": 1})).unwrap_err().0.contains("takes no attributes"));
        assert!(spec.encode("ping", &json!({})).is_ok());
        assert!(spec.encode("gone", &json!({})).unwrap_err().0.contains("no operation gone"));
    }

    #[test]
    fn legacy_types_round_trip_and_replies_decode_by_their_own_numbers() {
        let spec = Spec::parse(crate::spec::tests::LEGACY).unwrap();
        let request = json!({
            "mask": {"value": 5, "selector": 7},
            "ids": [10, 20],
            "items": [{"id": 1}, {"id": 2}],
        });
        let (cmd, bytes) = spec.encode("get", &request).unwrap();
        assert_eq!(cmd, 1);
        // The bitfield: value then selector, each a host-order u32.
        assert_eq!(&bytes[4..12], [5u32.to_ne_bytes(), 7u32.to_ne_bytes()].concat());
        // The array's elements are numbered from 0.
        assert_eq!(u16::from_ne_bytes([bytes[18], bytes[19]]), 0);
        let reply = Message::decode(Some(&spec), 3, &bytes).unwrap();
        assert_eq!(reply.to_json(), json!({"op": "get", "attrs": request}));
        let mut attrs = AttrWriter::new();
        attrs.begin_nest(4);
        attrs.begin_nest(7);
        attrs.begin_nest(9);
        attrs.put(1, &42u32.to_ne_bytes());
        attrs.end_nest();
        attrs.end_nest();
        attrs.end_nest();
        let event = Message::decode(Some(&spec), 4, &attrs.into_bytes()).unwrap();
        assert_eq!(
            event.to_json(),
            json!({"op": "changed", "attrs": {"policy": {"policy-id": 7, "attr-id": 9, "id": 42}}})
        );
        let err = |op: &str, attrs: Json| spec.encode(op, &attrs).unwrap_err().0;
        assert!(err("changed", json!({})).contains("has no request"));
        assert!(err("get", json!({"mask": {"value": 1}})).contains("is not a bitfield32"));
        assert!(err("get", json!({"ids": [1, -2]})).contains("get.ids[1]: -2 is not an unsigned integer"));
        assert!(err("get", json!({"ids": vec![0; 16385]})).contains("at most 16384 elements"));
        assert_eq!(
            err("get", json!({"policy": {"policy-id": 1}})),
            "get.policy.attr-id: want an attribute type number"
        );
        let (cmd, bytes) = spec.encode("get", &json!({"policy": {"policy-id": 7, "attr-id": 9, "id": 42}})).unwrap();
        assert_eq!((cmd, Message::decode(Some(&spec), 3, &bytes).unwrap().attrs), (1, event.attrs));
    }

    const TYPED: &str = r#"
name: typed
protocol: genetlink-legacy
definitions:
  - { name: state, type: enum, entries: [ down, up ] }
  - { name: opts, type: flags, entries: [ fast, safe ] }
  - name: header
    type: struct
    members:
      - { name: ifindex, type: u32 }
      - { name: pad, type: pad, len: 2 }
      - { name: port, type: u16, byte-order: big-endian }
  - name: link
    type: struct
    members:
      - { name: state, type: u8, enum: state }
      - { name: mac, type: binary, len: 6, display-hint: mac }
      - { name: inner, type: binary, struct: header }
attribute-sets:
  - name: main
    attributes:
      - { name: addr, type: u32, byte-order: big-endian, display-hint: ipv4 }
      - { name: state, type: u32, enum: state }
      - { name: opts, type: u32, enum: opts }
      - { name: link, type: binary, struct: link }
      - { name: rates, type: binary, sub-type: u16 }
      - { name: id, type: binary, display-hint: uuid }
operations:
  fixed-header: header
  list:
    - { name: get, attribute-set: main }
"#;

    #[test]
    fn structs_fixed_headers_enums_and_hints_round_trip() {
        let spec = Spec::parse(TYPED).unwrap();
        let fields = json!({
            "ifindex": 3, "port": 4789,
            "addr": "10.0.2.15", "state": "up", "opts": ["fast", "safe"],
            "link": {"state": "down", "mac": "52:54:00:12:34:56", "inner": {"ifindex": 7, "port": 80}},
            "rates": [1, 65535], "id": "12345678-9abc-def0-1234-56789abcdef0",
        });
        let (cmd, body) = spec.encode("get", &fields).unwrap();
        assert_eq!(spec.struct_size("header"), 8);
        assert_eq!(&body[..8], [3u32.to_ne_bytes().as_slice(), &[0, 0], &4789u16.to_be_bytes()].concat());
        // The address attribute: in network order on the wire.
        assert_eq!(&body[12..16], [10, 0, 2, 15]);
        let message = Message::decode(Some(&spec), cmd, &body).unwrap();
        assert_eq!(message.to_json(), json!({"op": "get", "attrs": fields}));
        assert_eq!(message.attrs.get("state"), Some(&Value::Enum("up".into())));
        // Numbers are taken for names, and a number no entry names stays one.
        let (_, body) = spec.encode("get", &json!({"state": 1, "opts": 4})).unwrap();
        assert_eq!(
            Message::decode(Some(&spec), cmd, &body).unwrap().to_json()["attrs"],
            json!({"ifindex": 0, "port": 0, "state": "up", "opts": 4})
        );
        let err = |fields: Json| spec.encode("get", &fields).unwrap_err().0;
        assert_eq!(err(json!({"state": "sideways"})), "get.state: \"sideways\" is not an unsigned integer");
        assert_eq!(err(json!({"link": {"mac": "0102"}})), "get.link.mac: \"0102\" is not 6 bytes");
        assert_eq!(err(json!({"link": {"speed": 1}})), "get.link.speed: no such member in struct link");
        assert_eq!(err(json!({"rates": [70000]})), "get.rates[0]: 70000 is not a u16");
        // An older kernel's shorter struct gives its members; one cut mid-member does not decode.
        let link = |payload: &[u8]| {
            let mut attrs = AttrWriter::new();
            attrs.put(4, payload);
            Message::decode(Some(&spec), cmd, &[vec![0; 8], attrs.into_bytes()].concat())
        };
        assert_eq!(link(&[1]).unwrap().to_json()["attrs"]["link"], json!({"state": "up"}));
        assert!(matches!(link(&[1, 2]), Err(DecodeError::BadLength { .. })));
        // A body shorter than its fixed header, or an array cut mid-element.
        assert!(matches!(Message::decode(Some(&spec), cmd, &[0; 4]), Err(DecodeError::BadLength { .. })));
        let mut attrs = AttrWriter::new();
        attrs.put(5, &[1, 2, 3]);
        let body = [vec![0; 8], attrs.into_bytes()].concat();
        assert!(matches!(Message::decode(Some(&spec), cmd, &body), Err(DecodeError::BadLength { .. })));
    }

    const RAW: &str = r#"
name: links
protocol: netlink-raw
protonum: 0
definitions:
  - name: ifinfomsg
    type: struct
    members:
      - { name: ifi-family, type: u8 }
      - { name: pad, type: pad, len: 3 }
      - { name: ifi-index, type: s32 }
attribute-sets:
  - name: link-attrs
    attributes:
      - { name: ifname, type: string, value: 3 }
      - { name: linkinfo, type: nest, nested-attributes: linkinfo-attrs, value: 18 }
  - name: linkinfo-attrs
    attributes:
      - { name: kind, type: string }
      - { name: data, type: sub-message, sub-message: linkinfo-data-msg, selector: kind }
  - name: vlan-attrs
    attributes:
      - { name: id, type: u16 }
sub-messages:
  - name: linkinfo-data-msg
    formats:
      - { value: vlan, attribute-set: vlan-attrs }
      - { value: dummy }
operations:
  enum-model: directional
  fixed-header: ifinfomsg
  list:
    - name: newlink
      attribute-set: link-attrs
      do:
        request: { value: 16 }
        reply: { value: 16 }
"#;

    #[test]
    fn netlink_raw_messages_and_sub_messages_round_trip() {
        let spec = Spec::parse(RAW).unwrap();
        assert_eq!(spec.protocol, crate::spec::Protocol::Raw(0));
        let op = spec.operation("newlink").unwrap();
        assert_eq!((op.value, op.reply_value), (16, 16));
        let fields = json!({
            "ifi-family": 0, "ifi-index": 5, "ifname": "eth0.7",
            "linkinfo": {"kind": "vlan", "data": {"id": 7}},
        });
        let body = spec.encode_body(op, &fields).unwrap();
        assert_eq!(Message::decode_as(&spec, op, &body).unwrap().to_json()["attrs"], fields);
        // The selector chooses the format; one the spec lacks keeps its bytes.
        let unknown = json!({"linkinfo": {"kind": "veth", "data": {}}});
        assert!(spec.encode_body(op, &unknown).unwrap_err().0.contains("names no format"));
        let mut attrs = AttrWriter::new();
        attrs.begin_nest(18);
        attrs.put(1, b"veth\0");
        attrs.put(2, &[1, 2]);
        attrs.end_nest();
        let body = [vec![0; 8], attrs.into_bytes()].concat();
        let decoded = Message::decode_as(&spec, op, &body).unwrap().to_json();
        assert_eq!(decoded["attrs"]["linkinfo"], json!({"kind": "veth", "data": "0102"}));
        // Message types are 16 bits: no generic netlink command.
        assert!(spec.encode("newlink", &json!({})).is_ok(), "16 fits a command");
        let bad = |from: &str, to: &str| Spec::parse(&RAW.replace(from, to)).unwrap_err().0;
        assert!(bad("protonum: 0\n", "").contains("needs protonum"));
        assert!(bad("sub-message: linkinfo-data-msg", "sub-message: gone").contains("sub-message gone"));
        assert!(bad("attribute-set: vlan-attrs }", "attribute-set: gone }").contains("gone is not an attribute set"));
    }
}
