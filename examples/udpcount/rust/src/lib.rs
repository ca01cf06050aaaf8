//! What udpcount's tests share: where the example keeps its module and its
//! YNL spec, and the notifications as JSON to compare.

use std::path::PathBuf;

use kulink::testbed::genl::{Message, Spec};
use serde_json::{json, Value};

/// The example's directory (`examples/udpcount`).
pub fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The module's Kbuild directory.
pub fn module_dir() -> PathBuf {
    example_dir().join("module")
}

/// The family's YNL spec.
pub fn spec() -> Spec {
    let path = example_dir().join("udpcount.yaml");
    Spec::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

/// Decoded messages as `{"op": ..., "attrs": {...}}`, the form tests compare.
pub fn as_json(messages: &[Message]) -> Vec<Value> {
    messages.iter().map(Message::to_json).collect()
}

/// The message one port's count makes: `op` is `notify` or `get`.
pub fn count(op: &str, port: u16, count: u64) -> Value {
    json!({"op": op, "attrs": {"port": port, "count": count}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_names_what_the_tests_compare() {
        let spec = spec();
        assert_eq!(spec.name, "udpcount");
        assert_eq!(spec.mcast_groups, ["notify"]);
        let (cmd, attrs) = spec.encode("get", &json!({"port": 5000})).unwrap();
        let message = Message::decode(Some(&spec), cmd, &attrs).unwrap();
        assert_eq!(message.to_json(), json!({"op": "get", "attrs": {"port": 5000}}));
    }
}
