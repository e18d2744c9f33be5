//! The shape of `src/`, checked: every arrow between modules points down a floor, no two
//! modules import each other (directly or round a loop), and no file or function outgrows
//! what a reader can hold. `FORBIDDEN` lists the arrows that would run up a floor; README
//! "Layout" describes the floors.
//!
//! The scan is textual and deliberately small: it strips comments, strings and test-only
//! items (`#[cfg(test)]`), then follows `use` trees and inline `crate::`/`super::`/child
//! paths to the deepest module file they name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files longer than this fail (`tests.rs` files beside a module excepted).
const MAX_FILE_LINES: usize = 700;
/// Functions longer than this (signature to closing brace) fail.
const MAX_FN_LINES: usize = 150;

/// Arrows that would run up a floor: (from prefix, to prefix, why). A module whose path
/// starts with `from` must not name one that starts with `to`.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    (
        "resources",
        "protocol",
        "resources speak framework values, not the wire",
    ),
    (
        "resources",
        "provider",
        "the provider registers resources, not the other way round",
    ),
    (
        "framework",
        "resources",
        "contracts do not know who implements them",
    ),
    ("framework", "protocol", "contracts do not know the wire"),
    (
        "framework",
        "provider",
        "contracts do not know the registry",
    ),
    (
        "provider",
        "protocol",
        "the provider core sees framework values, never the codec",
    ),
    ("aws", "resources", "AWS clients do not know resources"),
    ("aws", "framework", "AWS clients do not know the contracts"),
    ("aws", "schema", "AWS clients do not know schemas"),
    ("aws", "protocol", "AWS clients do not know the wire"),
    ("aws", "provider", "AWS clients do not know the provider"),
    ("schema", "resources", "schemas are data"),
    ("value", "resources", "values are data"),
    ("diag", "resources", "diagnostics are data"),
    ("metric_data", "aws", "metric queries and series are data"),
    // The canary folder: data, decide, act. Each floor looks only down.
    (
        "resources::canary::release",
        "resources::canary::",
        "release records are data",
    ),
    (
        "resources::canary::drift",
        "resources::canary::",
        "drift is data",
    ),
    (
        "resources::canary::template",
        "resources::canary::",
        "templates are data",
    ),
    (
        "resources::canary::model",
        "resources::canary::rollout",
        "data does not decide",
    ),
    (
        "resources::canary::model",
        "resources::canary::observe",
        "data does not read AWS",
    ),
    (
        "resources::canary::model",
        "resources::canary::routers",
        "data does not read AWS",
    ),
    (
        "resources::canary::model",
        "resources::canary::apply",
        "data does not act",
    ),
    (
        "resources::canary::rollout",
        "resources::canary::observe",
        "decisions do not read AWS",
    ),
    (
        "resources::canary::rollout",
        "resources::canary::routers",
        "decisions do not read AWS",
    ),
    (
        "resources::canary::rollout",
        "resources::canary::safety",
        "decisions do not read AWS",
    ),
    (
        "resources::canary::rollout",
        "resources::canary::apply",
        "decisions do not act",
    ),
    (
        "resources::canary::rollout",
        "resources::canary::plan",
        "decisions do not plan for Terraform",
    ),
    ("resources::canary::rollout", "aws", "decisions are pure"),
    (
        "resources::canary::routers",
        "resources::canary::apply",
        "router reads and writes serve the executor",
    ),
    (
        "resources::canary::safety",
        "resources::canary::apply",
        "plan-time checks do not execute",
    ),
    (
        "resources::canary::observe",
        "resources::canary::apply",
        "Read does not execute",
    ),
    (
        "resources::canary::apply::bake",
        "resources::canary::apply::run",
        "the bake is called by the executor",
    ),
    (
        "resources::canary::judge",
        "resources::canary::",
        "the judge is pure: it judges the figures it is given",
    ),
    (
        "resources::canary::judge",
        "aws",
        "the judge is pure: it never calls AWS",
    ),
    (
        "resources::canary::apply::judging",
        "resources::canary::apply::bake",
        "the judging helpers are called by the bake",
    ),
];

#[derive(Default)]
struct Module {
    file: PathBuf,
    /// Source with comments, strings and test-only items removed.
    code: String,
    /// Children declared with `mod x;` (not under cfg(test)).
    children: BTreeSet<String>,
    /// Lines of the whole file.
    lines: usize,
    /// Names of the items the file defines (types, functions, constants, statics).
    defines: BTreeSet<String>,
    /// `pub use` re-exports: the name they give and the path they forward to.
    reexports: BTreeMap<String, Vec<String>>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`, `src/lib.rs` → ``.
fn module_name(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Blanks out comments, string and char literals (keeping line breaks), so braces and paths
/// inside them do not count.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '{') or a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 3 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push_str("' '");
                    i = e;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// The index just past the item that starts at `from`: through its matching `}` or its `;`.
fn item_end(code: &[u8], from: usize) -> usize {
    let mut depth = 0usize;
    let mut i = from;
    while i < code.len() {
        match code[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    code.len()
}

/// Removes every item marked `#[cfg(test)]`; returns the code and the names of test-only
/// modules declared with `mod x;`.
fn without_tests(code: &str) -> (String, BTreeSet<String>) {
    let mut out = String::new();
    let mut test_mods = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let end = item_end(after.as_bytes(), 0);
        let item = &after[..end];
        if let Some(name) = item
            .trim()
            .strip_prefix("mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            test_mods.insert(name.trim().to_string());
        }
        out.extend(item.chars().filter(|&c| c == '\n'));
        rest = &after[end..];
    }
    out.push_str(rest);
    (out, test_mods)
}

fn ident_at(s: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&s[start..i]).into_owned(), i)
}

/// Expands a `use` tree (`a::{b, c::{d, self}}`) into paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn go(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        if let Some(open) = s.find('{') {
            let head: Vec<String> = s[..open]
                .split("::")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect();
            let mut base = prefix.to_vec();
            base.extend(head);
            let inner = &s[open + 1..s.rfind('}').unwrap_or(s.len())];
            let mut depth = 0;
            let mut last = 0;
            let bytes = inner.as_bytes();
            for (i, &c) in bytes.iter().enumerate() {
                match c {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    b',' if depth == 0 => {
                        go(&inner[last..i], &base, out);
                        last = i + 1;
                    }
                    _ => {}
                }
            }
            go(&inner[last..], &base, out);
        } else if !s.is_empty() {
            let mut path = prefix.to_vec();
            let s = s.split(" as ").next().unwrap();
            path.extend(s.split("::").map(|p| p.trim().to_string()));
            if path.last().is_some_and(|p| p == "self") {
                path.pop();
            }
            out.push(path);
        }
    }
    let mut out = Vec::new();
    go(tree, &[], &mut out);
    out
}

/// Every path the code names that starts with `crate`, `super`, `self` or a child module.
fn named_paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let boundary =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':');
        if !boundary || !(b[i].is_ascii_alphabetic() || b[i] == b'_') {
            i += 1;
            continue;
        }
        let (word, end) = ident_at(b, i);
        if word == "use" && b.get(end).is_some_and(|c| c.is_ascii_whitespace()) {
            let stop = code[end..].find(';').map_or(b.len(), |p| end + p);
            paths.extend(expand_use(&code[end..stop]));
            i = stop;
            continue;
        }
        if code[end..].starts_with("::")
            && (word == "crate" || word == "super" || word == "self" || children.contains(&word))
        {
            let mut path = vec![word];
            let mut j = end;
            while code[j..].starts_with("::") {
                let (next, e) = ident_at(b, j + 2);
                if next.is_empty() {
                    break;
                }
                path.push(next);
                j = e;
            }
            paths.push(path);
            i = j;
            continue;
        }
        i = end;
    }
    paths
}

/// The module a path lands in, seen from module `from` (whose children are `children`).
fn resolve(
    from: &str,
    path: &[String],
    children: &BTreeSet<String>,
    modules: &BTreeMap<String, Module>,
) -> Option<String> {
    resolve_from(from, path, children, modules, 0)
}

fn resolve_from(
    from: &str,
    path: &[String],
    children: &BTreeSet<String>,
    modules: &BTreeMap<String, Module>,
    depth: usize,
) -> Option<String> {
    let mut base: Vec<String> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").map(String::from).collect()
    };
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("super") => {
            while rest.first().is_some_and(|p| p == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some("self") => rest = &rest[1..],
        Some(first) if children.contains(first) => {}
        _ => return None,
    }
    let mut best = base.join("::");
    let mut cur = base;
    let mut next = None;
    for seg in rest {
        cur.push(seg.clone());
        let name = cur.join("::");
        if modules.contains_key(&name) {
            best = name;
        } else {
            next = Some(seg);
            break;
        }
    }
    // A name the module forwards with `pub use` lands where it is defined.
    if let (Some(seg), Some(m)) = (next, modules.get(&best)) {
        if !m.defines.contains(seg) {
            if let Some(target) = m.reexports.get(seg) {
                if depth < 8 {
                    return resolve_from(&best, target, &m.children, modules, depth + 1);
                }
            }
        }
    }
    Some(best)
}

/// The items a file defines and the names it re-exports.
fn items(code: &str) -> (BTreeSet<String>, BTreeMap<String, Vec<String>>) {
    const KEYWORDS: &[&str] = &[
        "struct", "enum", "trait", "fn", "const", "static", "type", "union",
    ];
    let b = code.as_bytes();
    let mut defines = BTreeSet::new();
    let mut reexports = BTreeMap::new();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if !boundary || !b[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let (word, end) = ident_at(b, i);
        if KEYWORDS.contains(&word.as_str()) && b.get(end) == Some(&b' ') {
            let (name, _) = ident_at(b, end + 1);
            if !name.is_empty() {
                defines.insert(name);
            }
        }
        if word == "pub" {
            // `pub use`, `pub(crate) use`, `pub(super) use`.
            let rest = code[end..].trim_start();
            let rest = if rest.starts_with('(') {
                rest[rest.find(')').map_or(0, |p| p + 1)..].trim_start()
            } else {
                rest
            };
            if let Some(tree) = rest.strip_prefix("use ") {
                let stop = tree.find(';').unwrap_or(tree.len());
                let text = &tree[..stop];
                for path in expand_use(text) {
                    let alias = text
                        .split(',')
                        .filter_map(|part| part.split_once(" as "))
                        .find(|(p, _)| p.trim().ends_with(path.last().map_or("", String::as_str)))
                        .map(|(_, a)| a.trim().trim_end_matches('}').trim().to_string());
                    if let Some(last) = alias.or_else(|| path.last().cloned()) {
                        reexports.insert(last, path);
                    }
                }
            }
        }
        i = end;
    }
    (defines, reexports)
}

fn load() -> BTreeMap<String, Module> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules = BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap().to_path_buf();
        if rel == Path::new("main.rs") {
            continue;
        }
        let name = module_name(&rel);
        let raw = std::fs::read_to_string(&file).unwrap();
        let (code, tests) = without_tests(&strip(&raw));
        for t in &tests {
            test_only.insert(if name.is_empty() {
                t.clone()
            } else {
                format!("{name}::{t}")
            });
        }
        let children = code
            .lines()
            .filter_map(|l| {
                let l = l
                    .trim()
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ");
                l.strip_prefix("mod ")
                    .and_then(|r| r.strip_suffix(';'))
                    .map(|n| n.trim().to_string())
            })
            .collect();
        // The whole file counts, inline test modules too: only `tests.rs` files are exempt.
        let lines = raw.lines().count();
        let (defines, reexports) = items(&code);
        modules.insert(
            name,
            Module {
                file: rel,
                code,
                children,
                lines,
                defines,
                reexports,
            },
        );
    }
    // Test-only modules and everything under them are not part of the graph.
    modules.retain(|name, _| {
        !test_only
            .iter()
            .any(|t| name == t || name.starts_with(&format!("{t}::")))
    });
    modules
}

fn graph(modules: &BTreeMap<String, Module>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, m) in modules {
        let out = edges.entry(name.clone()).or_default();
        let forwarded: BTreeSet<&Vec<String>> = m.reexports.values().collect();
        for path in named_paths(&m.code, &m.children) {
            if let Some(to) = resolve(name, &path, &m.children, modules) {
                // A folder's `mod.rs` forwarding its children's names is its front door, not a
                // dependency; forwarding anything else is.
                let descendant = name.is_empty() || to.starts_with(&format!("{name}::"));
                if forwarded.contains(&path) && descendant {
                    continue;
                }
                if &to != name && modules.contains_key(&to) {
                    out.insert(to);
                }
            }
        }
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        for w in t.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let l = t.low[w].min(t.low[v]);
                t.low.insert(v, l);
            } else if t.on.contains(w) {
                let l = t.index[w].min(t.low[v]);
                t.low.insert(v, l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// Functions longer than the limit: (file, name, lines).
fn long_functions(m: &Module) -> Vec<(String, usize)> {
    let b = m.code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = m.code[i..].find("fn ") {
        let at = i + p;
        i = at + 3;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let (name, after) = ident_at(b, at + 3);
        if name.is_empty() {
            continue;
        }
        // The body starts at the first `{` before any `;` (a trait method without a body has none).
        let Some(open) = m.code[after..].find(['{', ';']).map(|q| after + q) else {
            continue;
        };
        if b[open] == b';' {
            continue;
        }
        let end = item_end(b, open);
        let lines = m.code[at..end].lines().count();
        if lines > MAX_FN_LINES {
            out.push((name, lines));
        }
    }
    out
}

/// Whether `module` is `prefix` or inside it (a trailing `::` on the prefix is ignored).
fn under(module: &str, prefix: &str) -> bool {
    let p = prefix.trim_end_matches("::");
    module == p || module.starts_with(&format!("{p}::"))
}

/// Every arrow of `edges` that runs up a floor, with the rule it breaks.
fn arrows_up(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, tos) in edges {
        for to in tos {
            for (a, b, why) in FORBIDDEN {
                if under(from, a) && under(to, b) && !under(to, a) {
                    wrong.push(format!("{from} -> {to}: {why}"));
                }
            }
        }
    }
    wrong
}

#[test]
fn arrows_point_down_a_floor() {
    let wrong = arrows_up(&graph(&load()));
    assert!(
        wrong.is_empty(),
        "arrows up a floor:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let edges = graph(&load());
    let found = cycles(&edges);
    // Each loop with the arrows inside it, so the message says which import to undo.
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            let inside: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| c.contains(b))
                        .map(move |b| format!("    {a} -> {b}"))
                })
                .collect();
            format!("{}\n{}", c.join(", "), inside.join("\n"))
        })
        .collect();
    assert!(found.is_empty(), "import cycles:\n  {}", shown.join("\n  "));
}

#[test]
fn files_and_functions_stay_readable() {
    let modules = load();
    let mut wrong = Vec::new();
    for m in modules.values() {
        let is_test = m.file.file_name().is_some_and(|f| f == "tests.rs");
        if !is_test && m.lines > MAX_FILE_LINES {
            wrong.push(format!(
                "{}: {} lines (at most {MAX_FILE_LINES})",
                m.file.display(),
                m.lines
            ));
        }
        if !is_test {
            for (name, lines) in long_functions(m) {
                wrong.push(format!(
                    "{}: fn {name} is {lines} lines (at most {MAX_FN_LINES})",
                    m.file.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "too long:\n  {}", wrong.join("\n  "));
}

#[test]
fn the_scan_sees_what_it_checks() {
    // The guard itself: the paths and the cycle finder work on known shapes.
    let kids: BTreeSet<String> = ["apply".to_string()].into();
    let paths = named_paths(
        "use super::{model::Desired, rollout::{self, Step}};\nfn f() { apply::run(); crate::aws::ecs::find(); }",
        &kids,
    );
    assert!(paths.contains(&vec!["super".into(), "model".into(), "Desired".into()]));
    assert!(paths.contains(&vec!["super".into(), "rollout".into()]));
    assert!(paths.contains(&vec!["apply".into(), "run".into()]));
    assert!(paths.contains(&vec![
        "crate".into(),
        "aws".into(),
        "ecs".into(),
        "find".into()
    ]));
    let (code, tests) = without_tests(
        "fn a() {}\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nmod inline { use crate::x; }\n",
    );
    assert!(tests.contains("tests"));
    assert!(!code.contains("crate::x"));
    let mut e: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    e.insert("a".into(), ["b".to_string()].into());
    e.insert("b".into(), ["a".to_string()].into());
    e.insert("c".into(), ["a".to_string()].into());
    assert_eq!(cycles(&e), vec![vec!["a".to_string(), "b".to_string()]]);
    let mut up: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    up.insert(
        "resources::canary::rollout::builder".into(),
        [
            "resources::canary::routers".to_string(),
            "resources::canary::model".to_string(),
        ]
        .into(),
    );
    up.insert(
        "resources::canary::release".into(),
        ["resources::canary::release".to_string()].into(),
    );
    let found = arrows_up(&up);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("resources::canary::rollout::builder -> resources::canary::routers")
    );
    assert_eq!(
        strip("let s = \"{ crate::x }\"; // crate::y\nlet c = '{';"),
        "let s = \"\"; \nlet c = ' ';"
    );
}
