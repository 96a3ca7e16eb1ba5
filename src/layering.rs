//! The module map's rule, checked on the source: every `crate::` path in
//! non-test code points down the layers of `docs/architecture.md`, no
//! modules import each other in a cycle (at any depth), and commands are
//! leaves (none imports another). Compiled only for tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. A module may import modules of its own layer or lower
/// ones; within a layer the cycle check keeps the arrows one way.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "env", "exit", "report", "finding", "version", "dist", "sample", "secrets", "fault",
            "retry", "http", "printer", "fsutil", "process", "dirs", "logfile",
        ],
    ),
    (
        "mechanisms",
        &[
            "git",
            "hooks",
            "repository",
            "ledger",
            "ipc",
            "config",
            "credentials",
        ],
    ),
    ("pipeline", &["pipeline"]),
    ("features", &["bump", "ci", "daemon", "render", "scaffold"]),
    ("commands", &["commands"]),
    ("cli", &["cli"]),
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&top))
}

/// `a::b` for `src/a/b.rs` and `src/a/b/mod.rs`.
fn module_path(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Every `.rs` file under `dir` (also for `env.rs`'s test of the variables).
pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code without comments and without its trailing unit-test module.
fn non_test_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    code.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) ends the line early: harmless,
            // paths are never written after a URL on one line.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every module path written after `crate::`, with `use crate::{a, b::c}`
/// groups expanded to their first-level paths.
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level entries of the group: after `{` and each `,` at depth 0.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        paths.push(group[start..i].trim().to_string());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        paths.push(group[start..i].trim().to_string());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            let end = rest.find(|c| !is_path_char(c)).unwrap_or(rest.len());
            paths.push(rest[..end].to_string());
        }
    }
    paths
        .into_iter()
        .map(|p| {
            p.split("::")
                .take_while(|s| !s.is_empty() && !s.starts_with('{'))
                .collect::<Vec<_>>()
                .join("::")
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// The longest known module that `path` names or is inside.
fn resolve<'m>(modules: &'m BTreeSet<String>, path: &str) -> Option<&'m String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .find_map(|n| modules.get(&parts[..n].join("::")))
}

/// Module → the modules its non-test code names (not itself, its own
/// submodules, or modules it is inside).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                module_path(&src, f),
                non_test_code(&std::fs::read_to_string(f).unwrap()),
            )
        })
        .collect();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, code) in &sources {
        let mut targets = BTreeSet::new();
        for path in crate_paths(code) {
            if let Some(target) = resolve(&modules, &path)
                && target != module
                && !module.starts_with(&format!("{target}::"))
                && !target.starts_with(&format!("{module}::"))
            {
                targets.insert(target.clone());
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn every_module_has_a_layer() {
    let graph = import_graph();
    let unplaced: BTreeSet<&str> = graph
        .keys()
        .map(|m| top(m))
        .filter(|t| !matches!(*t, "lib" | "main" | "layering") && layer_of(t).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules without a layer (add them to LAYERS and docs/architecture.md): {unplaced:?}"
    );
}

#[test]
fn every_import_points_down() {
    let mut upward = Vec::new();
    for (module, targets) in import_graph() {
        let Some(from) = layer_of(top(&module)) else {
            continue;
        };
        for target in targets {
            if let Some(to) = layer_of(top(&target))
                && to > from
            {
                upward.push(format!(
                    "{module} ({}) imports {target} ({})",
                    LAYERS[from].0, LAYERS[to].0
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up:\n{}",
        upward.join("\n")
    );
}

#[test]
fn commands_are_leaves() {
    let mut lateral = Vec::new();
    for (module, targets) in import_graph() {
        if !module.starts_with("commands::") {
            continue;
        }
        let command = module.split("::").nth(1).unwrap();
        for target in targets {
            let other = target.split("::").nth(1);
            if target.starts_with("commands::") && other != Some(command) {
                lateral.push(format!("{module} imports {target}"));
            }
        }
    }
    assert!(
        lateral.is_empty(),
        "commands that import other commands (move what they share below commands):\n{}",
        lateral.join("\n")
    );
}

#[test]
fn no_modules_import_each_other_in_a_cycle() {
    let graph = import_graph();
    // At every depth: `a::x` importing `b` and `b::y` importing `a` is a
    // cycle between `a` and `b` as well.
    for depth in 1..=3 {
        let cut = |m: &str| m.split("::").take(depth).collect::<Vec<_>>().join("::");
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, targets) in &graph {
            for target in targets {
                let (from, to) = (cut(module), cut(target));
                // Parent and child at this depth are one module seen twice.
                if from != to
                    && !from.starts_with(&format!("{to}::"))
                    && !to.starts_with(&format!("{from}::"))
                {
                    edges.entry(from).or_default().insert(to);
                }
            }
        }
        for start in edges.keys() {
            if let Some(cycle) = path_back(&edges, start) {
                panic!("import cycle at depth {depth}: {}", cycle.join(" → "));
            }
        }
    }
}

/// A path from `start` back to itself, if there is one.
fn path_back(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in edges.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
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

#[test]
fn the_checks_see_real_imports() {
    // Controls: the parser finds each form of import, so the tests above
    // cannot pass by seeing nothing.
    assert_eq!(
        crate_paths("use crate::config::{Config, Package};\nlet x = crate::git::Repo::open(p);"),
        ["config::", "git::Repo::open"]
            .map(|p| p.trim_end_matches("::").to_string())
            .to_vec()
    );
    assert_eq!(
        crate_paths("use crate::{dist::Artifact, report::{Reporter, Silent}};"),
        ["dist::Artifact", "report"]
    );
    let graph = import_graph();
    assert!(graph["pipeline::release"].contains("repository"));
    assert!(graph["cli"].contains("commands::daemon"));
    assert!(graph["commands::init"].contains("scaffold"));
}
