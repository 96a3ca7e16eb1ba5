//! `tagpub demo`, the README's first command: the sample monorepo made,
//! tagged, released to a `local` index and pip-installed, end to end, then
//! its workspace removed (or kept with `--keep`).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::project::{Run, files_in, tagpub_bin};

/// `tagpub demo ARGS` with its temp files under `tmp` and tagpub's dirs
/// under `state`.
fn demo(args: &[&str], tmp: &Path, state: &Path) -> Run {
    let mut command = Command::new(tagpub_bin());
    tagpub_fixtures::dirs::isolate(&mut command, state)
        .arg("demo")
        .args(args)
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    tagpub::process::scrub_secret_env(&mut command);
    Run::from_output(command.output().expect("tagpub runs"))
}

/// The demo workspaces (`tagpub-demo-*`) in `tmp`.
fn workspaces(tmp: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("tagpub-demo-"))
        })
        .collect()
}

#[test]
fn demo_publishes_and_installs_the_sample_then_removes_its_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let run = demo(&[], tmp.path(), state.path());
    run.assert_ok()
        .assert_stderr("published open-ticket-ai-hf-local 1.0.0 to local and verified")
        .assert_stderr(
            "demo complete: pip installed open-ticket-ai-hf-local 1.0.0 and its dependency open-ticket-ai 1.0.0 from file://",
        );
    assert_eq!(workspaces(tmp.path()), Vec::<std::path::PathBuf>::new());

    // --keep leaves the repository and the index, and says where.
    let run = demo(&["--keep"], tmp.path(), state.path());
    run.assert_ok()
        .assert_stderr("the demo's files are kept in ");
    let kept = workspaces(tmp.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    let index = kept[0].join("state/data/index/simple/open-ticket-ai-hf-local");
    let files: Vec<String> = files_in(&index)
        .into_iter()
        .filter(|name| name != "index.html")
        .collect();
    assert_eq!(
        files,
        [
            "open_ticket_ai_hf_local-1.0.0-py3-none-any.whl",
            "open_ticket_ai_hf_local-1.0.0.tar.gz"
        ],
        "{}",
        run.stderr
    );
}
