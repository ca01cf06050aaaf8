//! A user's YNL spec, read and checked against the kernel's own JSON
//! schema for its protocol, taken from the newest kernel source in the
//! cache: what the kernel's YNL tools would refuse is a usage error here
//! too, before anything is built.

use std::path::Path;

use anyhow::Result;
use kulink_testbed::genl::{schema, Spec};
use kulink_testbed::{kernels, progress, usage_error};

/// Where a kernel source keeps YNL's schemas.
const SCHEMAS: &str = "Documentation/netlink";

/// Reads the spec at `path` and checks it against its protocol's schema.
/// With no kernel source that has the schema in the cache yet (6.12 and
/// newer ship them), the spec is read unchecked, and a note says so.
pub fn load_spec(path: &Path) -> Result<Spec> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| usage_error(format!("cannot read spec {shown}: {e}")))?;
    let file = schema::schema_file(&text).map_err(|e| usage_error(format!("spec {shown}: {e}")))?;
    match kernels::newest_source_file(&Path::new(SCHEMAS).join(&file)) {
        Some((kernel, schema_path)) => {
            let schema_text = std::fs::read_to_string(&schema_path)?;
            let problems = schema::problems(&text, &schema_text).map_err(|e| usage_error(format!("spec {shown}: {e}")))?;
            if !problems.is_empty() {
                return Err(usage_error(format!(
                    "spec {shown} is not valid YNL: it breaks {file} of kernel {kernel}'s source:\n  {}",
                    problems.join("\n  ")
                )));
            }
        }
        None => progress::note(format!(
            "spec {shown} is not checked against YNL's {file}: no kernel source in the cache has it yet (6.12 and newer do)"
        )),
    }
    Spec::parse(&text).map_err(|e| usage_error(format!("spec {shown}: {e}")))
}
