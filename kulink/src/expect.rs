//! What a test expects a netlink group to carry: a list of messages, each
//! an operation and the fields that must have these values (fields not
//! named are not compared). Every message must come exactly once, in the
//! listed order, and nothing else.
//!
//! ```yaml
//! - { op: notify, attrs: { port: 5000, count: 2 } }
//! ```

use std::path::Path;

use anyhow::Result;
use kulink_testbed::genl::Message;
use kulink_testbed::usage_error;
use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// One expected message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMessage {
    /// The operation's name in the spec.
    pub op: String,
    #[serde(default)]
    /// The attributes that must have these values; others are not compared.
    pub attrs: Map<String, Json>,
}

/// Reads an expectations file (YAML, or JSON which is YAML too).
pub fn load(path: &Path) -> Result<Vec<ExpectedMessage>> {
    let bad = |what: String| usage_error(format!("--expect {}: {what}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    serde_yaml_ng::from_str(&text).map_err(|e| bad(format!("not a list of {{op, attrs}} messages: {e}")))
}

/// Every way `got` differs from `expected`, each naming the message and
/// the field.
pub fn differences(expected: &[ExpectedMessage], got: &[Message]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, (want, message)) in expected.iter().zip(got).enumerate() {
        let at = format!("message {} of {}", i + 1, expected.len());
        if want.op != message.op {
            problems.push(format!("{at}: op is {}, expected {}", message.op, want.op));
            continue;
        }
        let attrs = message.to_json()["attrs"].clone();
        compare(&Json::Object(want.attrs.clone()), &attrs, "", &mut |what| problems.push(format!("{at}: {what}")));
    }
    if got.len() > expected.len() {
        let extra = &got[expected.len()];
        problems.push(format!(
            "{} messages expected, {} came; the first extra: {}",
            expected.len(),
            got.len(),
            extra.to_json()
        ));
    } else if got.len() < expected.len() {
        let missing = &expected[got.len()];
        problems.push(format!(
            "{} messages expected, {} came; the first missing: {} {}",
            expected.len(),
            got.len(),
            missing.op,
            Json::Object(missing.attrs.clone())
        ));
    }
    problems
}

/// Objects compare by the fields `want` names, lists element by element,
/// values exactly.
fn compare(want: &Json, got: &Json, path: &str, problem: &mut impl FnMut(String)) {
    let field = |name: &str| if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
    match (want, got) {
        (Json::Object(want), Json::Object(got)) => {
            for (name, value) in want {
                match got.get(name) {
                    Some(found) => compare(value, found, &field(name), problem),
                    None => problem(format!("no field {}", field(name))),
                }
            }
        }
        (Json::Array(want), Json::Array(got)) if want.len() == got.len() => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                compare(w, g, &format!("{path}[{i}]"), problem);
            }
        }
        _ if want == got => {}
        _ => problem(format!("{path} is {got}, expected {want}")),
    }
}

#[cfg(test)]
mod tests {
    use kulink_testbed::genl::{Fields, Value};

    use super::*;

    fn notify(port: u64, count: u64) -> Message {
        Message {
            op: "notify".into(),
            attrs: Fields(vec![("port".into(), Value::Unsigned(port)), ("count".into(), Value::Unsigned(count))]),
        }
    }

    fn expected(text: &str) -> Vec<ExpectedMessage> {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn the_differing_field_is_named() {
        let want =
            expected("- { op: notify, attrs: { port: 5000, count: 2 } }\n- { op: notify, attrs: { port: 5001 } }\n");
        assert!(differences(&want, &[notify(5000, 2), notify(5001, 9)]).is_empty());
        assert_eq!(differences(&want, &[notify(5000, 3), notify(5001, 2)]), ["message 1 of 2: count is 3, expected 2"]);
        let want_missing = expected("- { op: notify, attrs: { total: 1 } }\n");
        assert_eq!(differences(&want_missing, &[notify(1, 1)]), ["message 1 of 1: no field total"]);
        let other_op = expected("- { op: get }\n");
        assert_eq!(differences(&other_op, &[notify(1, 1)]), ["message 1 of 1: op is notify, expected get"]);
    }

    #[test]
    fn extra_and_missing_messages_are_named() {
        let want = expected("- { op: notify, attrs: { port: 1 } }\n");
        assert_eq!(
            differences(&want, &[notify(1, 1), notify(2, 1)]),
            [r#"1 messages expected, 2 came; the first extra: {"attrs":{"count":1,"port":2},"op":"notify"}"#]
        );
        assert_eq!(differences(&want, &[]), [r#"1 messages expected, 0 came; the first missing: notify {"port":1}"#]);
    }

    #[test]
    fn a_bad_file_is_a_usage_error() {
        let dir = std::env::temp_dir().join(format!("kulink-expect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("expected.yaml");
        std::fs::write(&path, "- { op: notify, atrs: {} }\n").unwrap();
        let err = load(&path).unwrap_err();
        assert!(format!("{err:#}").contains("not a list of {op, attrs} messages"), "{err:#}");
        assert_eq!(crate::exit_code(&err), crate::EXIT_USAGE);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
