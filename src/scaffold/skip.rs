//! Which found projects `init` leaves out, and why: projects that are never
//! released on their own (test fixtures, examples, templates, docs,
//! deployments) and those that say so themselves (`Private :: Do Not Upload`).

/// Directory names whose projects are not releases, with what they are.
const NOT_RELEASED: [(&str, &str); 15] = [
    ("tests", "a test fixture"),
    ("test", "a test fixture"),
    ("fixtures", "a test fixture"),
    ("fixture", "a test fixture"),
    ("examples", "an example"),
    ("example", "an example"),
    ("samples", "a sample"),
    ("sample", "a sample"),
    ("templates", "a template"),
    ("template", "a template"),
    ("docs", "documentation"),
    ("doc", "documentation"),
    ("deployment", "a deployment"),
    ("deployments", "a deployment"),
    ("demos", "a demo"),
];

/// The classifier PyPI rejects on upload: the project says it is private.
pub const PRIVATE_CLASSIFIER: &str = "Private :: Do Not Upload";

/// Why the project at `path` (`/`-separated, `""` for the root) is left out,
/// or `None` when it is a release candidate.
pub fn skip_reason(path: &str, classifiers: &[String]) -> Option<String> {
    if classifiers
        .iter()
        .any(|c| c.trim().starts_with(PRIVATE_CLASSIFIER))
    {
        return Some(format!("classifier `{PRIVATE_CLASSIFIER}`"));
    }
    path.split('/').find_map(|dir| {
        let lower = dir.to_ascii_lowercase();
        NOT_RELEASED
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, what)| format!("{what} (under {dir}/)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_fixtures_examples_templates_docs_deployments_and_private() {
        let none: &[String] = &[];
        for (path, reason) in [
            (
                "backend/tests/downstream/datadogpy",
                "a test fixture (under tests/)",
            ),
            ("pkg/fixtures/x", "a test fixture (under fixtures/)"),
            ("examples/hello", "an example (under examples/)"),
            ("samples/a", "a sample (under samples/)"),
            ("templates/cookie", "a template (under templates/)"),
            ("docs/ext", "documentation (under docs/)"),
            ("deployment/otobo_demo", "a deployment (under deployment/)"),
            ("Deployments/x", "a deployment (under Deployments/)"),
        ] {
            assert_eq!(skip_reason(path, none).as_deref(), Some(reason), "{path}");
        }
        for path in ["", "packages/otai_base", "backend", "src/testing", "latest"] {
            assert_eq!(skip_reason(path, none), None, "{path}");
        }
        assert_eq!(
            skip_reason(
                "packages/internal",
                &["Private :: Do Not Upload".to_string()]
            )
            .as_deref(),
            Some("classifier `Private :: Do Not Upload`")
        );
    }
}
