//! The house has no circles: reading `crate::…` and `super::…` paths across `src/`, no two
//! modules in one folder import each other, directly or round a longer loop — not the top-level
//! rooms (`app`, `server`, `render`, `work`, …), and not the files inside any folder. A type two
//! modules share lives below both (ARCHITECTURE.md: dependencies point downward).
//!
//! How paths are read: comments are dropped; `crate::a::{b, c::d}` groups are expanded; a path is
//! an edge between the two siblings where it and the importing module part ways (`render::origin`
//! using `crate::store::Location` is `render → store` at the top; `vips::image` using
//! `super::shared::…` is `image → shared` inside `transform::vips`). A path into one's own
//! ancestors (a child using its folder's `mod.rs`) is not an edge. `super::` inside a file's
//! `#[cfg(test)] mod tests` is read one level deeper, as Rust reads it. Items re-exported at the
//! crate root (`crate::App`) count as their module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path of a file under `src/` (`work/job.rs` → `work::job`, `work/mod.rs` → `work`).
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Source text with `//` and `/* */` comments removed (string literals are left alone: a `//`
/// inside one only cuts the rest of that line, which never holds an import).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
        } else if rest.starts_with("//") {
            rest = rest.find('\n').map_or("", |end| &rest[end..]);
        } else {
            let ch = rest.chars().next().unwrap();
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// The paths a `use`-style tree names, from just after `crate::` (or `super::`): `a::{b, c::d}`
/// is `a::b` and `a::c::d`.
fn expand(text: &str) -> Vec<Vec<String>> {
    fn tree(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
        let mut path = prefix.to_vec();
        let mut i = 0;
        let bytes = text.as_bytes();
        loop {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if i > start {
                path.push(text[start..i].to_owned());
            }
            if text[i..].starts_with("::{") {
                i += 3;
                loop {
                    while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                        i += 1;
                    }
                    if i >= bytes.len() || bytes[i] == b'}' {
                        return i + 1;
                    }
                    i += tree(&text[i..], &path, out);
                    while i < bytes.len() && (bytes[i] as char).is_whitespace() {
                        i += 1;
                    }
                    if i < bytes.len() && bytes[i] == b',' {
                        i += 1;
                    }
                }
            } else if text[i..].starts_with("::") {
                i += 2;
            } else {
                // An item path ends here; ` as x` and the like follow.
                while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b';') {
                    if bytes[i] == b'\n' || bytes[i] == b'(' || bytes[i] == b'<' {
                        break;
                    }
                    i += 1;
                }
                out.push(path);
                return i;
            }
        }
    }
    let mut out = Vec::new();
    let body = text.strip_prefix('{').map(|_| text);
    match body {
        // `crate::{a, b}`
        Some(_) => {
            let mut wrapped = String::from("x::");
            wrapped.push_str(text);
            tree(&wrapped, &[], &mut out);
            for p in &mut out {
                p.remove(0);
            }
        }
        None => {
            tree(text, &[], &mut out);
        }
    }
    out
}

/// Every import edge between sibling modules, by folder: `folder → (from → to → where)`.
type Edges = BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, String>>>;

/// Read `files` (path under `src/`, text) into sibling edges.
fn edges(files: &[(String, String)]) -> Edges {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(rel, _)| module_of(rel)).collect();
    // `pub use app::App;` at the crate root: `crate::App` is `app`.
    let mut reexports = BTreeMap::new();
    for (rel, text) in files {
        if rel == "lib.rs" {
            for line in text.lines() {
                if let Some(rest) = line.trim().strip_prefix("pub use ") {
                    let parts: Vec<&str> = rest.trim_end_matches(';').split("::").collect();
                    if parts.len() == 2 {
                        reexports.insert(parts[1].to_owned(), parts[0].to_owned());
                    }
                }
            }
        }
    }
    let mut edges = Edges::new();
    for (rel, text) in files {
        let me = module_of(rel);
        let text = strip_comments(text);
        // Where the file's test module starts, `super::` means the file's own module.
        let tests_at = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
        for (anchor, base) in [("crate::", None), ("super::", Some(()))] {
            for (at, _) in text.match_indices(anchor) {
                // `crate::` inside a longer name (`refract_crate::`) is not a path.
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let mut start: Vec<String> = match base {
                    None => Vec::new(),
                    Some(()) => {
                        // Above the test module `super` is the parent (a `mod.rs` is its folder's
                        // module, so its parent is the folder's); inside it, the file's module.
                        let mut up = me.clone();
                        if at < tests_at {
                            up.pop();
                        }
                        up
                    }
                };
                let mut rest = &text[at + anchor.len()..];
                while let Some(more) = rest.strip_prefix("super::") {
                    start.pop();
                    rest = more;
                }
                for tail in expand(rest) {
                    let mut path = start.clone();
                    path.extend(tail);
                    if path.len() == start.len() && base.is_none() {
                        continue;
                    }
                    if let Some(module) = path.first().and_then(|f| reexports.get(f)) {
                        path[0] = module.clone();
                    }
                    add(&mut edges, &modules, &me, &path, rel);
                }
            }
        }
    }
    edges
}

fn add(
    edges: &mut Edges,
    modules: &BTreeSet<Vec<String>>,
    me: &[String],
    path: &[String],
    rel: &str,
) {
    let common = me.iter().zip(path).take_while(|(a, b)| a == b).count();
    if common >= me.len() || common >= path.len() {
        return; // into one's own ancestors or descendants
    }
    let to: Vec<String> = path[..=common].to_vec();
    if !modules.contains(&to) {
        return; // an item of the folder's own mod.rs, not a sibling
    }
    edges
        .entry(me[..common].to_vec())
        .or_default()
        .entry(me[common].clone())
        .or_default()
        .entry(path[common].clone())
        .or_insert_with(|| rel.to_owned());
}

/// Every cycle found, one per group of modules that reach each other (a strongly connected
/// component), written `a → b → a (a uses b in src/…; b uses a in src/…)`.
fn cycles(edges: &Edges) -> Vec<String> {
    let mut found = Vec::new();
    for (folder, graph) in edges {
        let reach = |from: &String| {
            let mut seen = BTreeSet::from([from.clone()]);
            let mut todo = vec![from.clone()];
            while let Some(node) = todo.pop() {
                for to in graph.get(&node).into_iter().flat_map(|n| n.keys()) {
                    if seen.insert(to.clone()) {
                        todo.push(to.clone());
                    }
                }
            }
            seen
        };
        let mut grouped: BTreeSet<String> = BTreeSet::new();
        for start in graph.keys() {
            if grouped.contains(start) {
                continue;
            }
            // The group: what `start` reaches that also reaches `start`.
            let group: BTreeSet<String> = reach(start)
                .into_iter()
                .filter(|n| n != start && reach(n).contains(start))
                .collect();
            if group.is_empty() {
                continue;
            }
            grouped.extend(group.iter().cloned());
            grouped.insert(start.clone());
            // The shortest way round from `start`, breadth first.
            let mut trail_to: BTreeMap<String, Vec<String>> =
                BTreeMap::from([(start.clone(), vec![start.clone()])]);
            let mut todo = std::collections::VecDeque::from([start.clone()]);
            let loop_ = 'search: loop {
                let node = todo.pop_front().expect("a group has a cycle");
                for to in graph[&node].keys() {
                    let mut trail = trail_to[&node].clone();
                    trail.push(to.clone());
                    if to == start {
                        break 'search trail;
                    }
                    if group.contains(to) && !trail_to.contains_key(to) {
                        trail_to.insert(to.clone(), trail);
                        todo.push_back(to.clone());
                    }
                }
            };
            let wheres: Vec<String> = loop_
                .windows(2)
                .map(|w| format!("{} uses {} in src/{}", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            let place = if folder.is_empty() {
                "crate".to_owned()
            } else {
                folder.join("::")
            };
            found.push(format!(
                "in {place}: {} ({})",
                loop_.join(" → "),
                wheres.join("; ")
            ));
        }
    }
    found
}

fn read_src(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_src(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn no_module_imports_what_imports_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_src(&root, &root, &mut files);
    files.sort();
    let edges = edges(&files);
    // The reading finds the rooms' real dependencies (so an empty result means something).
    let top = &edges[&Vec::new()];
    assert!(top["server"].contains_key("app"), "{top:?}");
    assert!(top["work"].contains_key("render"), "{top:?}");
    assert!(top["render"].contains_key("store"), "{top:?}");
    assert!(edges[&vec!["transform".to_owned(), "vips".to_owned()]]["save"].contains_key("image"));
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn a_cycle_is_found_and_named() {
    let files = |extra: &str| {
        vec![
            ("lib.rs".to_owned(), "pub mod a;\npub use a::A;".to_owned()),
            (
                "a.rs".to_owned(),
                "use crate::b::B; // crate::c::C in a comment".to_owned(),
            ),
            ("b.rs".to_owned(), extra.to_owned()),
            (
                "c.rs".to_owned(),
                "use crate::{a::A, b::{self as x}};".to_owned(),
            ),
            ("d/mod.rs".to_owned(), String::new()),
            ("d/e.rs".to_owned(), "use super::f::F;".to_owned()),
            (
                "d/f.rs".to_owned(),
                "fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::e;\n}".to_owned(),
            ),
        ]
    };
    // b imports nothing: no cycle (the comment in a, and d's test module, add none).
    assert_eq!(cycles(&edges(&files(""))), Vec::<String>::new());
    // b → c → a → b, with c reaching a through the root's re-export.
    let found = cycles(&edges(&files("fn g() { crate::A::new(); crate::c::C; }")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("in crate: "), "{}", found[0]);
    assert!(
        found[0].contains("a → b") && found[0].contains("b uses"),
        "{}",
        found[0]
    );
    // Inside a folder: e → f → e.
    let mut nested = files("");
    nested[6].1 = "use super::e::E;".to_owned();
    let found = cycles(&edges(&nested));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("in d: "), "{}", found[0]);
}
