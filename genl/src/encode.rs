//! Requests encoded from JSON by a [`Spec`]: fields by name, in the forms
//! decoding gives them (numbers or entry names, hint text, objects for
//! nests, structs and sub-messages), checked against the spec as they go.

use serde_json::Value as Json;

use crate::codec::{AttrWriter, NLA_TYPE_MASK};
use crate::definitions::{MemberKind, Render};
use crate::shown;
use crate::spec::{AttrKind, AttrSet, Operation, Spec, SpecError};

impl Spec {
    /// Encodes a request for operation `op` from a JSON object of its
    /// attributes by name: numbers for integers, strings for strings, hex
    /// strings for binary, `true` for a flag, objects for nests and
    /// structs, arrays for `multi-attr` and arrays; an enum's entry or a
    /// flags' names, and a `display-hint`'s text, as decoding shows them.
    /// A fixed header's members are named in the same object. Returns the
    /// command number and the body (fixed header and attributes).
    ///
    /// ```
    /// let spec = kulink_genl::Spec::parse("name: demo\nattribute-sets:\n  - name: main\n    attributes:\n      - { name: every, type: u32 }\noperations:\n  list:\n    - { name: set, attribute-set: main }\n").unwrap();
    /// let (cmd, attrs) = spec.encode("set", &serde_json::json!({"every": 4})).unwrap();
    /// assert_eq!((cmd, attrs.len()), (1, 8));
    /// assert!(spec.encode("set", &serde_json::json!({"every": -1})).is_err());
    /// ```
    pub fn encode(&self, op: &str, attrs: &Json) -> Result<(u8, Vec<u8>), SpecError> {
        let operation = self.operation(op).ok_or_else(|| SpecError(format!("{}: no operation {op}", self.name)))?;
        if operation.value == 0 {
            return Err(SpecError(format!("{op} is the kernel's notification: it has no request")));
        }
        let command = u8::try_from(operation.value)
            .map_err(|_| SpecError(format!("{op}: message type {} is no generic netlink command", operation.value)))?;
        Ok((command, self.encode_body(operation, attrs)?))
    }

    /// The body of a message of `operation` (either way: what
    /// [`Message::decode_as`](crate::Message::decode_as) reads) from its
    /// fields, as [`Spec::encode`] takes them.
    pub fn encode_body(&self, operation: &Operation, fields: &Json) -> Result<Vec<u8>, SpecError> {
        let op = operation.name.as_str();
        let Json::Object(map) = fields else {
            return Err(SpecError(format!("{op}: attributes must be an object, not {fields}")));
        };
        let mut attrs = map.clone();
        let mut body = self.take_header(operation.fixed_header.as_deref(), &mut attrs, op)?;
        let mut out = AttrWriter::new();
        match &operation.attribute_set {
            _ if attrs.is_empty() => {}
            Some(set) => {
                let set = self.set(set).expect("a spec's operations name its sets");
                self.encode_set(set, &Json::Object(attrs), &mut out, op, None)?;
            }
            None => return Err(SpecError(format!("operation {op} takes no attributes"))),
        }
        body.extend(out.into_bytes());
        Ok(body)
    }

    /// The fixed header `header` (a message's or a sub-message's, if it has
    /// one) from its members, taken out of `fields`, which keeps the
    /// attributes.
    fn take_header(
        &self,
        header: Option<&str>,
        fields: &mut serde_json::Map<String, Json>,
        path: &str,
    ) -> Result<Vec<u8>, SpecError> {
        let Some(header) = header else { return Ok(Vec::new()) };
        let members = &self.structure(header).expect("a spec's headers are defined").members;
        let given: serde_json::Map<String, Json> =
            members.iter().filter_map(|m| Some((m.name.clone(), fields.remove(&m.name)?))).collect();
        self.encode_struct(header, &Json::Object(given), path)
    }

    /// Struct `name` from an object of its members; a member not given is
    /// zero, as YNL has it.
    fn encode_struct(&self, name: &str, value: &Json, path: &str) -> Result<Vec<u8>, SpecError> {
        let Json::Object(map) = value else {
            return Err(SpecError(format!("{path}: a struct must be an object, not {value}")));
        };
        let members = &self.structure(name).expect("a spec's structs are defined").members;
        if let Some(key) = map.keys().find(|key| !members.iter().any(|m| &m.name == *key)) {
            return Err(SpecError(format!("{path}.{key}: no such member in struct {name}")));
        }
        let mut bytes = Vec::new();
        for member in members {
            let path = format!("{path}.{}", member.name);
            let given = map.get(&member.name);
            let bad = |want: &str| SpecError(format!("{path}: {} is not {want}", given.unwrap_or(&Json::Null)));
            match &member.kind {
                MemberKind::Pad(len) => bytes.resize(bytes.len() + len, 0),
                MemberKind::Integer { width, signed, big_endian } => {
                    let n = match given {
                        None => 0,
                        Some(value) => {
                            self.integer_of(&member.render, value, *width, *signed).map_err(|want| bad(&want))?
                        }
                    };
                    bytes.extend(int_bytes(n, *width, *big_endian));
                }
                MemberKind::Binary(len) => match given {
                    None => bytes.resize(bytes.len() + len, 0),
                    Some(value) => {
                        let field = value.as_str().and_then(|text| shown::parse_bytes(&member.render, text));
                        let field = field.filter(|f| f.len() == *len).ok_or_else(|| bad(&format!("{len} bytes")))?;
                        bytes.extend(field);
                    }
                },
                MemberKind::Struct(inner) => bytes.extend(self.encode_struct(
                    inner,
                    given.unwrap_or(&Json::Object(Default::default())),
                    &path,
                )?),
            }
        }
        Ok(bytes)
    }

    /// The bits of an integer of `width` bytes (0: `uint`/`sint`, up to 8)
    /// from a number, an entry's name, flags' names or a hint's text; what
    /// it is not otherwise.
    fn integer_of(&self, render: &Render, value: &Json, width: u8, signed: bool) -> Result<u64, String> {
        let bits = 8 * u32::from(if width == 0 { 8 } else { width });
        let n = if signed {
            let n = match value.as_i64() {
                Some(n) => n,
                None if value.is_number() => return Err("an integer".into()),
                None => shown::parse_integer(self, render, value).ok_or("an integer")? as i64,
            };
            if bits < 64 && !(-(1i64 << (bits - 1))..(1i64 << (bits - 1))).contains(&n) {
                return Err(format!("an s{bits}"));
            }
            n as u64
        } else {
            let n = match value.as_u64() {
                Some(n) => n,
                None if value.is_number() => return Err("an unsigned integer".into()),
                None => shown::parse_integer(self, render, value).ok_or("an unsigned integer")?,
            };
            if bits < 64 && n >> bits != 0 {
                return Err(format!("a u{bits}"));
            }
            n
        };
        Ok(n)
    }

    fn encode_set(
        &self,
        set: &AttrSet,
        attrs: &Json,
        out: &mut AttrWriter,
        path: &str,
        outer: Option<&JsonScope<'_>>,
    ) -> Result<(), SpecError> {
        let Json::Object(map) = attrs else {
            return Err(SpecError(format!("{path}: a nest must be an object, not {attrs}")));
        };
        let scope = JsonScope { set, map, outer };
        if let Some(name) = map.keys().find(|name| set.attribute(name).is_none()) {
            return Err(SpecError(format!("{path}.{name}: no such attribute in {}", set.name)));
        }
        // In the spec's order, as the kernel's own messages come.
        for attr in &set.attributes {
            let Some(value) = map.get(&attr.name) else { continue };
            let path = format!("{path}.{}", attr.name);
            let values = match (attr.multi, value) {
                (true, Json::Array(list)) => list.iter().collect(),
                _ => vec![value],
            };
            for value in values {
                self.encode_one(&attr.kind, &attr.render, attr.value, value, out, &path, &scope)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // one attribute and where it is
    fn encode_one(
        &self,
        kind: &AttrKind,
        render: &Render,
        kind_no: u16,
        value: &Json,
        out: &mut AttrWriter,
        path: &str,
        scope: &JsonScope<'_>,
    ) -> Result<(), SpecError> {
        let bad = |want: &str| SpecError(format!("{path}: {value} is not {want}"));
        match kind {
            AttrKind::Unsigned { width, big_endian } => {
                let n = self.integer_of(render, value, *width, false).map_err(|want| bad(&want))?;
                // uint: the narrowest of 4 or 8 bytes that holds it.
                let width = match width {
                    0 if n > u64::from(u32::MAX) => 8,
                    0 => 4,
                    w => *w,
                };
                out.put(kind_no, &int_bytes(n, width, *big_endian));
            }
            AttrKind::Signed { width, big_endian } => {
                let n = self.integer_of(render, value, *width, true).map_err(|want| bad(&want))?;
                let width = match width {
                    0 if i32::try_from(n as i64).is_err() => 8,
                    0 => 4,
                    w => *w,
                };
                out.put(kind_no, &int_bytes(n, width, *big_endian));
            }
            AttrKind::String => {
                let text = value.as_str().ok_or_else(|| bad("a string"))?;
                let mut bytes = text.as_bytes().to_vec();
                bytes.push(0);
                out.put(kind_no, &bytes);
            }
            AttrKind::Binary => {
                let bytes = value
                    .as_str()
                    .and_then(|text| shown::parse_bytes(render, text))
                    .ok_or_else(|| bad("a hex string"))?;
                out.put(kind_no, &bytes);
            }
            AttrKind::Struct(name) => out.put(kind_no, &self.encode_struct(name, value, path)?),
            AttrKind::SubMessage { name, selector } => {
                let sub = self.sub_message(name).expect("a spec's sub-messages are defined");
                let chosen = scope.selector(selector);
                let format = sub.formats.iter().find(|f| Some(&f.value) == chosen.as_ref()).ok_or_else(|| {
                    SpecError(format!("{path}: its selector {selector} ({chosen:?}) names no format of {name}"))
                })?;
                let mut fields = value.as_object().cloned().ok_or_else(|| bad("an object"))?;
                let mut payload = self.take_header(format.fixed_header.as_deref(), &mut fields, path)?;
                let mut attrs = AttrWriter::new();
                match format.attribute_set.as_deref().and_then(|s| self.set(s)) {
                    Some(set) => self.encode_set(set, &Json::Object(fields), &mut attrs, path, None)?,
                    None if fields.is_empty() => {}
                    None => {
                        return Err(SpecError(format!("{path}: format {} of {name} has no attributes", format.value)))
                    }
                }
                payload.extend(attrs.into_bytes());
                out.put(kind_no, &payload);
            }
            AttrKind::Array { width, signed } => {
                let items = value.as_array().ok_or_else(|| bad("an array"))?;
                let mut bytes = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    let n = self
                        .integer_of(render, item, *width, *signed)
                        .map_err(|want| SpecError(format!("{path}[{index}]: {item} is not {want}")))?;
                    bytes.extend(int_bytes(n, *width, false));
                }
                out.put(kind_no, &bytes);
            }
            AttrKind::Flag => match value {
                Json::Bool(true) => out.put(kind_no, &[]),
                Json::Bool(false) => {}
                _ => return Err(bad("true or false")),
            },
            AttrKind::Pad | AttrKind::Unused => {
                return Err(SpecError(format!("{path}: a pad or unused attribute carries no value")))
            }
            AttrKind::NestTypeValue { keys, set } => {
                let mut inner = value.as_object().cloned().ok_or_else(|| bad("an object"))?;
                out.begin_nest(kind_no);
                for key in keys {
                    let level = inner.remove(key).and_then(|n| n.as_u64()).and_then(|n| u16::try_from(n).ok());
                    let level =
                        level.ok_or_else(|| SpecError(format!("{path}.{key}: want an attribute type number")))?;
                    out.begin_nest(level);
                }
                let set = self.set(set).expect("a spec's nests name its sets");
                self.encode_set(set, &Json::Object(inner), out, path, None)?;
                for _ in 0..=keys.len() {
                    out.end_nest();
                }
            }
            AttrKind::Bitfield32 => {
                let word = |name: &str| {
                    let n = value.get(name).and_then(|word| self.integer_of(render, word, 4, false).ok());
                    n.ok_or_else(|| bad("a bitfield32 ({\"value\": u32, \"selector\": u32})"))
                };
                let (bits, selector) = (word("value")?, word("selector")?);
                out.put(kind_no, &[int_bytes(bits, 4, false), int_bytes(selector, 4, false)].concat());
            }
            AttrKind::IndexedArray(element) => {
                let items = value.as_array().ok_or_else(|| bad("an array"))?;
                out.begin_nest(kind_no);
                for (index, item) in items.iter().enumerate() {
                    // An element's index is its attribute type: 14 bits.
                    let index = u16::try_from(index)
                        .ok()
                        .filter(|i| *i <= NLA_TYPE_MASK)
                        .ok_or_else(|| bad("an array of at most 16384 elements"))?;
                    self.encode_one(element, render, index, item, out, &format!("{path}[{index}]"), scope)?;
                }
                out.end_nest();
            }
            AttrKind::Nest(inner) => {
                out.begin_nest(kind_no);
                self.encode_set(self.set(inner).expect("a spec's nests name its sets"), value, out, path, Some(scope))?;
                out.end_nest();
            }
        }
        Ok(())
    }
}

/// The objects being encoded around an attribute, innermost first: where a
/// sub-message's selector is found, as decoding finds it.
struct JsonScope<'a> {
    set: &'a AttrSet,
    map: &'a serde_json::Map<String, Json>,
    outer: Option<&'a JsonScope<'a>>,
}

impl JsonScope<'_> {
    fn selector(&self, name: &str) -> Option<String> {
        if self.set.attribute(name).is_none() {
            return self.outer?.selector(name);
        }
        match self.map.get(name)? {
            Json::String(text) => Some(text.clone()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn int_bytes(n: u64, width: u8, big_endian: bool) -> Vec<u8> {
    let width = usize::from(width);
    if big_endian {
        n.to_be_bytes()[8 - width..].to_vec()
    } else {
        n.to_ne_bytes()[..width].to_vec()
    }
}
