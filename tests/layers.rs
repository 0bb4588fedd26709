//! The architecture holds: `src/lib.rs` lists the modules by layer, no module uses one from a
//! layer above its own, and no modules use each other in a circle (inside a layer either). This
//! reads the sources: every `crate::<module>` path outside comments is a use of that module.
#![cfg(not(loom))]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Module name to layer, from the `// Layer N, ...` comments and the `mod` lines under them.
fn layers() -> BTreeMap<String, u32> {
    let lib = fs::read_to_string("src/lib.rs").unwrap();
    let mut layer = None;
    let mut map = BTreeMap::new();
    for line in lib.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("// Layer ") {
            layer = rest.split(',').next().and_then(|n| n.parse::<u32>().ok());
            continue;
        }
        let decl = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "));
        // `mod name; // what it is`: a module in its own file (inline ones, like the
        // re-exporting `futures`, have no dependencies of their own to check).
        if let (Some((name, _)), Some(layer)) = (decl.and_then(|d| d.split_once(';')), layer) {
            map.insert(name.trim().to_owned(), layer);
        }
    }
    map
}

/// The source files of `module`: `src/<module>.rs`, or `src/<module>/*.rs`.
fn sources(module: &str) -> Vec<String> {
    let file = format!("src/{module}.rs");
    if Path::new(&file).exists() {
        return vec![fs::read_to_string(file).unwrap()];
    }
    fs::read_dir(format!("src/{module}"))
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

/// The modules `source` uses, outside comments.
fn uses(source: &str, modules: &BTreeMap<String, u32>) -> Vec<String> {
    let mut found = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if modules.contains_key(&name) {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn no_module_uses_one_from_a_layer_above() {
    let modules = layers();
    assert!(
        modules.len() >= 15,
        "lib.rs lists the modules by layer: {modules:?}"
    );
    let mut violations = Vec::new();
    for (module, &layer) in &modules {
        for source in sources(module) {
            for used in uses(&source, &modules) {
                if modules[&used] > layer {
                    violations.push(format!(
                        "{module} (layer {layer}) uses {used} (layer {})",
                        modules[&used]
                    ));
                }
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_checker_sees_a_use_from_above() {
    // The control: a layer-0 module naming a layer-3 one is found.
    let modules = layers();
    let found = uses(
        "use crate::manager::LockManager; // crate::guard in a comment",
        &modules,
    );
    assert_eq!(found, ["manager"]);
    assert!(modules["manager"] > modules["registry"]);
}

/// Module name to the modules it uses (itself left out).
fn graph(modules: &BTreeMap<String, u32>) -> BTreeMap<String, BTreeSet<String>> {
    modules
        .keys()
        .map(|module| {
            let used = sources(module)
                .iter()
                .flat_map(|source| uses(source, modules))
                .filter(|used| used != module)
                .collect();
            (module.clone(), used)
        })
        .collect()
}

/// A circle of uses in `graph`, as the path `a -> b -> ... -> a`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    /// Depth-first from `module`; `path` is the chain of modules being visited.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut found = path[start..].to_vec();
            found.push(module.to_owned());
            return Some(found);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for used in graph.get(module).into_iter().flatten() {
            if let Some(found) = visit(used, graph, done, path) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_modules_use_each_other_in_a_circle() {
    let modules = layers();
    let graph = graph(&modules);
    assert!(
        graph.values().map(BTreeSet::len).sum::<usize>() >= 20,
        "the checker sees the uses: {graph:?}"
    );
    if let Some(found) = circle(&graph) {
        panic!(
            "modules use each other in a circle: {}; move what they share below them",
            found.join(" -> ")
        );
    }
}

#[test]
fn the_checker_sees_a_circle() {
    // The control: a circle of three, beside an edge that closes none, is found and named.
    let edges = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")];
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from.into()).or_default().insert(to.into());
    }
    assert_eq!(circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(circle(&graph), None);
}
