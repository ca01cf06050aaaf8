//! Generates the `matrix!` macro that turns each end-to-end test into one
//! test per kernel in kernel-config/kernels.toml, named `kernel_<id>::<test>`.
//! The list is read with the runtime's own parser and types.

use std::fmt::Write;

#[allow(dead_code)]
#[path = "../testbed/src/catalog.rs"]
mod catalog;

fn main() {
    let list = "../kernel-config/kernels.toml";
    println!("cargo:rerun-if-changed={list}");
    println!("cargo:rerun-if-changed=../testbed/src/catalog.rs");
    let text = std::fs::read_to_string(list).expect("read kernel-config/kernels.toml");
    let specs = catalog::parse_list(&text).unwrap_or_else(|e| panic!("{list}: {e:#}"));

    let mut out = String::from(
        "/// One test per kernel for each named test function `fn(kernel_id: &str)`.\n\
         #[allow(unused_macros)]\n         macro_rules! matrix {\n    ($($test:ident),* $(,)?) => {\n",
    );
    for spec in &specs {
        let id = &spec.id;
        let module: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        writeln!(out, "        mod kernel_{module} {{").unwrap();
        writeln!(out, "            $( #[test] fn $test() {{ super::$test(\"{id}\") }} )*").unwrap();
        writeln!(out, "        }}").unwrap();
    }
    out.push_str("    };\n}\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("matrix.rs");
    std::fs::write(dest, out).unwrap();
}
