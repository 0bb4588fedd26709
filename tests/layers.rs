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

/// The source without its comments, as one string, so that a path written over several lines
/// (a grouped `use crate::{..}` as rustfmt writes it) reads as one.
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment of each item of a `{..}` group that starts `group` (nested groups
/// belong to their item).
fn group_heads(group: &str) -> Vec<String> {
    let (mut depth, mut items, mut item) = (0, Vec::new(), String::new());
    for c in group.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(std::mem::take(&mut item));
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items
        .iter()
        .map(|item| segment(item.trim_start()))
        .collect()
}

/// The leading identifier of `rest`.
fn segment(rest: &str) -> String {
    rest.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The modules `source` uses, outside comments: `crate::<module>` paths, each item of a
/// `crate::{..}` group, and `super::<module>` (the crate root, for the top-level files this
/// reads). A path through a re-export of the root (`crate::LockId`) hides the module it comes
/// from, so it is reported as the use `"<root re-export>"`, which no layer allows.
fn uses(source: &str, modules: &BTreeMap<String, u32>) -> Vec<String> {
    let code = code_of(source);
    let mut found = Vec::new();
    for prefix in ["crate::", "super::"] {
        for (i, _) in code.match_indices(prefix) {
            if code[..i].ends_with('$') || code[..i].ends_with("::") {
                continue; // `$crate::` in an exported macro; `super::super::` is seen once
            }
            let rest = &code[i + prefix.len()..];
            let heads = if rest.starts_with('{') {
                group_heads(rest)
            } else {
                vec![segment(rest)]
            };
            for head in heads {
                if modules.contains_key(&head) {
                    found.push(head);
                } else if prefix == "crate::" && head.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    found.push("<root re-export>".to_owned());
                }
            }
        }
    }
    found
}

/// The macros each module defines (`macro_rules! name`), by name.
fn macros(modules: &BTreeMap<String, u32>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for module in modules.keys() {
        for source in sources(module) {
            for (i, _) in source.match_indices("macro_rules! ") {
                map.insert(
                    segment(&source[i + "macro_rules! ".len()..]),
                    module.clone(),
                );
            }
        }
    }
    map
}

/// The modules `source` uses: its paths ([`uses`]) and the macros of other modules it invokes.
fn all_uses(
    source: &str,
    modules: &BTreeMap<String, u32>,
    macros: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut found = uses(source, modules);
    let code = code_of(source);
    for (name, module) in macros {
        let call = format!("{name}!");
        let called = code.match_indices(&call).any(|(i, _)| {
            !code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !code[..i].ends_with("macro_rules! ")
        });
        if called {
            found.push(module.clone());
        }
    }
    found
}

#[test]
fn every_module_file_has_a_layer() {
    let modules = layers();
    let mut unplaced = Vec::new();
    for entry in fs::read_dir("src").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name != "lib" && !modules.contains_key(&name) {
            unplaced.push(path.display().to_string());
        }
    }
    assert!(
        unplaced.is_empty(),
        "src files that lib.rs lists under no `// Layer` comment: {unplaced:?}"
    );
}

#[test]
fn the_checker_sees_every_way_of_writing_a_use() {
    let modules = layers();
    let grouped = "use crate::{\n    manager::LockManager,\n    guard::{Guard, OwnedGuard},\n};";
    assert_eq!(uses(grouped, &modules), ["manager", "guard"]);
    assert_eq!(uses("use super::raw::RawLock;", &modules), ["raw"]);
    assert_eq!(
        uses("let m: crate::LockManager;", &modules),
        ["<root re-export>"]
    );
    assert!(uses("$crate::LockId // crate::raw", &modules).is_empty());
    let macros = macros(&modules);
    assert_eq!(macros["fault"], "fault");
    assert_eq!(
        all_uses("if fault!(\"x\") {}", &modules, &macros),
        ["fault"]
    );
}

#[test]
fn no_module_uses_one_from_a_layer_above() {
    let modules = layers();
    assert!(
        modules.len() >= 15,
        "lib.rs lists the modules by layer: {modules:?}"
    );
    let macros = macros(&modules);
    let mut violations = Vec::new();
    for (module, &layer) in &modules {
        for source in sources(module) {
            for used in all_uses(&source, &modules, &macros) {
                if modules.get(&used).is_none_or(|&used| used > layer) {
                    violations.push(format!(
                        "{module} (layer {layer}) uses {used} (layer {:?})",
                        modules.get(&used)
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
    let macros = macros(modules);
    modules
        .keys()
        .map(|module| {
            let used = sources(module)
                .iter()
                .flat_map(|source| all_uses(source, modules, &macros))
                .filter(|used| used != module && modules.contains_key(used))
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
