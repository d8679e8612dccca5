//! Embeds every `policies/matrices/*.yaml` in the binary, so the shipped invariants guard
//! admin edits wherever the binary runs, and a new matrix file needs no Rust code.

use std::fmt::Write as _;

fn main() {
    println!("cargo:rerun-if-changed=policies/matrices");
    // Read at run time, not `env!` (compile time): a build script compiled in another checkout
    // (a copied target/ directory) would otherwise embed that checkout's matrices.
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("policies/matrices");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    let mut out = String::from(
        "/// Every matrix shipped under policies/matrices: (file name, YAML).\npub const SHIPPED: &[(&str, &str)] = &[\n",
    );
    for p in &files {
        println!("cargo:rerun-if-changed={}", p.display());
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            p.display().to_string()
        );
    }
    out.push_str("];\n");
    let target =
        std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("matrices.rs");
    if let Err(e) = std::fs::write(&target, out) {
        panic!("cannot write {}: {e}", target.display());
    }
}
