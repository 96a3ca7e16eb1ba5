//! What tagpub prints (issue 12, item 8): untrusted text cannot drive the
//! terminal, and a reader that closes the pipe early ends the command
//! quietly with exit 0.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::project::Project;

/// A pyproject whose name and version carry escape sequences, a carriage
/// return and a bidi override: `plan` and `release` print both (they do not
/// match the tag), and none of it may reach the terminal raw.
#[test]
fn escape_sequences_from_the_repository_are_shown_not_obeyed() {
    let project = Project::sample(&[]);
    project.configure("local", "");
    let path = "src/open_ticket_ai_hf_local/pyproject.toml";
    let pyproject = std::fs::read_to_string(project.root.join(path)).unwrap();
    let hostile = pyproject
        .replace(
            "name = \"open-ticket-ai-hf-local\"",
            // Erase the line, go back to its start, draw a pass, set a title.
            "name = \"evil\\u001b[2K\\r✓ name: fine\\u001b]0;pwned\\u0007\"",
        )
        .replace(
            "version = \"1.0.0\"",
            "version = \"1.0.0\\u001b[32m\\u202e\"",
        )
        .replace(
            "description = \"HuggingFace plugin of the sample monorepo\"",
            "description = \"\\u001b[8mhidden\"",
        );
    assert_ne!(hostile, pyproject);
    project.write(path, &hostile);
    project.commit("hostile metadata");
    project.tag("hf-local-v1.0.0");

    for args in [
        &["plan", "hf-local-v1.0.0"][..],
        &["release", "hf-local-v1.0.0"],
        &["release", "--dry-run", "hf-local-v1.0.0"],
    ] {
        let mut command = project.command(args);
        // Colour on, as on a terminal: only the printer's own codes remain.
        command.env_remove("NO_COLOR");
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.stderr.contains(&0x1b) && !output.stderr.contains(&b'\r'),
            "{args:?}: raw ESC or CR on stderr:\n{stderr:?}"
        );
        assert!(!stderr.contains('\u{202e}'), "{stderr:?}");
        assert!(
            stderr.contains("evil\\u{1b}[2K\\u{d}✓ name: fine\\u{1b}]0;pwned\\u{7}"),
            "{args:?}: the name is shown, escaped:\n{stderr}"
        );
        assert!(stderr.contains("1.0.0\\u{1b}[32m\\u{202e}"), "{stderr}");
    }

    // JSON keeps the values (escaped as JSON), and no raw control bytes.
    let output = project
        .command(&["plan", "--json", "hf-local-v1.0.0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{202e}'),
        "{stdout:?}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let checks = json["plan"]["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c["message"]
            .as_str()
            .unwrap()
            .contains("1.0.0\u{1b}[32m\u{202e}")),
        "the JSON value is the real text: {json}"
    );
}

/// `tagpub … | head -1` with the reader already gone: the write fails with
/// EPIPE, and tagpub ends quietly with exit 0 (no panic, no backtrace).
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let project = Project::sample(&[]);
    project.configure("pypi", "");
    project.tag("v1.0.0");
    for args in [
        &["completions", "bash"][..],
        &["man"],
        &["plan", "--json", "v1.0.0"],
        &["ci", "github", "--stdout"],
    ] {
        let mut child = project
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before tagpub writes anything.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }

    // A reader that takes one line and closes, as `head -1` does.
    let mut child = project
        .command(&["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let output = child.wait_with_output().unwrap();
    assert!(!first.is_empty());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
