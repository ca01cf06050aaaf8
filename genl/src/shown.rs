//! Values shown as YNL shows them, and read back: an enum's entry by
//! name, flags as the names of their bits, a `display-hint`'s text
//! (addresses, MACs, UUIDs, hex).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value as Json;

use crate::definitions::{DisplayHint, Render};
use crate::spec::Spec;

/// What a number or bytes are shown as, instead of themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shown {
    /// An enum's entry.
    Enum(String),
    /// The names of the bits a flags number sets, lowest first.
    Flags(Vec<String>),
    /// A hint's text.
    Text(String),
}

/// An integer (signed or not) as `render` shows it: its entry's name, its
/// flags' names, or its hint's text; none when it stays a number (no
/// entry names it, or nothing to show).
pub(crate) fn integer(spec: &Spec, render: &Render, n: i128) -> Option<Shown> {
    // The bits as the wire has them: a negative number's two's complement.
    let raw = n as u64;
    if let Some(set) = render.enumeration.as_deref().and_then(|name| spec.enumeration(name)) {
        if set.flags || render.as_flags {
            let bits = (0..64).filter(|bit| raw & (1 << bit) != 0);
            let names: Option<Vec<String>> = bits.map(|bit| set.name_of(bit).map(str::to_owned)).collect();
            return names.map(Shown::Flags);
        }
        return set.name_of(raw).map(|name| Shown::Enum(name.to_owned()));
    }
    let text = match render.hint? {
        DisplayHint::Hex if n < 0 => format!("-{:#x}", n.unsigned_abs()),
        DisplayHint::Hex => format!("{raw:#x}"),
        // A number too wide for IPv4 is an IPv6 address, as Python's ipaddress has it.
        DisplayHint::Ipv4 | DisplayHint::Ipv6 | DisplayHint::Ipv4OrV6 if n >= 0 => match u32::try_from(raw) {
            Ok(v4) => Ipv4Addr::from(v4).to_string(),
            Err(_) => Ipv6Addr::from(u128::from(raw)).to_string(),
        },
        _ => return None,
    };
    Some(Shown::Text(text))
}

/// Bytes as `render`'s hint shows them; none for bytes of a length the
/// hint does not fit (they stay bytes).
pub(crate) fn bytes(render: &Render, payload: &[u8]) -> Option<Shown> {
    let text = match render.hint {
        Some(DisplayHint::Mac) => payload.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
        Some(DisplayHint::Hex) => payload.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
        Some(DisplayHint::Ipv4 | DisplayHint::Ipv6 | DisplayHint::Ipv4OrV6) => match payload.len() {
            4 => Ipv4Addr::from(<[u8; 4]>::try_from(payload).expect("4 bytes")).to_string(),
            16 => Ipv6Addr::from(<[u8; 16]>::try_from(payload).expect("16 bytes")).to_string(),
            _ => return None,
        },
        Some(DisplayHint::Uuid) if payload.len() == 16 => {
            let hex = hex::encode(payload);
            format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
        }
        _ => return None,
    };
    Some(Shown::Text(text))
}

/// The number a JSON value other than a number stands for: an entry's
/// name, a list of flags' names, or a hint's text.
pub(crate) fn parse_integer(spec: &Spec, render: &Render, value: &Json) -> Option<u64> {
    if let Some(set) = render.enumeration.as_deref().and_then(|name| spec.enumeration(name)) {
        let bit = |name: &Json| 1u64.checked_shl(u32::try_from(set.value_of(name.as_str()?)?).ok()?);
        return match value {
            Json::String(name) if !(set.flags || render.as_flags) => set.value_of(name),
            Json::String(_) => bit(value),
            Json::Array(names) => names.iter().try_fold(0, |bits, name| Some(bits | bit(name)?)),
            _ => None,
        };
    }
    let text = value.as_str()?;
    match render.hint? {
        DisplayHint::Hex => {
            let (negative, digits) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
            let n = u64::from_str_radix(digits.strip_prefix("0x")?, 16).ok()?;
            Some(if negative { (n as i64).wrapping_neg() as u64 } else { n })
        }
        DisplayHint::Ipv4 | DisplayHint::Ipv6 | DisplayHint::Ipv4OrV6 => match text.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => Some(u32::from(v4).into()),
            IpAddr::V6(v6) => u64::try_from(u128::from(v6)).ok(),
        },
        DisplayHint::Mac | DisplayHint::Uuid => None,
    }
}

/// The bytes a JSON string stands for: hex, or a hint's text.
pub(crate) fn parse_bytes(render: &Render, text: &str) -> Option<Vec<u8>> {
    match render.hint {
        Some(DisplayHint::Mac) if text.contains(':') => hex::decode(text.replace(':', "")).ok(),
        Some(DisplayHint::Hex) => hex::decode(text.replace(' ', "")).ok(),
        Some(DisplayHint::Ipv4 | DisplayHint::Ipv6 | DisplayHint::Ipv4OrV6) if text.contains(['.', ':']) => {
            Some(match text.parse::<IpAddr>().ok()? {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            })
        }
        Some(DisplayHint::Uuid) if text.contains('-') => hex::decode(text.replace('-', "")).ok(),
        _ => hex::decode(text).ok(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hint(hint: DisplayHint) -> Render {
        Render { hint: Some(hint), ..Render::default() }
    }

    #[test]
    fn hints_show_as_ynl_shows_them_and_read_back() {
        let cases: [(DisplayHint, &[u8], &str); 5] = [
            (DisplayHint::Mac, &[0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc], "00:1b:21:aa:bb:cc"),
            (DisplayHint::Hex, &[0xde, 0xad, 1], "de ad 01"),
            (DisplayHint::Ipv4, &[10, 0, 2, 15], "10.0.2.15"),
            (DisplayHint::Ipv4OrV6, &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "fe80::1"),
            (DisplayHint::Uuid, &[0x12; 16], "12121212-1212-1212-1212-121212121212"),
        ];
        for (h, payload, text) in cases {
            assert_eq!(bytes(&hint(h), payload), Some(Shown::Text(text.into())), "{h:?}");
            assert_eq!(parse_bytes(&hint(h), text).as_deref(), Some(payload), "{h:?}");
        }
        assert_eq!(bytes(&hint(DisplayHint::Ipv4), &[1, 2, 3]), None);
        let spec = Spec::parse("name: x\n").unwrap();
        let shown = |h, v| integer(&spec, &hint(h), v);
        assert_eq!(shown(DisplayHint::Hex, 31), Some(Shown::Text("0x1f".into())));
        assert_eq!(shown(DisplayHint::Hex, -5), Some(Shown::Text("-0x5".into())));
        assert_eq!(shown(DisplayHint::Ipv4, 0x0a00020f), Some(Shown::Text("10.0.2.15".into())));
        assert_eq!(parse_integer(&spec, &hint(DisplayHint::Ipv4), &json!("10.0.2.15")), Some(0x0a00020f));
        assert_eq!(parse_integer(&spec, &hint(DisplayHint::Hex), &json!("-0x5")), Some(-5i64 as u64));
    }

    #[test]
    fn enums_and_flags_show_by_name() {
        let spec = Spec::parse(
            "name: x\ndefinitions:\n  - { name: state, type: enum, value-start: 1, entries: [up, down] }\n  - { name: \
             opts, type: flags, entries: [a, b, { name: d, value: 3 }] }\n",
        )
        .unwrap();
        let named = |set: &str, as_flags| Render { enumeration: Some(set.into()), as_flags, hint: None };
        assert_eq!(integer(&spec, &named("state", false), 2), Some(Shown::Enum("down".into())));
        assert_eq!(integer(&spec, &named("state", false), 9), None);
        assert_eq!(integer(&spec, &named("opts", false), 0b1001), Some(Shown::Flags(vec!["a".into(), "d".into()])));
        assert_eq!(integer(&spec, &named("opts", false), 0b100), None, "no entry for bit 2");
        assert_eq!(integer(&spec, &named("state", true), 0b110), Some(Shown::Flags(vec!["up".into(), "down".into()])));
        assert_eq!(parse_integer(&spec, &named("opts", false), &json!(["a", "d"])), Some(0b1001));
        assert_eq!(parse_integer(&spec, &named("state", false), &json!("down")), Some(2));
        assert_eq!(parse_integer(&spec, &named("state", false), &json!("sideways")), None);
    }
}
