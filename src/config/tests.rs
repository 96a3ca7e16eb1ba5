use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("tagpub.toml"), text)
}

const GOOD: &str = r#"
[defaults]
repository = "local"
grace = "5s"

[[package]]
name = "open-ticket-ai"
path = "."
tags = ["v{version}"]

[[package]]
name = "open-ticket-ai-hf-local"
path = "./src/open_ticket_ai_hf_local"
tags = ["hf-local-v{version}", "open-ticket-ai-hf-local-v{version}"]
token-env = "PYPI_API_TOKEN_HF_LOCAL"

[repository.internal]
url = "https://pypi.example.org/legacy/"
"#;

#[test]
fn signature_policy_is_the_strictest_of_a_groups_members() {
    let text = "[defaults]\nrequire-signed = false\n\n\
        [[package]]\nname = \"a\"\npath = \"a\"\ntags = [\"a-v{version}\"]\n\
        allowed-signers = [\"202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8\"]\n\n\
        [[package]]\nname = \"b\"\npath = \"b\"\ntags = [\"b-v{version}\"]\nrequire-signed = true\n\n\
        [[package]]\nname = \"c\"\npath = \"c\"\ntags = [\"c-v{version}\"]\n";
    let config = parse(text).unwrap();
    let [a, b, c] = [0, 1, 2].map(|i| &config.packages[i]);
    assert_eq!(config.signature_policy(&[c]), SignaturePolicy::default());
    let both = config.signature_policy(&[b, c]);
    assert!(both.required && both.allowed.is_empty());
    // A list of allowed signers requires a signature by itself.
    let listed = config.signature_policy(&[a, c]);
    assert!(listed.required);
    assert_eq!(listed.allowed.len(), 1);
    assert_eq!(listed.allowed[0].0, "a");

    let short =
        "[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\nallowed-signers = [\"C657CFF8\"]\n";
    let message = error_text(short);
    assert!(message.contains("short key id"), "{message}");
    let message = error_text("[defaults]\nrequire-signed = \"yes\"\n");
    assert!(message.contains(":2:18: invalid type"), "{message}");
}

#[test]
fn parses_the_design_example() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.defaults.repository, "local");
    assert_eq!(config.defaults.grace, Duration::from_secs(5));
    assert!(config.defaults.require_annotated);
    assert_eq!(config.packages.len(), 2);
    assert_eq!(config.packages[0].path, "");
    assert_eq!(config.packages[1].path, "src/open_ticket_ai_hf_local");
    assert_eq!(
        config.packages[1].pyproject_path(),
        "src/open_ticket_ai_hf_local/pyproject.toml"
    );
    assert_eq!(
        config.packages[1].token_env.as_deref(),
        Some("PYPI_API_TOKEN_HF_LOCAL")
    );
    assert!(config.knows_repository("internal"));
    assert!(config.package("Open_Ticket_AI").is_some());
}

fn error_text(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn unknown_key_is_an_error_with_line_and_column() {
    let text = "[[package]]\nname = \"a\"\ntag = [\"v{version}\"]\n";
    let message = error_text(text);
    assert!(
        message.starts_with("tagpub.toml:3:1: unknown field `tag`"),
        "{message}"
    );
    assert!(message.contains("help:"), "{message}");
}

#[test]
fn ambiguous_patterns_name_both_packages() {
    let text = "[[package]]\nname = \"a\"\ntags = [\"{version}\"]\n[[package]]\nname = \"b\"\npath = \"b\"\ntags = [\"v{version}\"]\n";
    let message = error_text(text);
    assert!(message.starts_with("tagpub.toml:7:9:"), "{message}");
    assert!(
        message.contains("`{version}` (package `a`)")
            && message.contains("`v{version}` (package `b`)"),
        "{message}"
    );
    assert!(message.contains("e.g. `v"), "{message}");
}

const GROUP: &str = "[[package]]\nname = \"core\"\n\n[[package]]\nname = \"plugin\"\npath = \"src/plugin\"\ntags = [\"plugin-v{version}\"]\n\n[[group]]\nname = \"core\"\ntags = [\"v{version}\"]\npackages = [\"core\", \"plugin\"]\n";

#[test]
fn a_group_releases_its_members_and_members_need_no_tags() {
    let config = Config::parse(Path::new("tagpub.toml"), GROUP).unwrap();
    assert_eq!(config.groups.len(), 1);
    assert_eq!(config.groups[0].members, ["core", "plugin"]);
    assert_eq!(config.groups[0].tags[0].to_string(), "v{version}");
    assert!(config.packages[0].tags.is_empty());
    assert_eq!(config.packages[1].group.as_deref(), Some("core"));
}

#[test]
fn group_errors_point_at_the_offending_entry() {
    let cases = [
        (
            GROUP.replace("\"core\", \"plugin\"]", "\"core\", \"plugni\"]"),
            "lists `plugni`, which is not a [[package]]",
        ),
        (
            format!(
                "{GROUP}[[group]]\nname = \"other\"\ntags = [\"o-v{{version}}\"]\npackages = [\"plugin\"]\n"
            ),
            "package `plugin` is listed twice (also in group `core`)",
        ),
        (
            GROUP.replace(
                "packages = [\"core\", \"plugin\"]",
                "packages = [\"plugin\"]",
            ),
            "package `core` has no tag patterns",
        ),
        (
            GROUP
                .replace("name = \"core\"\ntags", "name = \"plugin\"\ntags")
                .replace("[\"core\", \"plugin\"]", "[\"core\"]"),
            "group `plugin` has the name of package `plugin`",
        ),
        (
            GROUP.replace("plugin-v{version}", "{version}"),
            "(package `plugin`) and `v{version}` (group `core`) can match the same tag",
        ),
        (
            GROUP
                .replace("packages = [\"core\", \"plugin\"]", "packages = []")
                .replace(
                    "name = \"core\"\n\n",
                    "name = \"core\"\ntags = [\"core-v{version}\"]\n\n",
                )
                .replace(
                    "name = \"core\"\ntags = [\"v",
                    "name = \"all\"\ntags = [\"v",
                ),
            "group `all` has no packages",
        ),
        (
            GROUP.replace(
                "path = \"src/plugin\"",
                "path = \"src/plugin\"\nrepository = \"testpypi\"",
            ),
            "group `core` publishes `core` to pypi but `plugin` to testpypi",
        ),
    ];
    for (text, expected) in cases {
        let message = error_text(&text);
        assert!(message.contains(expected), "{expected}\n{message}");
        assert!(message.starts_with("tagpub.toml:"), "{message}");
    }
}

/// `packages` packages with their own prefixes, plus `extra` TOML.
fn many_packages(packages: usize, extra: &str) -> String {
    let mut text = String::new();
    for i in 0..packages {
        text.push_str(&format!(
            "[[package]]\nname = \"pkg{i}\"\npath = \"pkgs/pkg{i}\"\ntags = [\"pkg{i}-v{{version}}\", \"release/pkg{i}/{{version}}\"]\n"
        ));
    }
    text.push_str(extra);
    text
}

/// The overlap check is not pairwise: 10 000 packages (20 000 patterns,
/// 200 million pairs) load, and an overlap among them is still found.
/// The time is measured in `benches/config.rs`.
#[test]
fn ten_thousand_packages_load_and_overlaps_among_them_are_found() {
    let config = parse(&many_packages(10_000, "")).unwrap();
    assert_eq!(config.packages.len(), 10_000);
    // A bare `{version}` shares no tag with any of them ("p" and "r"
    // cannot start a version), so it loads too.
    let bare = "[[package]]\nname = \"bare\"\ntags = [\"{version}\"]\n";
    assert_eq!(
        parse(&many_packages(10_000, bare)).unwrap().packages.len(),
        10_001
    );
    // `pkg9999-v1.{version}` overlaps `pkg9999-v{version}` (pkg9999-v1.0).
    let late = "[[package]]\nname = \"late\"\ntags = [\"pkg9999-v1.{version}\"]\n";
    let message = error_text(&many_packages(10_000, late));
    assert!(
        message.contains(
            "`pkg9999-v{version}` (package `pkg9999`) and `pkg9999-v1.{version}` (package `late`)"
        ),
        "{message}"
    );
    // And a duplicate name among them.
    let twice = "[[package]]\nname = \"PKG5000\"\ntags = [\"other-{version}\"]\n";
    let message = error_text(&many_packages(10_000, twice));
    assert!(
        message.contains("package `PKG5000` is configured twice (also as `pkg5000`)"),
        "{message}"
    );
}

#[test]
fn rejects_bad_values() {
    for (text, expected) in [
        (
            "[[package]]\nname = \"a\"\ntags = [\"v1\"]\n",
            "has no `{version}`",
        ),
        (
            "[[package]]\nname = \"-a\"\ntags = [\"v{version}\"]\n",
            "not a valid Python project name",
        ),
        (
            "[[package]]\nname = \"a\"\npath = \"../x\"\ntags = [\"v{version}\"]\n",
            "leaves the repository",
        ),
        (
            "[defaults]\nrepository = \"nope\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
            "unknown repository `nope`",
        ),
        (
            "[defaults]\ngrace = \"soon\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
            "invalid duration",
        ),
        (
            "[defaults]\nsource-date-epoch = \"tagg\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
            r#""tag", "commit" or "backend""#,
        ),
        (
            "[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\ntoken-env = \"pypi-AgEIcHlwaS5vcmc\"\n",
            "not an environment variable name",
        ),
        (
            "[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n[[package]]\nname = \"A\"\npath = \"x\"\ntags = [\"x{version}\"]\n",
            "configured twice",
        ),
        (
            "[repository.local]\nurl = \"https://x/\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
            "built-in repository",
        ),
        (
            "[repository.x]\nurl = \"https://u:p@x/\"\n[[package]]\nname = \"a\"\ntags = [\"v{version}\"]\n",
            "must not contain credentials",
        ),
        ("[defaults]\n", "no [[package]]"),
        ("[[package]\n", "tagpub.toml:1:"),
    ] {
        let message = error_text(text);
        assert!(message.contains(expected), "{text:?} gave {message}");
    }
}

#[test]
fn reads_tool_tagpub_from_pyproject() {
    let text = "[project]\nname = \"a\"\nversion = \"1\"\n\n[tool.tagpub]\ndefaults = { repository = \"local\" }\n\n[[tool.tagpub.package]]\nname = \"a\"\ntags = [\"v{version}\"]\n";
    let config = Config::parse_pyproject(Path::new("pyproject.toml"), text)
        .unwrap()
        .unwrap();
    assert_eq!(config.packages[0].name, "a");
    assert!(
        Config::parse_pyproject(Path::new("pyproject.toml"), "[project]\nname = \"a\"\n")
            .unwrap()
            .is_none()
    );
    let bad = "[project]\nname = \"a\"\n[[tool.tagpub.package]]\nname = \"a\"\ntagz = []\n";
    let message = Config::parse_pyproject(Path::new("pyproject.toml"), bad)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("pyproject.toml:5:1: unknown field `tagz`"),
        "{message}"
    );
}
