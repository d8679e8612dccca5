//! The module graph points one way: no top-level module of `src/` reaches itself through
//! `crate::` paths (ARCHITECTURE.md's arrows: `http -> {auth, engine} -> policy`,
//! `engine -> store -> policy`, `engine -> matrix -> policy`; the composition roots `state`,
//! `config`, `bootstrap`, `cli` and `serve` sit on top). Read from the source text, so a new
//! `use crate::x` that closes a loop fails here, naming the loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module name -> the top-level modules its code (tests and comments aside) names.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("src") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let module = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
        if module != "lib" && module != "main" {
            modules.insert(module);
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in crate::helpers::rust_sources(src) {
        let rel = path.strip_prefix(src).expect("under src");
        let first = rel
            .components()
            .next()
            .expect("component")
            .as_os_str()
            .to_string_lossy();
        let owner = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
        if !modules.contains(&owner) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        // Unit tests may reach anywhere (fixtures); the arrows are about the code.
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let targets = graph.entry(owner.clone()).or_default();
        for line in code.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for named in names_after_crate(line) {
                if named != owner && modules.contains(&named) {
                    targets.insert(named);
                }
            }
        }
    }
    graph
}

/// The module names that follow `crate::` on a line, including each name of a
/// `crate::{a, b::c}` group.
fn names_after_crate(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

/// Every module from which `from` can be reached again, as one loop per module (a path
/// `from -> ... -> from`), found by a breadth-first search.
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.as_str()]);
        while let Some(at) = queue.pop_front() {
            for next in graph.get(at).into_iter().flatten() {
                if next == start {
                    let mut chain = Vec::new();
                    let mut cur = at;
                    while cur != start {
                        chain.push(cur.to_owned());
                        cur = parent[cur];
                    }
                    chain.push(start.clone());
                    chain.reverse();
                    // one spelling per loop: rotated to start at its smallest module
                    let body = &chain[..];
                    let min = body
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, m)| *m)
                        .map_or(0, |(i, _)| i);
                    let mut canonical: Vec<String> =
                        body[min..].iter().chain(&body[..min]).cloned().collect();
                    canonical.push(canonical[0].clone());
                    found.insert(canonical);
                } else if !parent.contains_key(next.as_str()) {
                    parent.insert(next, at);
                    queue.push_back(next);
                }
            }
        }
    }
    found
}

#[test]
fn no_top_level_module_of_src_imports_its_way_back_to_itself() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph.len() > 5, "the source tree was not read: {graph:?}");
    let loops = loops(&graph);
    let shown: Vec<String> = loops.iter().map(|l| l.join(" -> ")).collect();
    assert!(
        loops.is_empty(),
        "import cycles between top-level modules of src/:\n  {}\n(graph: {graph:#?})",
        shown.join("\n  ")
    );
}

#[test]
fn the_cycle_finder_finds_a_two_module_loop_and_a_longer_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["a", "c"]),
        ("c", vec!["d"]),
        ("d", vec!["c2"]),
        ("c2", vec!["c"]),
        ("e", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_owned(),
            v.into_iter().map(str::to_owned).collect::<BTreeSet<_>>(),
        )
    })
    .collect();
    let found: Vec<String> = loops(&graph).iter().map(|l| l.join(">")).collect();
    assert_eq!(found, vec!["a>b>a", "c>d>c2>c"]);
    assert_eq!(
        names_after_crate("use crate::{engine::X, policy};  let x = crate::store::y;"),
        vec!["engine", "policy", "store"]
    );
}

/// The pure policy core is its own crate, so the compiler keeps its arrow one-way; this keeps
/// its manifest honest: it may not depend on the server, HTTP, SQL, an async runtime or casbin.
#[test]
fn the_policy_crate_depends_on_no_server_http_sql_or_runtime_crate() {
    let manifest =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/warden-policy/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("the policy crate's manifest");
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.contains("dependencies");
            continue;
        }
        if let Some((name, _)) = line
            .split_once('=')
            .filter(|_| in_deps && !line.starts_with('#'))
        {
            deps.push(name.trim().to_owned());
        }
    }
    assert!(deps.contains(&"serde".to_owned()), "{deps:?}");
    for banned in [
        "warden", "axum", "tower", "hyper", "sqlx", "tokio", "casbin", "tracing",
    ] {
        assert!(
            !deps
                .iter()
                .any(|d| d == banned || d.starts_with(&format!("{banned}-"))),
            "warden-policy depends on {banned}: {deps:?}"
        );
    }
}
