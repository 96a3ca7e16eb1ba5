//! `tagpub check` against `twine check` on real files from PyPI: the corpus
//! pinned in tests/corpus/files.txt, downloaded once into
//! `$TAGPUB_DEV_CACHE/corpus` by `scripts/fetch-corpus.sh` (this test never
//! uses the network). twine runs once over all files (one Python process,
//! tests/corpus/twine_verdicts.py), tagpub once per mode and RST engine, and
//! every file must get the same verdict, except the files listed in
//! tests/corpus/stricter.txt, each with the PyPI rule that makes tagpub
//! refuse it.
//!
//! The other half of "today's PyPI verdict": tests/corpus/recent.txt pins
//! files PyPI accepted in 2025-2026, under today's upload rules, so
//! `tagpub check` must pass every one of them, with either RST engine (a
//! refusal there would stop a real release); `--strict` may fail them only
//! where `twine check --strict` does, for its two warnings.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `twine check --strict` vs `tagpub check --strict`.
    Strict,
    /// `twine check` vs `tagpub check`.
    Lenient,
}

/// tests/corpus/stricter.txt: files twine passes and PyPI refuses today,
/// with the modes where twine passes them and the rule (text of tagpub's
/// message).
fn stricter() -> Vec<(String, Vec<Mode>, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/stricter.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split('\t');
            let (file, modes, rule) = (
                fields.next().unwrap(),
                fields.next().expect("file, modes, rule"),
                fields.next().expect("file, modes, rule"),
            );
            let modes = modes
                .split(',')
                .map(|m| match m {
                    "strict" => Mode::Strict,
                    "default" => Mode::Lenient,
                    other => panic!("unknown mode {other} in stricter.txt"),
                })
                .collect();
            (file.to_string(), modes, rule.to_string())
        })
        .collect()
}

fn cache() -> PathBuf {
    std::env::var_os("TAGPUB_DEV_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            common::venv()
                .parent()
                .expect("the venv has a parent")
                .to_path_buf()
        })
}

/// The pinned files of tests/corpus/files.txt, each present with its
/// pinned sha256 (checked once per test binary).
fn corpus() -> Vec<PathBuf> {
    static FILES: OnceLock<Vec<PathBuf>> = OnceLock::new();
    FILES
        .get_or_init(|| pinned_files("files.txt").into_iter().map(|f| f.0).collect())
        .clone()
}

/// The files of tests/corpus/recent.txt with their upload times, each
/// present with its pinned sha256.
fn recent() -> Vec<(PathBuf, String)> {
    static FILES: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            pinned_files("recent.txt")
                .into_iter()
                .map(|(path, uploaded)| (path, uploaded.expect("recent.txt gives upload times")))
                .collect()
        })
        .clone()
}

/// `sha256 url [upload-time]` lines of a list under tests/corpus.
fn pinned_files(list: &str) -> Vec<(PathBuf, Option<String>)> {
    let list = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(list);
    let dir = cache().join("corpus");
    let mut files = Vec::new();
    for line in std::fs::read_to_string(&list).unwrap().lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (hash, url) = (
            fields.next().unwrap(),
            fields.next().expect("`sha256 url` lines"),
        );
        let uploaded = fields.next().map(str::to_string);
        let path = dir.join(url.rsplit('/').next().unwrap());
        let file = std::fs::File::open(&path).unwrap_or_else(|err| {
            panic!(
                "{} is missing ({err}); run scripts/fetch-corpus.sh",
                path.display()
            )
        });
        let (sha256, _) = tagpub::dist::hash::digests(file).unwrap();
        assert_eq!(
            sha256,
            hash,
            "{} differs from the pinned file; rerun scripts/fetch-corpus.sh",
            path.display()
        );
        files.push((path, uploaded));
    }
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

type Verdicts = BTreeMap<String, (bool, String)>;

/// twine's verdict per file name, from one Python process per file list
/// and mode (shared by the tests of both RST engines).
fn twine(files: &[PathBuf], mode: Mode) -> Verdicts {
    type Cache = Mutex<BTreeMap<(Vec<PathBuf>, bool), Verdicts>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry((files.to_vec(), mode == Mode::Strict))
        .or_insert_with(|| run_twine(files, mode))
        .clone()
}

fn run_twine(files: &[PathBuf], mode: Mode) -> Verdicts {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/twine_verdicts.py");
    let mut command = Command::new(common::venv_bin("python"));
    command.arg(&script);
    if mode == Mode::Lenient {
        command.arg("--lenient");
    }
    let output = command.args(files).output().unwrap();
    assert!(
        output.status.success(),
        "twine_verdicts.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json.as_object()
        .unwrap()
        .iter()
        .map(|(file, verdict)| {
            (
                file.clone(),
                (
                    verdict["ok"].as_bool().unwrap(),
                    verdict["detail"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

struct TagpubRun {
    /// File name → errors (empty: passes).
    errors: BTreeMap<String, Vec<String>>,
    /// File name → the rule of each error.
    rules: BTreeMap<String, Vec<String>>,
    rst_engine: serde_json::Value,
    exit_code: i32,
}

fn tagpub(files: &[PathBuf], mode: Mode, engine: &str) -> TagpubRun {
    let mut command = Command::new(crate::common::project::tagpub_bin());
    command
        .arg("check")
        .arg("--json")
        .env("TAGPUB_RST", engine)
        .env("TAGPUB_PYTHON", common::venv_bin("python"));
    if mode == Mode::Strict {
        command.arg("--strict");
    }
    let output = command.args(files).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "tagpub check --json printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let (mut errors, mut rules) = (BTreeMap::new(), BTreeMap::new());
    for report in json["files"].as_array().unwrap() {
        let messages: Vec<String> = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        // Every failure names its rule; `errors` are their messages.
        let failures = report["failures"].as_array().unwrap();
        assert_eq!(failures.len(), messages.len(), "{report}");
        let mut named = Vec::new();
        for (failure, error) in failures.iter().zip(&messages) {
            let rule = failure["rule"].as_str().unwrap();
            assert!(!rule.is_empty(), "{report}");
            assert_eq!(failure["message"].as_str().unwrap(), error);
            named.push(rule.to_string());
        }
        let file = report["file"].as_str().unwrap().to_string();
        errors.insert(file.clone(), messages);
        rules.insert(file, named);
    }
    TagpubRun {
        errors,
        rules,
        rst_engine: json["rst_engine"].clone(),
        exit_code: output.status.code().unwrap(),
    }
}

/// The agreement check itself: same verdict per file, or a listed rule.
fn agree(mode: Mode, engine: &str) {
    let files = corpus();
    let twine = twine(&files, mode);
    let run = tagpub(&files, mode, engine);
    let table = stricter();
    assert_eq!(run.rst_engine["engine"], engine, "{}", run.rst_engine);
    assert_eq!(run.errors.len(), files.len());
    let mut disagreements = Vec::new();
    let mut used = Vec::new();
    for file in &files {
        let file = name(file);
        let (twine_ok, twine_detail) = &twine[&file];
        let errors = &run.errors[&file];
        let tagpub_ok = errors.is_empty();
        if *twine_ok == tagpub_ok {
            continue;
        }
        let stricter = table.iter().find(|(f, modes, rule)| {
            *f == file && modes.contains(&mode) && errors.iter().any(|e| e.contains(rule))
        });
        match stricter {
            Some(entry) if *twine_ok => used.push(entry.0.clone()),
            _ => disagreements.push(format!(
                "{file}: twine {} ({}), tagpub {} ({})",
                if *twine_ok { "passes" } else { "fails" },
                twine_detail.trim(),
                if tagpub_ok { "passes" } else { "fails" },
                errors.join(" | ")
            )),
        }
    }
    assert!(
        disagreements.is_empty(),
        "{mode:?}/{engine}: {} of {} files disagree:\n{}",
        disagreements.len(),
        files.len(),
        disagreements.join("\n")
    );
    for (file, modes, rule) in &table {
        assert!(
            !modes.contains(&mode) || used.contains(file),
            "stricter.txt lists {file} ({rule}) for {mode:?} but twine and tagpub agree on it \
             there; fix the entry"
        );
    }
    // The corpus has both verdicts, so the comparison could fail.
    let failing = run.errors.values().filter(|e| !e.is_empty()).count();
    assert!(failing > 0 && failing < files.len(), "{failing} failing");
    assert_eq!(run.exit_code, 1, "some files fail, so the exit code is 1");
}

#[test]
fn corpus_has_the_spread_it_claims() {
    let files: Vec<String> = corpus().iter().map(|p| name(p)).collect();
    assert!(files.len() >= 25, "{} files", files.len());
    let count = |pred: &dyn Fn(&str) -> bool| files.iter().filter(|f| pred(f)).count();
    assert!(count(&|f| f.ends_with(".whl")) >= 10);
    assert!(count(&|f| f.ends_with(".tar.gz")) >= 10);
    assert!(count(&|f| f.ends_with(".zip")) >= 3);
    for platform in ["manylinux", "musllinux", "macosx", "win_amd64"] {
        assert!(count(&|f| f.contains(platform)) >= 1, "{platform}");
    }
    // Metadata versions 1.0 to 2.4, as the files say.
    let mut versions = std::collections::BTreeSet::new();
    let mut license_expression = false;
    for path in &corpus() {
        let artifact = tagpub::pipeline::check::inspect(path).unwrap();
        versions.insert(
            artifact
                .metadata
                .get("Metadata-Version")
                .unwrap()
                .to_string(),
        );
        license_expression |= artifact.metadata.get("License-Expression").is_some();
    }
    for version in ["1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4"] {
        assert!(
            versions.contains(version),
            "no metadata {version}: {versions:?}"
        );
    }
    assert!(license_expression);
}

#[test]
fn strict_agrees_with_twine_strict_readme_renderer() {
    agree(Mode::Strict, "readme_renderer");
}

#[test]
fn strict_agrees_with_twine_strict_native_rst() {
    agree(Mode::Strict, "native");
}

#[test]
fn default_agrees_with_twine_default_readme_renderer() {
    agree(Mode::Lenient, "readme_renderer");
}

#[test]
fn default_agrees_with_twine_default_native_rst() {
    agree(Mode::Lenient, "native");
}

/// The rule under which `--strict` makes twine's two warnings (no
/// `Description-Content-Type`, no long description) errors, as `twine
/// check --strict` does; PyPI itself accepts such files.
const STRICT_ONLY_RULE: &str = "long-description";

/// Without `--strict`, every file PyPI accepted in 2025-2026 passes and the
/// run exits 0 (twine, as a cross-check of the files, passes them too).
fn recent_uploads_pass(engine: &str) {
    let files: Vec<PathBuf> = recent().into_iter().map(|(path, _)| path).collect();
    let run = tagpub(&files, Mode::Lenient, engine);
    assert_eq!(run.rst_engine["engine"], engine, "{}", run.rst_engine);
    assert_eq!(run.errors.len(), files.len());
    let refused: Vec<String> = run
        .errors
        .iter()
        .filter(|(_, errors)| !errors.is_empty())
        .map(|(file, errors)| format!("{file}: {}", errors.join(" | ")))
        .collect();
    assert!(
        refused.is_empty(),
        "{engine}: tagpub refuses {} of {} files PyPI accepted in 2025-2026:\n{}",
        refused.len(),
        files.len(),
        refused.join("\n")
    );
    assert_eq!(run.exit_code, 0, "every file passes, so the exit code is 0");
    let twine = twine(&files, Mode::Lenient);
    assert!(twine.values().all(|(ok, _)| *ok), "{twine:?}");
}

/// With `--strict`, a file PyPI accepted in 2025-2026 fails only for
/// twine's two warnings, exactly where `twine check --strict` fails it.
fn recent_uploads_strict(engine: &str) {
    let files: Vec<PathBuf> = recent().into_iter().map(|(path, _)| path).collect();
    let run = tagpub(&files, Mode::Strict, engine);
    let twine = twine(&files, Mode::Strict);
    assert_eq!(run.rst_engine["engine"], engine, "{}", run.rst_engine);
    assert_eq!(run.errors.len(), files.len());
    let mut wrong = Vec::new();
    for (file, rules) in &run.rules {
        let (twine_ok, twine_detail) = &twine[file];
        let only_strict = rules.iter().all(|rule| rule == STRICT_ONLY_RULE);
        if !only_strict || *twine_ok != rules.is_empty() {
            wrong.push(format!(
                "{file}: twine --strict {} ({}), tagpub --strict: {}",
                if *twine_ok { "passes" } else { "fails" },
                twine_detail.trim(),
                run.errors[file].join(" | ")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{engine}: {} of {} files PyPI accepted in 2025-2026 get another verdict:\n{}",
        wrong.len(),
        files.len(),
        wrong.join("\n")
    );
    // Both outcomes occur (protobuf's files have no long description), so
    // the comparison could fail either way.
    let failing = run.rules.values().filter(|r| !r.is_empty()).count();
    assert!(failing > 0 && failing < files.len(), "{failing} failing");
}

#[test]
fn recent_corpus_has_the_spread_it_claims() {
    let recent = recent();
    assert!(recent.len() >= 25, "{} files", recent.len());
    for (path, uploaded) in &recent {
        // PyPI's JSON API `upload_time_iso_8601`, e.g. 2026-10-28T02:27:29Z.
        assert!(
            uploaded.as_str() >= "2025-01-01" && uploaded.ends_with('Z'),
            "{}: uploaded {uploaded}, not in 2025-2026",
            path.display()
        );
    }
    let names: Vec<String> = recent.iter().map(|(p, _)| name(p)).collect();
    let count = |pred: &dyn Fn(&str) -> bool| names.iter().filter(|f| pred(f)).count();
    assert!(count(&|f| f.ends_with(".whl")) >= 20);
    assert!(count(&|f| f.ends_with(".tar.gz")) >= 10);
    // The platform tags and ABIs the upload rules decide on.
    for tag in [
        "-manylinux_2_31_riscv64",
        "-musllinux_1_1_riscv64",
        "_aarch64",
        "_ppc64le",
        "_s390x",
        "_armv7l",
        "-musllinux_1_2_",
        "macosx_10_15_",
        "macosx_11_0_arm64",
        "macosx_14_0_",
        "macosx_15_0_",
        "_universal2",
        "-win_arm64",
        "_iphoneos",
        "_iphonesimulator",
        "-android_24_",
        "-pyemscripten_2025_0_wasm32",
        "-pyemscripten_2026_0_wasm32",
        "-abi3-",
        "-abi3.abi3t-",
        "-cp314t-",
        "-cp315t-",
    ] {
        assert!(count(&|f| f.contains(tag)) >= 1, "no {tag} file");
    }
    // The metadata the PEP 639 and field rules read.
    let mut versions = std::collections::BTreeSet::new();
    let (mut wheel_licenses, mut sdist_licenses, mut dotted_scripts) = (0, 0, 0);
    let (mut markdown, mut rst, mut dynamic, mut markers) = (0, 0, 0, 0);
    for (path, _) in &recent {
        let inspected = tagpub::pipeline::check::inspect_all(path).unwrap();
        let meta = &inspected.artifact.metadata;
        versions.insert(meta.get("Metadata-Version").unwrap().to_string());
        if meta.get("License-Expression").is_some() && !meta.get_all("License-File").is_empty() {
            match inspected.artifact.kind {
                tagpub::dist::ArtifactKind::Wheel => wheel_licenses += 1,
                tagpub::dist::ArtifactKind::Sdist => sdist_licenses += 1,
            }
        }
        let content_type = meta.get("Description-Content-Type").unwrap_or("");
        markdown += usize::from(content_type.starts_with("text/markdown"));
        rst += usize::from(content_type.starts_with("text/x-rst"));
        dynamic += usize::from(!meta.get_all("Dynamic").is_empty());
        markers += usize::from(
            meta.get_all("Requires-Dist")
                .iter()
                .any(|r| r.contains("extra ==")),
        );
        dotted_scripts += usize::from(dotted_script(path));
    }
    for version in ["2.3", "2.4", "2.5"] {
        assert!(
            versions.contains(version),
            "no metadata {version}: {versions:?}"
        );
    }
    assert!(wheel_licenses >= 10 && sdist_licenses >= 5);
    assert!(markdown >= 5 && rst >= 5 && dynamic >= 5 && markers >= 3);
    // Dashed console script names (scikit-build-core's `scikit-build`,
    // numpy's `numpy-config`, cffi's `cffi-gen-src`): the entry point rule's
    // `[\w.-]+` must let them through.
    assert!(dotted_scripts >= 2, "{dotted_scripts}");
}

/// Whether a wheel's entry_points.txt has a console or GUI script whose
/// name has a dot or a dash.
fn dotted_script(path: &Path) -> bool {
    if !name(path).ends_with(".whl") {
        return false;
    }
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let Some(member) = archive
        .file_names()
        .find(|n| n.ends_with(".dist-info/entry_points.txt") && n.matches('/').count() == 1)
        .map(str::to_string)
    else {
        return false;
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name(&member).unwrap(), &mut text).unwrap();
    let mut scripts = false;
    text.lines().any(|line| {
        let line = line.trim();
        if line.starts_with('[') {
            scripts = line == "[console_scripts]" || line == "[gui_scripts]";
            return false;
        }
        scripts
            && line
                .split_once('=')
                .is_some_and(|(script, _)| script.trim().contains(['.', '-']))
    })
}

#[test]
fn recent_uploads_pass_readme_renderer() {
    recent_uploads_pass("readme_renderer");
}

#[test]
fn recent_uploads_pass_native_rst() {
    recent_uploads_pass("native");
}

#[test]
fn recent_uploads_strict_agrees_with_twine_strict_readme_renderer() {
    recent_uploads_strict("readme_renderer");
}

#[test]
fn recent_uploads_strict_agrees_with_twine_strict_native_rst() {
    recent_uploads_strict("native");
}
