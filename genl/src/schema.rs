//! A spec checked against the kernel's JSON schema for its protocol
//! (`Documentation/netlink/genetlink.yaml`, `genetlink-c.yaml`,
//! `genetlink-legacy.yaml`, `netlink-raw.yaml`), as the kernel's own YNL
//! tools check a spec before they read it.

use serde_json::Value as Json;

use crate::spec::SpecError;

/// The protocols YNL knows, each with its schema's file name.
const PROTOCOLS: [&str; 4] = ["genetlink", "genetlink-c", "genetlink-legacy", "netlink-raw"];

/// The file name of the schema `spec_text`'s protocol is checked against
/// (`genetlink.yaml` for a spec that names none).
pub fn schema_file(spec_text: &str) -> Result<String, SpecError> {
    let spec = yaml(spec_text, "the spec")?;
    let protocol = spec.get("protocol").and_then(Json::as_str).unwrap_or("genetlink");
    if !PROTOCOLS.contains(&protocol) {
        return Err(SpecError(format!("protocol {protocol} is not one YNL knows ({})", PROTOCOLS.join(", "))));
    }
    Ok(format!("{protocol}.yaml"))
}

/// What in `spec_text` breaks `schema_text`, each as `where: what`; none
/// when the spec keeps to it.
pub fn problems(spec_text: &str, schema_text: &str) -> Result<Vec<String>, SpecError> {
    let spec = yaml(spec_text, "the spec")?;
    let schema = yaml(schema_text, "the schema")?;
    let validator = jsonschema::draft7::new(&schema).map_err(|e| SpecError(format!("the schema: {e}")))?;
    Ok(validator
        .iter_errors(&spec)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/" } else { &at })
        })
        .collect())
}

fn yaml(text: &str, what: &str) -> Result<Json, SpecError> {
    serde_yaml_ng::from_str(text).map_err(|e| SpecError(format!("{what} is not YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"
%YAML 1.2
---
$schema: https://json-schema.org/draft-07/schema
$defs:
  name: { type: string, pattern: "^[0-9a-z-]+$" }
type: object
required: [ name ]
additionalProperties: False
properties:
  name: { $ref: '#/$defs/name' }
  protocol: { enum: [ genetlink ] }
"#;

    #[test]
    fn what_breaks_the_schema_is_named_where_it_is() {
        assert_eq!(problems("name: demo\nprotocol: genetlink\n", SCHEMA).unwrap(), Vec::<String>::new());
        let said = problems("name: demo\nversion: 1\n", SCHEMA).unwrap();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("/: ") && said[0].contains("'version'"), "{said:?}");
        let said = problems("name: Demo_1\n", SCHEMA).unwrap();
        assert!(said[0].starts_with("/name: ") && said[0].contains("does not match"), "{said:?}");
    }

    #[test]
    fn the_protocol_picks_the_schema() {
        assert_eq!(schema_file("name: demo\n").unwrap(), "genetlink.yaml");
        assert_eq!(schema_file("name: demo\nprotocol: genetlink-legacy\n").unwrap(), "genetlink-legacy.yaml");
        assert!(schema_file("name: demo\nprotocol: netlink-new\n").unwrap_err().0.contains("not one YNL knows"));
    }
}
