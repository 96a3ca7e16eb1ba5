//! Which engine decides whether a reStructuredText long description renders:
//! Python's `readme_renderer` (what PyPI itself runs), in one Python process
//! for every description of a `check` run, or the native validator in
//! `rst_native.rs` when no Python with readme_renderer is found.
//!
//! `TAGPUB_RST=native|readme_renderer|auto` (default auto) forces one;
//! `TAGPUB_PYTHON` names the interpreter (default `python3`).

use crate::process::Child;

/// Which renderer checks reStructuredText descriptions (`TAGPUB_RST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RstChoice {
    #[default]
    Auto,
    Native,
    ReadmeRenderer,
}

impl RstChoice {
    /// From `TAGPUB_RST`; an unknown value is a usage error.
    pub fn from_env() -> Result<RstChoice, RstError> {
        match crate::env::RST.get() {
            None => Ok(RstChoice::Auto),
            Some(value) => match value.as_str() {
                "" | "auto" => Ok(RstChoice::Auto),
                "native" => Ok(RstChoice::Native),
                "readme_renderer" | "readme-renderer" => Ok(RstChoice::ReadmeRenderer),
                _ => Err(RstError::BadChoice(value)),
            },
        }
    }
}

/// The engine that ran, for the human and JSON output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "engine", rename_all = "snake_case")]
pub enum RstEngine {
    /// `readme_renderer` VERSION under the named Python.
    ReadmeRenderer {
        version: String,
        python: String,
    },
    Native,
}

impl std::fmt::Display for RstEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RstEngine::ReadmeRenderer { version, python } => {
                write!(f, "readme_renderer {version} ({python})")
            }
            RstEngine::Native => write!(f, "tagpub's native validator"),
        }
    }
}

/// Why RST descriptions could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RstError {
    #[error("TAGPUB_RST={0:?} is not one of native, readme_renderer, auto")]
    BadChoice(String),
    #[error(
        "TAGPUB_RST=readme_renderer but {python} cannot run readme_renderer ({detail}); \
         install it (`pip install readme_renderer`), point TAGPUB_PYTHON at a Python that \
         has it, or use TAGPUB_RST=native"
    )]
    Unavailable { python: String, detail: String },
}

/// Renders each text; `Ok(messages)` per text, empty when it renders.
pub fn render_all(
    texts: &[&str],
    choice: RstChoice,
) -> Result<(RstEngine, Vec<Vec<String>>), RstError> {
    let native = || {
        (
            RstEngine::Native,
            texts
                .iter()
                .map(|text| super::rst_native::validate(text))
                .collect(),
        )
    };
    match choice {
        RstChoice::Native => Ok(native()),
        RstChoice::ReadmeRenderer => readme_renderer(texts),
        RstChoice::Auto => match readme_renderer(texts) {
            Ok(result) => Ok(result),
            Err(err) => {
                tracing::debug!("falling back to the native RST validator: {err}");
                Ok(native())
            }
        },
    }
}

/// Reads a JSON list of texts on stdin, renders each the way PyPI and twine
/// do (`readme_renderer.rst.render` with a warning stream), prints one JSON
/// object. Exit 3: readme_renderer cannot be imported.
const SCRIPT: &str = r#"
import io, json, sys
try:
    import importlib.metadata
    import readme_renderer.rst
    version = importlib.metadata.version("readme_renderer")
except Exception as err:
    sys.stderr.write(f"{type(err).__name__}: {err}")
    sys.exit(3)
import re
# docutils: `<string>:LINE: (LEVEL/N) message`, the message's own lines,
# a blank line, then the offending source (left out: it is the user's text).
report = re.compile(r"^<string>:(\d*): \((?:DEBUG|INFO|WARNING|ERROR|SEVERE)/\d\) (.*)$")
texts = json.load(sys.stdin)
results = []
for text in texts:
    stream = io.StringIO()
    try:
        ok = readme_renderer.rst.render(text, stream=stream) is not None
    except RecursionError:
        # docutils recurses once per nesting level; PyPI cannot render it either.
        results.append(["the description nests lists, block quotes or directives too deeply for docutils to render (Python's recursion limit)"])
        continue
    messages, current = [], None
    for line in stream.getvalue().splitlines():
        match = report.match(line)
        if match:
            current = (f"line {match[1]}: " if match[1] else "") + match[2].strip()
            messages.append(current)
        elif current is not None and line.strip():
            messages[-1] += " " + line.strip()
        else:
            current = None
    if not ok and not messages:
        messages = [line.strip() for line in stream.getvalue().splitlines() if line.strip()]
    results.append([] if ok else (messages or ["the description does not render"]))
json.dump({"version": version, "results": results}, sys.stdout)
"#;

fn readme_renderer(texts: &[&str]) -> Result<(RstEngine, Vec<Vec<String>>), RstError> {
    let python = crate::env::PYTHON.get().unwrap_or_else(|| {
        if cfg!(windows) {
            "python".to_string()
        } else {
            "python3".to_string()
        }
    });
    let unavailable = |detail: String| RstError::Unavailable {
        python: python.clone(),
        detail,
    };
    let input = serde_json::to_vec(texts).map_err(|err| unavailable(err.to_string()))?;
    // Started by the one runner: the renderer never needs a credential (the
    // release runs this too).
    let output = Child::new(&python)
        .args(["-I", "-c", SCRIPT])
        .input(input)
        .output()
        .map_err(|err| unavailable(err.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr.lines().last().unwrap_or("").trim().to_string();
        return Err(unavailable(if detail.is_empty() {
            format!("it exited with {}", output.status)
        } else {
            detail
        }));
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        version: String,
        results: Vec<Vec<String>>,
    }
    let reply: Reply = serde_json::from_slice(&output.stdout)
        .map_err(|err| unavailable(format!("unreadable answer: {err}")))?;
    if reply.results.len() != texts.len() {
        return Err(unavailable(
            "it answered for the wrong number of texts".into(),
        ));
    }
    Ok((
        RstEngine::ReadmeRenderer {
            version: reply.version,
            python,
        },
        reply.results,
    ))
}
