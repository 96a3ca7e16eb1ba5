//! A native reStructuredText validator: the subset of docutils' checks that
//! make PyPI fall back to showing a README as raw text (readme_renderer
//! halts at docutils' WARNING level). Used when no Python with
//! `readme_renderer` is available, or when `TAGPUB_RST=native`.
//!
//! It checks section titles (underline too short, overline without a
//! matching underline, inconsistent levels, titles or transitions inside an
//! indented block), unexpected indentation and unindentation, directives
//! (unknown, disabled `raw`/`include`, content where none is allowed),
//! roles, unbalanced inline markup, undefined substitutions, and references
//! to targets that do not exist. Literal blocks, directive bodies, comments
//! and tables are skipped, not parsed.

use std::collections::BTreeSet;

/// docutils' directive names besides the [`ADMONITIONS`] (English;
/// `code-block` and `sourcecode` are docutils' own aliases of `code`).
const DIRECTIVES: &[&str] = &[
    "admonition",
    "image",
    "figure",
    "topic",
    "sidebar",
    "line-block",
    "parsed-literal",
    "code",
    "code-block",
    "sourcecode",
    "math",
    "rubric",
    "epigraph",
    "highlights",
    "pull-quote",
    "compound",
    "container",
    "table",
    "csv-table",
    "list-table",
    "contents",
    "sectnum",
    "section-numbering",
    "header",
    "footer",
    "target-notes",
    "meta",
    "replace",
    "unicode",
    "date",
    "class",
    "role",
    "default-role",
    "title",
    "raw",
    "include",
];

/// Directives that take no content block.
const NO_CONTENT: &[&str] = &[
    "image",
    "contents",
    "sectnum",
    "section-numbering",
    "target-notes",
    "title",
    "date",
    "default-role",
];

/// docutils' standard roles.
const ROLES: &[&str] = &[
    "emphasis",
    "strong",
    "literal",
    "code",
    "math",
    "subscript",
    "sub",
    "superscript",
    "sup",
    "title-reference",
    "title",
    "t",
    "abbreviation",
    "ab",
    "acronym",
    "ac",
    "pep-reference",
    "pep",
    "rfc-reference",
    "rfc",
    "raw",
];

/// docutils' `line_length_limit` default: a longer line stops it before
/// parsing anything ("Line N exceeds the line-length-limit.").
const LINE_LENGTH_LIMIT: usize = 10_000;

/// How deep lists, block quotes and directives may nest here. The checker
/// recurses once per level, so this bounds its stack (a README of 20 000
/// nested `- ` markers used to overflow it). docutils itself runs out of
/// Python recursion a little deeper (164 nested list items, fewer nested
/// admonitions), so a document this deep would not render on PyPI either.
pub const MAX_NESTING: usize = 150;

/// Characters that may form a section adornment.
const ADORNMENT: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

#[derive(Default)]
struct Doc {
    errors: Vec<String>,
    /// Title adornment styles in order of first use: (overlined, char).
    styles: Vec<(bool, char)>,
    level: usize,
    targets: BTreeSet<String>,
    references: Vec<(usize, String)>,
    anonymous_targets: usize,
    anonymous_references: usize,
    substitutions: BTreeSet<String>,
    substitution_references: Vec<(usize, String)>,
    /// Whether anything renders (a document of comments renders empty,
    /// which readme_renderer refuses).
    content: bool,
    /// Whether the last element was a transition, and its line.
    last_transition: Option<usize>,
    /// Added to line numbers while checking a directive's content.
    offset: usize,
    footnotes: BTreeSet<String>,
    footnote_references: Vec<(usize, String)>,
    /// How many lists or directive bodies the current line is inside.
    depth: usize,
    /// The nesting limit was reported (once is enough).
    too_deep: bool,
}

impl Doc {
    /// Runs `check` one nesting level deeper, unless that passes
    /// [`MAX_NESTING`]: then the content is reported and not checked.
    fn nested(&mut self, number: usize, check: impl FnOnce(&mut Doc)) {
        if self.depth >= MAX_NESTING {
            if !self.too_deep {
                self.too_deep = true;
                self.errors.push(format!(
                    "line {number}: lists, block quotes or directives nested more than \
                     {MAX_NESTING} levels deep (docutils, which renders the description on \
                     PyPI, fails on such nesting)"
                ));
            }
            return;
        }
        self.depth += 1;
        check(self);
        self.depth -= 1;
    }
}

/// docutils' reference-name normalization: case- and whitespace-insensitive.
fn normalize(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Indentation in spaces (tabs are expanded first); docutils counts only
/// ASCII spaces, so an ideographic space starts the text.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_adornment(line: &str) -> bool {
    let line = line.trim();
    let mut chars = line.chars();
    match chars.next() {
        Some(first) if ADORNMENT.contains(first) => {
            line.chars().count() >= 4 && chars.all(|c| c == first)
        }
        _ => false,
    }
}

/// A title underline: one punctuation character repeated, any length
/// (docutils reads one shorter than 4 under a longer line as text).
fn underline(line: &str) -> Option<usize> {
    let line = line.trim();
    let first = line.chars().next()?;
    (ADORNMENT.contains(first) && line.chars().all(|c| c == first)).then(|| line.chars().count())
}

fn width(text: &str) -> usize {
    text.trim().chars().count()
}

fn is_list_item(text: &str) -> bool {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix(['-', '*', '+', '•']) {
        return rest.is_empty() || rest.starts_with(' ');
    }
    // Enumerated: `1.`, `#.`, `a)`, `(iv)`.
    let body = text.strip_prefix('(').unwrap_or(text);
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
        .unwrap_or(body.len());
    end > 0 && end <= 4 && body[end..].starts_with(['.', ')']) && body[end + 1..].starts_with(' ')
}

/// Where an item's text starts after its marker (`- `, `1. `, `(a) `).
fn marker_width(text: &str) -> usize {
    let text = text.trim_start_matches(' ');
    let marker = text.find(' ').unwrap_or(text.len());
    marker + text[marker..].len() - text[marker..].trim_start_matches(' ').len()
}

/// Field lists, option lists, line blocks, doctests and tables: structures
/// this validator does not parse, so it stays out of their lines.
fn is_other_structure(text: &str) -> bool {
    let text = text.trim_start();
    (text.starts_with(':') && text[1..].contains(": "))
        || text.starts_with(':') && text.trim_end().ends_with(':')
        || text.starts_with("| ")
        || text == "|"
        || text.starts_with(">>>")
        || text.starts_with('+')
        || (text.starts_with('-') && !text.starts_with("- "))
        || (text.starts_with('=') && text.contains(' ') && !text.starts_with("= "))
}

/// Validates `text`; each problem is `line N: message`.
pub fn validate(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n").replace('\t', "        ");
    let lines: Vec<&str> = text.lines().collect();
    if let Some(long) = lines
        .iter()
        .position(|line| line.chars().count() > LINE_LENGTH_LIMIT)
    {
        return vec![format!(
            "line {}: exceeds the line-length-limit ({LINE_LENGTH_LIMIT} characters; docutils \
             stops before parsing the document)",
            long + 1
        )];
    }
    let mut doc = Doc::default();
    body(&mut doc, &lines);
    if let Some(number) = doc.last_transition {
        doc.errors.push(format!(
            "line {number}: transition at the end of the document"
        ));
    }
    if !doc.content && doc.errors.is_empty() {
        doc.errors
            .push("no content rendered from the reStructuredText source".to_string());
    }
    finish(&mut doc);
    doc.errors
}

/// Body elements: the document, or a directive's content (dedented, with
/// `doc.offset` set to where it starts).
fn body(doc: &mut Doc, lines: &[&str]) {
    let mut i = 0;
    // After a paragraph ending in `::`: that paragraph's indentation.
    let mut literal_after: Option<usize> = None;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        let ind = indent(line);
        let content = line.trim();
        // A literal block (after `::`): everything more indented than the
        // paragraph that announced it. Quoted literal blocks are rare.
        if let Some(base) = literal_after.take()
            && ind > base
        {
            i = skip_block(lines, i, base);
            continue;
        }
        if let Some(rest) = content.strip_prefix("..")
            && (rest.is_empty() || rest.starts_with(' '))
        {
            i = explicit_markup(doc, lines, i, ind, rest.trim_start());
            continue;
        }
        // `__ URL`: the short form of an anonymous target.
        if content == "__" || content.starts_with("__ ") {
            doc.anonymous_targets += 1;
            i = skip_block(lines, i + 1, ind);
            continue;
        }
        // A block: this line and the following non-blank lines.
        let start = i;
        let mut end = i;
        while end < lines.len() && !lines[end].trim().is_empty() {
            end += 1;
        }
        let block = &lines[start..end];
        let consumed = block_structure(doc, start, block);
        let paragraph_end = start + consumed;
        let text: Vec<&str> = lines[start..paragraph_end]
            .iter()
            .filter(|line| !is_adornment(line))
            .copied()
            .collect();
        inline(doc, start, &text);
        if lines[paragraph_end - 1].trim_end().ends_with("::") {
            literal_after = Some(ind);
        }
        i = paragraph_end;
    }
}

/// Skips the lines of an indented block deeper than `base`.
fn skip_block(lines: &[&str], mut i: usize, base: usize) -> usize {
    while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > base) {
        i += 1;
    }
    i
}

/// `.. something`: targets, footnotes, substitutions, directives, comments.
/// Returns the index after the construct's block.
fn explicit_markup(doc: &mut Doc, lines: &[&str], i: usize, ind: usize, rest: &str) -> usize {
    let number = doc.offset + i + 1;
    let block_end = skip_block(lines, i + 1, ind);
    if let Some(target) = rest.strip_prefix('_') {
        if target.starts_with("_:") {
            doc.anonymous_targets += 1;
        } else {
            let name = target
                .strip_prefix('`')
                .and_then(|t| t.split_once("`:"))
                .map(|(name, _)| name)
                .or_else(|| target.split_once(':').map(|(name, _)| name));
            match name {
                Some(name) => {
                    doc.targets.insert(normalize(name));
                }
                None => doc.errors.push(format!(
                    "line {number}: malformed hyperlink target `.. _{target}` (expected \
                     `.. _name: URL`)"
                )),
            }
        }
        return block_end;
    }
    if let Some(label) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        doc.footnotes.insert(normalize(label.0));
        doc.content = true;
        let body: Vec<&str> = std::iter::once(label.1)
            .chain(lines[i + 1..block_end].iter().copied())
            .collect();
        inline(doc, i, &body);
        return block_end;
    }
    let mut directive_text = rest;
    if let Some(sub) = rest.strip_prefix('|')
        && let Some((name, after)) = sub.split_once('|')
    {
        doc.substitutions.insert(normalize(name));
        directive_text = after.trim_start();
    }
    let Some((name, argument)) = directive_text.split_once("::") else {
        // A comment: its block is not markup.
        return block_end;
    };
    let name = name.trim();
    if name.is_empty() || name.contains(' ') {
        return block_end;
    }
    let lower = name.to_ascii_lowercase();
    // Substitution definitions and these directives render nothing themselves.
    if !(directive_text.len() < rest.len()
        || ["role", "default-role", "meta", "title", "class"].contains(&lower.as_str()))
    {
        doc.content = true;
        doc.last_transition = None;
    }
    let admonition = ADMONITIONS.contains(&lower.as_str());
    if !admonition && !DIRECTIVES.contains(&lower.as_str()) {
        doc.errors.push(format!(
            "line {number}: unknown directive type \"{name}\" (Sphinx-only directives do not \
             render on PyPI)"
        ));
        return block_end;
    }
    if lower == "raw" || lower == "include" {
        doc.errors.push(format!(
            "line {number}: the \"{lower}\" directive is disabled on PyPI"
        ));
        return block_end;
    }
    if NO_CONTENT.contains(&lower.as_str()) && has_content(&lines[i + 1..block_end], argument) {
        doc.errors.push(format!(
            "line {number}: error in \"{lower}\" directive: no content permitted"
        ));
    }
    if admonition || BODY_CONTENT.contains(&lower.as_str()) {
        // Admonitions take no argument: text after `::` starts the content.
        let block = &lines[i + 1..block_end];
        let start = content_start(block, !admonition && !argument.trim().is_empty());
        let mut content: Vec<&str> = Vec::new();
        let mut first = i + 1 + start;
        if admonition && !argument.trim().is_empty() {
            content.push(argument.trim());
            first = i;
        }
        let dedent = block[start..]
            .iter()
            .filter(|line| !line.trim().is_empty())
            .map(|line| indent(line))
            .min()
            .unwrap_or(0);
        content.extend(
            block[start..]
                .iter()
                .map(|line| line.get(dedent..).unwrap_or("")),
        );
        let saved = (doc.offset, doc.last_transition);
        doc.nested(number, |doc| {
            doc.offset += first;
            body(doc, &content);
        });
        doc.offset = saved.0;
        doc.last_transition = saved.1;
    }
    block_end
}

/// docutils' admonitions: no argument, content is body elements.
const ADMONITIONS: &[&str] = &[
    "attention",
    "caution",
    "danger",
    "error",
    "hint",
    "important",
    "note",
    "tip",
    "warning",
];

/// Directives besides the [`ADMONITIONS`] whose content is body elements,
/// so it is checked too.
const BODY_CONTENT: &[&str] = &[
    "admonition",
    "topic",
    "sidebar",
    "container",
    "compound",
    "epigraph",
    "highlights",
    "pull-quote",
];

/// Where a directive's content starts in its block: after the argument's
/// continuation lines (when it takes one) and the options.
fn content_start(block: &[&str], argument_continues: bool) -> usize {
    let mut k = 0;
    // Argument continuation lines (before the first blank line or option).
    if argument_continues {
        while k < block.len()
            && !block[k].trim().is_empty()
            && !block[k].trim_start().starts_with(':')
        {
            k += 1;
        }
    }
    // Options, each possibly continued on deeper-indented lines.
    let mut option_indent = None;
    while k < block.len() {
        let text = block[k].trim_start();
        if text.starts_with(':') && !text.starts_with("::") {
            option_indent = Some(indent(block[k]));
        } else if text.is_empty() || option_indent.is_none_or(|oi| indent(block[k]) <= oi) {
            break;
        }
        k += 1;
    }
    k
}

/// Whether a directive block has content after its argument and options.
fn has_content(block: &[&str], argument: &str) -> bool {
    let start = content_start(block, !argument.trim().is_empty());
    block[start..].iter().any(|line| !line.trim().is_empty())
}

/// Titles, transitions and indentation within one block (no blank lines).
/// Returns how many lines the checked paragraph takes.
fn block_structure(doc: &mut Doc, start: usize, block: &[&str]) -> usize {
    let number = doc.offset + start + 1;
    let was_content = doc.content;
    doc.content = true;
    doc.last_transition = None;
    let ind = indent(block[0]);
    let first = block[0].trim();
    // Overline + title + underline.
    if is_adornment(first) && block.len() >= 2 && !is_adornment(block[1]) {
        let adornment = first.chars().next().unwrap_or('=');
        let matching = block
            .get(2)
            .is_some_and(|under| is_adornment(under) && under.trim().starts_with(adornment));
        if !matching {
            if block.get(2).is_some_and(|under| is_adornment(under)) {
                doc.errors.push(format!(
                    "line {number}: title overline & underline mismatch"
                ));
            } else {
                doc.errors.push(format!(
                    "line {number}: missing matching underline for section title overline"
                ));
            }
            return block.len();
        }
        if ind > 0 {
            doc.errors
                .push(format!("line {number}: unexpected section title"));
        } else {
            if width(block[1]) > width(first) {
                doc.errors
                    .push(format!("line {number}: title overline too short"));
            }
            title(doc, number, (true, adornment));
            doc.targets.insert(normalize(block[1]));
        }
        return 3.min(block.len());
    }
    // Transition (a lone adornment line).
    if is_adornment(first) && block.len() == 1 {
        if ind > 0 {
            doc.errors.push(format!(
                "line {number}: unexpected section title or transition"
            ));
        } else if !was_content {
            doc.errors.push(format!(
                "line {number}: transition at the start of the document"
            ));
        }
        doc.content = was_content;
        doc.last_transition = Some(number);
        return 1;
    }
    // Title + underline.
    if block.len() >= 2
        && let Some(length) = underline(block[1])
        && !is_adornment(first)
    {
        let adornment = block[1].trim().chars().next().unwrap_or('=');
        let short = length < width(first);
        if short && length < 4 {
            // docutils reads a short underline under a long line as text.
        } else if ind > 0 || indent(block[1]) > 0 {
            doc.errors.push(format!(
                "line {}: unexpected section title",
                number + usize::from(indent(block[1]) > ind)
            ));
            return block.len();
        } else {
            if short {
                doc.errors
                    .push(format!("line {}: title underline too short", number + 1));
            }
            title(doc, number, (false, adornment));
            doc.targets.insert(normalize(first));
            return 2;
        }
    }
    // docutils reads `1. text` followed by an unindented line that is no
    // item as a paragraph, not an enumerated list (bullets are lists).
    let bullet = first.starts_with(['-', '*', '+', '•']);
    let paragraph_like = !bullet
        && block
            .get(1)
            .is_some_and(|next| indent(next) <= ind && !is_list_item(next));
    if is_list_item(first) && !paragraph_like {
        list(doc, start, block, ind);
        return block.len();
    }
    if first.starts_with('|') && (first == "|" || first.starts_with("| ")) {
        // A line block: `|` lines, or continuation lines indented deeper.
        if let Some(k) = (1..block.len()).find(|&k| {
            let text = block[k].trim_start_matches(' ');
            indent(block[k]) <= ind && !(text == "|" || text.starts_with("| "))
        }) {
            doc.errors.push(format!(
                "line {}: line block ends without a blank line",
                doc.offset + start + k + 1
            ));
        }
        return block.len();
    }
    if is_other_structure(first) {
        // Field and option lists, doctests, tables: not parsed.
        return block.len();
    }
    // A paragraph: its lines share one indentation. A deeper line after two
    // or more lines is an unexpected indentation (after one line it makes a
    // definition list); a shallower one inside a block quote ends it.
    for (k, line) in block.iter().enumerate().skip(1) {
        let here = indent(line);
        if here > ind {
            if k >= 2 && !block[k - 1].trim_end().ends_with("::") {
                doc.errors.push(format!(
                    "line {}: unexpected indentation",
                    doc.offset + start + k + 1
                ));
                return block.len();
            }
            definition_list(doc, start, block, ind);
            return block.len();
        }
        // A new list item may follow an item's indented paragraph directly.
        if here < ind && !is_list_item(line) {
            doc.errors.push(format!(
                "line {}: block quote ends without a blank line; unexpected unindent",
                doc.offset + start + k + 1
            ));
            return block.len();
        }
    }
    block.len()
}

/// A bullet or enumerated list without blank lines between its items: each
/// item's body (its text after the marker, then lines indented to it) is
/// checked like any block; a line back at the list's indentation that is not
/// a new item ends the list without the blank line docutils wants.
fn list(doc: &mut Doc, start: usize, block: &[&str], base: usize) {
    let mut k = 0;
    while k < block.len() {
        let line = block[k];
        if !(indent(line) == base && is_list_item(line)) {
            doc.errors.push(format!(
                "line {}: list ends without a blank line; unexpected unindent",
                doc.offset + start + k + 1
            ));
            return;
        }
        let content = base + marker_width(line);
        let mut end = k + 1;
        while end < block.len() && indent(block[end]) >= content {
            end += 1;
        }
        let first = line.get(content..).unwrap_or("").to_string();
        if !first.trim().is_empty() {
            let mut body: Vec<&str> = vec![first.as_str()];
            body.extend(
                block[k + 1..end]
                    .iter()
                    .map(|l| l.get(content..).unwrap_or("")),
            );
            let number = doc.offset + start + k + 1;
            doc.nested(number, |doc| {
                block_structure(doc, start + k, &body);
            });
        }
        k = end;
    }
}

/// A definition list without blank lines: term, definition lines indented
/// deeper, next term... A line back at the term's indentation that no
/// definition follows ends the list without the blank line docutils wants.
fn definition_list(doc: &mut Doc, start: usize, block: &[&str], base: usize) {
    let mut k = 1;
    while k < block.len() {
        if indent(block[k]) > base {
            k += 1;
            continue;
        }
        let next_is_definition = block.get(k + 1).is_some_and(|next| indent(next) > base);
        if indent(block[k]) < base || !next_is_definition {
            doc.errors.push(format!(
                "line {}: definition list ends without a blank line; unexpected unindent",
                doc.offset + start + k + 1
            ));
            return;
        }
        k += 2;
    }
}

fn title(doc: &mut Doc, number: usize, style: (bool, char)) {
    match doc.styles.iter().position(|known| *known == style) {
        Some(level) => doc.level = level,
        None if doc.styles.is_empty() || doc.level + 1 == doc.styles.len() => {
            doc.styles.push(style);
            doc.level = doc.styles.len() - 1;
        }
        None => doc.errors.push(format!(
            "line {number}: title level inconsistent (a new adornment style is used before \
             the deepest existing level)"
        )),
    }
}

const OPENERS: &str = "'\"([{<";
const CLOSERS: &str = "'\")]}>";
/// What may precede an inline start-string / follow an end-string.
fn start_ok(before: Option<char>) -> bool {
    before.is_none_or(|c| c.is_whitespace() || "-:/'\"<([{".contains(c))
}
fn end_ok(after: Option<char>) -> bool {
    after.is_none_or(|c| c.is_whitespace() || "-.,:;!?\\/'\")]}>".contains(c))
}

/// Inline markup of one paragraph (its lines, unindented and joined).
fn inline(doc: &mut Doc, start: usize, block: &[&str]) {
    let number = doc.offset + start + 1;
    let text: String = block
        .iter()
        .map(|line| line.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let chars: Vec<char> = text.chars().collect();
    let at = |k: usize| chars.get(k).copied();
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        if c == '\\' {
            k += 2;
            continue;
        }
        let before = if k == 0 { None } else { Some(chars[k - 1]) };
        let starts = |len: usize| {
            let after = at(k + len);
            start_ok(before)
                && after.is_some_and(|a| !a.is_whitespace())
                // `(*)`-style: an opener right before and its closer right after.
                && !before.is_some_and(|b| {
                    OPENERS
                        .find(b)
                        .is_some_and(|pos| after == CLOSERS.chars().nth(pos))
                })
        };
        // Role prefix `:name:` right before a backquote.
        if c == ':' && start_ok(before) {
            let name_end = (k + 1..chars.len())
                .find(|&j| !(chars[j].is_alphanumeric() || "-_.+".contains(chars[j])));
            if let Some(j) = name_end
                && j > k + 1
                && chars[j] == ':'
                && at(j + 1) == Some('`')
            {
                let role: String = chars[k + 1..j].iter().collect();
                if !ROLES.contains(&role.to_lowercase().as_str()) {
                    doc.errors.push(format!(
                        "line {number}: unknown interpreted text role \"{role}\" (Sphinx roles \
                         do not render on PyPI)"
                    ));
                }
                k = j + 1;
                let Some(end) = find_end(&chars, k + 1, "`") else {
                    doc.errors.push(format!(
                        "line {number}: inline interpreted text or phrase reference start-string \
                         without end-string"
                    ));
                    return;
                };
                k = end + 1;
                continue;
            }
        }
        let (open, name) = if c == '`' && at(k + 1) == Some('`') {
            ("``", "literal")
        } else if c == '`' {
            ("`", "interpreted text or phrase reference")
        } else if c == '*' && at(k + 1) == Some('*') {
            ("**", "strong")
        } else if c == '*' {
            ("*", "emphasis")
        } else if c == '|' {
            ("|", "substitution reference")
        } else {
            if c == '_' && k > 0 && end_ok(at(k + 1)) && !start_ok(Some(chars[k - 1])) {
                simple_reference(doc, number, &chars, k);
            }
            if c == '[' && start_ok(before) {
                footnote_reference(doc, number, &chars, k);
            }
            k += 1;
            continue;
        };
        if !starts(open.len()) {
            k += open.len();
            continue;
        }
        let Some(end) = find_end(&chars, k + open.len(), open) else {
            doc.errors.push(format!(
                "line {number}: inline {name} start-string without end-string"
            ));
            return;
        };
        let inner: String = chars[k + open.len()..end].iter().collect();
        let mut next = end + open.len();
        match open {
            "`" => {
                // `text`_ / `text`__ references, `text <url>`_ targets.
                let suffix_anon = at(next) == Some('_') && at(next + 1) == Some('_');
                let embedded = inner.trim_end().ends_with('>') && inner.contains('<');
                if suffix_anon {
                    if !embedded {
                        doc.anonymous_references += 1;
                    }
                    next += 2;
                } else if at(next) == Some('_') {
                    next += 1;
                    match inner.rsplit_once('<') {
                        Some((label, uri)) if uri.ends_with('>') => {
                            if !label.trim().is_empty() {
                                doc.targets.insert(normalize(label));
                            }
                        }
                        _ => doc.references.push((number, normalize(&inner))),
                    }
                } else if at(next) == Some(':') {
                    // A role suffix: `text`:role: (a name, then `:`).
                    let role_end = (next + 1..chars.len())
                        .find(|&j| !(chars[j].is_alphanumeric() || "-_.+".contains(chars[j])))
                        .filter(|&j| j > next + 1 && chars[j] == ':');
                    if let Some(j) = role_end {
                        let role: String = chars[next + 1..j].iter().collect();
                        if !ROLES.contains(&role.to_lowercase().as_str()) {
                            doc.errors.push(format!(
                                "line {number}: unknown interpreted text role \"{role}\""
                            ));
                        }
                        next = j + 1;
                    }
                }
            }
            "|" => {
                let mut name = normalize(&inner);
                if at(next) == Some('_') {
                    next += 1;
                    if at(next) == Some('_') {
                        next += 1;
                    }
                    name = normalize(&inner);
                }
                doc.substitution_references.push((number, name));
            }
            _ => {}
        }
        k = next;
    }
}

/// The index of the end-string `close` at or after `from`: preceded by
/// non-whitespace and followed by an allowed character.
fn find_end(chars: &[char], from: usize, close: &str) -> Option<usize> {
    let close: Vec<char> = close.chars().collect();
    let mut k = from;
    while k + close.len() <= chars.len() {
        if close.len() == 1 && close[0] != '`' && chars[k] == '\\' {
            k += 2;
            continue;
        }
        if k > from && chars[k..k + close.len()] == close[..] && !chars[k - 1].is_whitespace() {
            let after = chars.get(k + close.len()).copied();
            // `*` inside `**`: the end of emphasis must not be part of `**`.
            let doubled =
                close.len() == 1 && close[0] == '*' && (after == Some('*') || chars[k - 1] == '*');
            let suffix_ok = match close[..] {
                ['`'] | ['|'] => end_ok(after) || after == Some('_') || after == Some(':'),
                _ => end_ok(after),
            };
            if suffix_ok && !doubled {
                return Some(k);
            }
        }
        k += 1;
    }
    None
}

/// `name_` (a one-word reference) ending at index `k` (the underscore).
fn simple_reference(doc: &mut Doc, number: usize, chars: &[char], k: usize) {
    // docutils' reference names end in a letter or digit (`Rust._` is text).
    if !(chars[k - 1].is_alphanumeric() || chars[k - 1] == '_') {
        return;
    }
    let mut j = k;
    while j > 0 && (chars[j - 1].is_alphanumeric() || "-.+".contains(chars[j - 1])) {
        j -= 1;
    }
    // `__` anonymous: the word ends in an underscore before this one.
    if j == k {
        if k >= 2 && chars[k - 1] == '_' {
            let mut w = k - 1;
            while w > 0 && chars[w - 1].is_alphanumeric() {
                w -= 1;
            }
            if w < k - 1 && (w == 0 || start_ok(Some(chars[w - 1]))) {
                doc.anonymous_references += 1;
            }
        }
        return;
    }
    if j > 0 && !start_ok(Some(chars[j - 1])) {
        return;
    }
    let word: String = chars[j..k].iter().collect();
    if word.chars().next().is_some_and(char::is_alphanumeric) {
        doc.references.push((number, normalize(&word)));
    }
}

/// `[1]_`, `[#]_`, `[*]_`, `[CIT]_`.
fn footnote_reference(doc: &mut Doc, number: usize, chars: &[char], k: usize) {
    let Some(close) = (k + 1..chars.len()).find(|&j| chars[j] == ']') else {
        return;
    };
    if chars.get(close + 1) != Some(&'_') || close == k + 1 {
        return;
    }
    let label: String = chars[k + 1..close].iter().collect();
    if label.contains(char::is_whitespace) {
        return;
    }
    doc.footnote_references.push((number, normalize(&label)));
}

fn finish(doc: &mut Doc) {
    for (number, name) in &doc.references {
        if !doc.targets.contains(name) {
            doc.errors
                .push(format!("line {number}: unknown target name: \"{name}\""));
        }
    }
    for (number, name) in &doc.substitution_references {
        if !doc.substitutions.contains(name) {
            doc.errors.push(format!(
                "line {number}: undefined substitution referenced: \"{name}\""
            ));
        }
    }
    for (number, label) in &doc.footnote_references {
        let auto = label.starts_with('#') || label == "*";
        if !auto && !doc.footnotes.contains(label) {
            doc.errors.push(format!(
                "line {number}: unknown target name: \"{label}\" (no footnote or citation `.. \
                 [{label}]`)"
            ));
        }
    }
    if doc.anonymous_references != doc.anonymous_targets {
        doc.errors.push(format!(
            "anonymous hyperlink mismatch: {} references but {} targets",
            doc.anonymous_references, doc.anonymous_targets
        ));
    }
    doc.errors.sort_by_key(|message| {
        message
            .strip_prefix("line ")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `validate` on a thread with a 1 MiB stack (half the default for a
    /// spawned thread; 4 999 levels need about 10 MiB here): the nesting limit,
    /// not the size of the default stack, is what keeps it from overflowing.
    fn validate_on_small_stack(text: String) -> Vec<String> {
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || validate(&text))
            .unwrap()
            .join()
            .expect("the validator returns, it does not overflow its stack")
    }

    #[test]
    fn a_line_longer_than_docutils_allows_stops_the_check() {
        // The README: 20 000 nested list markers, 40 KB on one line.
        let errors = validate_on_small_stack(format!("{}x\n", "- ".repeat(20_000)));
        assert_eq!(
            errors,
            [
                "line 1: exceeds the line-length-limit (10000 characters; docutils stops before \
              parsing the document)"
            ]
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_one_error_not_a_crash() {
        // Within the line-length limit: 4 999 nested bullet items.
        let errors = validate_on_small_stack(format!("{}x\n", "- ".repeat(4_999)));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("line 1: lists, block quotes or directives nested more than 150"),
            "{errors:?}"
        );
        // Directives inside directives, each on its own line.
        let notes: String = (0..400)
            .map(|depth| format!("{}.. note::\n\n", "   ".repeat(depth)))
            .collect();
        let errors = validate_on_small_stack(format!("{notes}{}x\n", "   ".repeat(400)));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("nested more than 150"), "{errors:?}");
        // Nesting within the limit is checked as before.
        assert_eq!(
            validate_on_small_stack(format!("{}x\n", "- ".repeat(MAX_NESTING))),
            Vec::<String>::new()
        );
    }
}
