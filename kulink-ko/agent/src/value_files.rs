//! Directories of one-value files, as sysctl and sysfs show them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use kulink_ko_contract::probe::StepOutcome;

/// A file's value without its trailing newline.
pub fn read(path: &Path) -> StepOutcome<String> {
    StepOutcome::of(std::fs::read_to_string(path).map(|s| s.trim().to_owned()))
}

/// Every file of `dir`, read, by name.
pub fn read_all(dir: &str) -> Result<BTreeMap<String, StepOutcome<String>>> {
    let mut values = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("list {dir}"))? {
        let entry = entry?;
        values.insert(entry.file_name().to_string_lossy().into_owned(), read(&entry.path()));
    }
    Ok(values)
}
