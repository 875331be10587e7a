//! The crate's modules depend on each other one way: protocol words at the
//! bottom, handlers above, assembly on top, and no import circle. This test
//! reads `gateway/src` and builds the graph of which module names which:
//! `use` lines (braces expanded), inline `crate::…`/`super::…` paths, and a
//! parent's calls into its child modules. A name a module re-exports
//! (`pub use code::RoomCode;`) counts as a use of the module that defines it.
//! Test modules (`#[cfg(test)] mod tests { … }`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = String;

struct Source {
    /// Comments, strings and test modules removed.
    code: String,
    children: BTreeSet<String>,
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let graph = graph();
    let mut cycles = Vec::new();
    for start in graph.keys() {
        if let Some(path) = path_back(&graph, start) {
            cycles.push(path.join(" → "));
        }
    }
    assert!(cycles.is_empty(), "import circles:\n{}", cycles.join("\n"));
}

#[test]
fn metrics_and_state_know_nothing_of_the_handlers() {
    let graph = graph();
    for low in ["metrics", "state", "protocol"] {
        let uses = &graph[low];
        assert!(
            uses.iter()
                .all(|m| !m.starts_with("events") && !m.starts_with("http")),
            "{low} uses {uses:?}"
        );
    }
    assert!(
        graph["protocol"].is_empty(),
        "protocol is a leaf: {:?}",
        graph["protocol"]
    );
}

/// The modules that put the gateway together (and the shared state every
/// handler gets): they may name everything, so they stay out of the
/// folder-level check.
const ASSEMBLY: [&str; 8] = [
    "crate", "server", "state", "adapter", "config", "main", "metrics", "shutdown",
];

/// Folder-level edges: `a → b` when a module under `a` names one under `b`.
fn folders() -> BTreeMap<Module, BTreeSet<Module>> {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, uses) in graph() {
        let from = top(&from);
        if ASSEMBLY.contains(&from.as_str()) {
            continue;
        }
        let entry = out.entry(from.clone()).or_default();
        for to in uses {
            let to = top(&to);
            if to != from && !ASSEMBLY.contains(&to.as_str()) {
                entry.insert(to);
            }
        }
    }
    out
}

#[test]
fn folders_depend_on_each_other_one_way() {
    let folders = folders();
    let mut cycles = Vec::new();
    for start in folders.keys() {
        if let Some(path) = path_back(&folders, start) {
            cycles.push(path.join(" → "));
        }
    }
    assert!(cycles.is_empty(), "folder circles:\n{}", cycles.join("\n"));
    // The layers a reader expects, named: the socket's machinery knows no
    // handler, delivery and the byte budget know neither, limits know no route.
    for (low, high) in [
        ("socket", "events"),
        ("delivery", "events"),
        ("delivery", "socket"),
        ("send_buffer", "events"),
        ("send_buffer", "socket"),
        ("send_buffer", "delivery"),
        ("limits", "http"),
        ("net", "http"),
        ("rooms", "events"),
        ("protocol", "events"),
    ] {
        assert!(
            !folders.get(low).is_some_and(|uses| uses.contains(high)),
            "{low} → {high}: {:?}",
            folders[low]
        );
    }
}

#[test]
fn only_the_cluster_the_rooms_and_the_assembly_name_the_cluster() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    collect(&root, &root, &mut sources);
    let mut named = Vec::new();
    for (module, source) in &sources {
        let top = module.split("::").next().unwrap_or(module);
        if matches!(top, "cluster" | "rooms") || ASSEMBLY.contains(&top) {
            continue;
        }
        for word in [
            "cluster",
            "NodeAdapter",
            "fred",
            "socketioxide_redis",
            "clustered",
        ] {
            if find_word(&source.code, word).is_some() {
                named.push(format!("{module} names {word}"));
            }
        }
    }
    assert!(named.is_empty(), "{named:#?}");
    // Guards the check itself: the assembly does name it.
    assert!(find_word(&sources["server"].code, "cluster").is_some());
}

#[test]
fn the_graph_sees_the_edges_it_should() {
    // Guards the parser itself: edges that exist must be found.
    let graph = graph();
    for (from, to) in [
        ("events", "events::rooms"),
        ("events::relay", "protocol"),
        ("socket::inbox", "socket::session"),
        ("events", "socket::sessions"),
        ("delivery::local", "send_buffer::outbox"),
        ("cluster::delivery", "delivery"),
        ("server::socket_io", "socket::admission"),
        ("events::rooms", "rooms::code"),
        ("metrics", "protocol"),
    ] {
        assert!(
            graph[from].contains(to),
            "{from} → {to} not found in {:?}",
            graph[from]
        );
    }
}

/// Files are split along responsibilities long before they reach this:
/// comments, blank lines and test modules are not counted.
const MAX_CODE_LINES: usize = 450;

#[test]
fn no_source_file_is_over_450_code_lines() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for src in ["gateway/src", "client-rs/src", "bench/src"] {
        rust_files(&workspace.join(src), &mut files);
    }
    assert!(files.len() > 100, "found only {} files", files.len());
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let code = drop_test_modules(&strip(&std::fs::read_to_string(path).unwrap()));
            let lines = code.lines().filter(|l| !l.trim().is_empty()).count();
            let shown = path.strip_prefix(&workspace).unwrap_or(path).display();
            (lines > MAX_CODE_LINES).then(|| format!("{shown}: {lines}"))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "over {MAX_CODE_LINES} code lines:\n{}",
        long.join("\n")
    );
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

/// A path from `start` back to itself, if there is one.
fn path_back(graph: &BTreeMap<Module, BTreeSet<Module>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    collect(&root, &root, &mut sources);
    let modules: BTreeSet<Module> = sources.keys().cloned().collect();
    let reexports: BTreeMap<Module, BTreeMap<String, Module>> = sources
        .iter()
        .map(|(m, s)| (m.clone(), reexports(m, s, &modules)))
        .collect();
    sources
        .iter()
        .map(|(module, source)| {
            let mut uses = BTreeSet::new();
            for path in paths(source) {
                if let Some(target) = resolve(module, source, &path, &modules, &reexports)
                    && &target != module
                {
                    uses.insert(target);
                }
            }
            (module.clone(), uses)
        })
        .collect()
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<Module, Source>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("main.rs") {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        let module = if parts.is_empty() {
            "crate".to_owned()
        } else {
            parts.join("::")
        };
        let code = strip(&std::fs::read_to_string(&path).unwrap());
        let children = words_after(&code, "mod ")
            .into_iter()
            .filter(|(_, rest)| rest.trim_start().starts_with(';'))
            .map(|(name, _)| name)
            .collect();
        out.insert(module, Source { code, children });
    }
}

/// Every path the module names: expanded `use` trees and inline paths.
fn paths(source: &Source) -> Vec<String> {
    let code = &source.code;
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = find_word(rest, "use") {
        let after = &rest[i + 3..];
        let end = after.find(';').unwrap_or(after.len());
        expand(after[..end].trim(), "", &mut out);
        rest = &after[end..];
    }
    // Inline paths, and a parent's calls into its children (`rooms::create(…)`).
    for (head, tail) in words_followed_by(code, "::") {
        if head == "crate" || head == "super" || source.children.contains(&head) {
            out.push(format!("{head}::{tail}"));
        }
    }
    out
}

/// `a::{b, c::{d, self}}` → `a::b`, `a::c::d`, `a::c`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let prefix = join(prefix, head);
        for part in split_top(inner) {
            expand(part, &prefix, out);
        }
    } else {
        let item = tree.split(" as ").next().unwrap_or(tree).trim();
        if item == "self" {
            out.push(prefix.to_owned());
        } else {
            out.push(join(prefix, item));
        }
    }
}

fn join(prefix: &str, tail: &str) -> String {
    match (prefix.is_empty(), tail.is_empty()) {
        (true, _) => tail.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}::{tail}"),
    }
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The module a path lands in, if it is one of ours.
fn resolve(
    module: &str,
    source: &Source,
    path: &str,
    modules: &BTreeSet<Module>,
    reexports: &BTreeMap<Module, BTreeMap<String, Module>>,
) -> Option<Module> {
    let mut segments: Vec<&str> = path.split("::").map(str::trim).collect();
    let mut base: Vec<String> = match segments.first()? {
        &"crate" => {
            segments.remove(0);
            vec![]
        }
        &"super" => {
            let mut base = own_path(module);
            while segments.first() == Some(&"super") {
                segments.remove(0);
                base.pop();
            }
            base
        }
        &"self" => {
            segments.remove(0);
            own_path(module)
        }
        first if source.children.contains(*first) => own_path(module),
        _ => return None,
    };
    let mut found = name_of(&base);
    for seg in segments {
        base.push(seg.to_owned());
        let candidate = name_of(&base);
        if modules.contains(&candidate) {
            found = candidate;
        } else {
            // An item: re-exported from elsewhere, or defined here.
            if let Some(real) = reexports.get(&found).and_then(|r| r.get(seg)) {
                found = real.clone();
            }
            break;
        }
    }
    modules.contains(&found).then_some(found)
}

fn own_path(module: &str) -> Vec<String> {
    if module == "crate" {
        vec![]
    } else {
        module.split("::").map(str::to_owned).collect()
    }
}

fn name_of(path: &[String]) -> Module {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// `pub use x::Name;` in `module`: Name → the module x resolves to.
fn reexports(
    module: &str,
    source: &Source,
    modules: &BTreeSet<Module>,
) -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    let mut rest = source.code.as_str();
    while let Some(i) = rest.find("pub use ") {
        let after = &rest[i + 8..];
        let end = after.find(';').unwrap_or(after.len());
        let mut paths = Vec::new();
        expand(&after[..end], "", &mut paths);
        for path in paths {
            let name = path.rsplit("::").next().unwrap_or(&path).to_owned();
            let empty = BTreeMap::new();
            if let Some(target) =
                resolve(module, source, &path, modules, &empty.into_iter().collect())
            {
                out.insert(name, target);
            }
        }
        rest = &after[end..];
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word).map(|i| i + from) {
        let before = s[..i].chars().next_back().is_none_or(|c| !is_ident(c));
        let after = s[i + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_ident(c));
        if before && after {
            return Some(i);
        }
        from = i + word.len();
    }
    None
}

/// `(name, rest)` for each `<keyword><name>` (e.g. `mod events;`).
fn words_after(s: &str, keyword: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = s[from..].find(keyword).map(|i| i + from) {
        from = i + keyword.len();
        if s[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let name: String = s[from..].chars().take_while(|c| is_ident(*c)).collect();
        let rest = s[from + name.len()..].chars().take(2).collect();
        if !name.is_empty() {
            out.push((name, rest));
        }
    }
    out
}

/// `(head, tail)` for each `head::tail…` path expression.
fn words_followed_by(s: &str, sep: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = s[from..].find(sep).map(|i| i + from) {
        from = i + sep.len();
        let head: String = s[..i]
            .chars()
            .rev()
            .take_while(|c| is_ident(*c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if head.is_empty() || s[..i - head.len()].ends_with("::") {
            continue;
        }
        let tail: String = s[from..]
            .chars()
            .take_while(|c| is_ident(*c) || *c == ':')
            .collect();
        // `super::{a, b}`: the use-tree parser has it; an empty tail is no path.
        let tail = tail.trim_end_matches(':');
        if !tail.is_empty() {
            out.push((head, tail.to_owned()));
        }
    }
    out
}

/// Removes comments, string and char literals, and `#[cfg(test)]` modules.
fn strip(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_ident(&chars, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    drop_test_modules(&out)
}

fn prev_ident(chars: &[char], i: usize) -> bool {
    i > 0 && is_ident(chars[i - 1])
}

fn drop_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(open) = after.find('{') else {
            rest = "";
            break;
        };
        // Only a module (or item) block right after the attribute.
        let mut depth = 0;
        let mut end = after.len();
        for (j, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}
