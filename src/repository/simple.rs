//! Reading an index's simple API: PEP 691 JSON first, PEP 503 HTML as the
//! fallback, and where the simple index of an upload URL is.

use std::collections::HashMap;

use reqwest::StatusCode;
use url::Url;

use super::IndexedFile;
use super::error::{RepositoryError, body_excerpt, get_error, network_error, redact_url};
use crate::http;
use crate::retry;
use crate::secrets;

/// PEP 691 JSON first, HTML as fallback for indexes that only speak PEP 503.
const SIMPLE_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";

pub(super) fn remote_list(
    repo: &str,
    simple_url: &Url,
    normalized: &str,
) -> Result<Vec<IndexedFile>, RepositoryError> {
    let page = with_trailing_slash(simple_url)
        .join(&format!("{normalized}/"))
        .map_err(|e| RepositoryError::BadIndex {
            repo: repo.to_owned(),
            url: redact_url(simple_url),
            reason: e.to_string(),
        })?;
    let response = http::get(&page, SIMPLE_ACCEPT).map_err(|e| get_error(repo, e))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    let final_url = response.url().clone();
    let retry_after = retry::retry_after(response.headers());
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let body = response
        .text()
        .map_err(|e| network_error(repo, &final_url, e))?;
    if !status.is_success() {
        return Err(RepositoryError::Server {
            repo: repo.to_owned(),
            url: redact_url(&page),
            status: status.as_u16(),
            message: body_excerpt(&body, None),
            retry_after,
        });
    }
    if is_json {
        parse_simple_json(&body, &final_url).map_err(|e| RepositoryError::BadIndex {
            repo: repo.to_owned(),
            url: redact_url(&final_url),
            // serde_json quotes the values it did not expect.
            reason: secrets::mask(&e.to_string()),
        })
    } else {
        Ok(parse_simple_html(&body, &final_url))
    }
}

#[derive(serde::Deserialize)]
struct SimpleJson {
    files: Vec<SimpleJsonFile>,
}

#[derive(serde::Deserialize)]
struct SimpleJsonFile {
    filename: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    hashes: HashMap<String, String>,
    #[serde(default, rename = "upload-time")]
    upload_time: Option<String>,
    #[serde(default)]
    provenance: Option<String>,
}

/// A PEP 691 project page.
pub fn parse_simple_json(body: &str, base: &Url) -> Result<Vec<IndexedFile>, serde_json::Error> {
    let page: SimpleJson = serde_json::from_str(body)?;
    Ok(page
        .files
        .into_iter()
        .map(|f| IndexedFile {
            sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
            url: f.url.as_deref().and_then(|u| file_link(base, u)),
            upload_time: f
                .upload_time
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok()),
            provenance: f.provenance.as_deref().and_then(|u| base.join(u).ok()),
            filename: f.filename,
        })
        .collect())
}

/// A PEP 503 project page: every `<a href>`; hrefs resolve against `base`.
pub fn parse_simple_html(body: &str, base: &Url) -> Vec<IndexedFile> {
    let mut files = Vec::new();
    for href in anchor_hrefs(body) {
        let Ok(url) = base.join(&href) else { continue };
        let Some(last) = url.path_segments().and_then(|mut s| s.next_back()) else {
            continue;
        };
        let filename = percent_decode(last);
        if filename.is_empty() {
            continue;
        }
        let sha256 = url.fragment().and_then(|frag| {
            frag.strip_prefix("sha256=")
                .map(|h| h.trim().to_ascii_lowercase())
        });
        files.push(IndexedFile {
            upload_time: None,
            provenance: None,
            filename,
            sha256,
            url: file_link(base, &href),
        });
    }
    files
}

/// A file's link resolved against its page, without the hash fragment.
fn file_link(base: &Url, href: &str) -> Option<Url> {
    let mut url = base.join(href).ok()?;
    url.set_fragment(None);
    Some(url)
}

/// The `href` values of `<a>` tags, entity-decoded.
fn anchor_hrefs(html: &str) -> Vec<String> {
    let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else {
        return Vec::new();
    };
    dom.nodes()
        .iter()
        .filter_map(|node| node.as_tag())
        .filter(|tag| tag.name().as_bytes().eq_ignore_ascii_case(b"a"))
        .filter_map(|tag| {
            // HTML attribute names are case-insensitive (`HREF` is valid).
            tag.attributes()
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("href"))
                .and_then(|(_, value)| value)
        })
        .map(|href| html_escape::decode_html_entities(&href).into_owned())
        .collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The simple index next to an upload URL: `…/legacy/` → `…/simple/`
/// (PyPI, TestPyPI), otherwise `<upload>/simple/` (pypiserver). Indexes that
/// differ — devpi serves `…/user/index/+simple/` — set `simple-url` in the
/// config explicitly.
pub fn simple_url_for_upload(upload: &Url) -> Url {
    let mut base = upload.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_owned();
    if let Some(parent) = path.strip_suffix("/legacy") {
        base.set_path(&format!("{parent}/simple/"));
        return base;
    }
    base.set_path(&format!("{path}/simple/"));
    base
}

pub(super) fn with_trailing_slash(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn html_links_resolve_relative_hrefs_and_fragments() {
        let html = r#"<!DOCTYPE html><html><body><h1>Links for demo</h1>
            <A HREF="../../packages/demo_pkg-1.0.0.tar.gz#sha256=ABCDEF">demo_pkg-1.0.0.tar.gz</A><br>
            <a data-requires-python="&gt;=3.8" href='demo_pkg-1.0.0%2Blocal-py3-none-any.whl#md5=00'>x</a>
            <abbr href="nope">no</abbr>
            <a href="https://files.example/x/y/demo_pkg-0.9.tar.gz?a=1&amp;b=2#sha256=0a1b">old</a>
            <a name="anchor-without-href">z</a>
            </body></html>"#;
        let files = parse_simple_html(html, &url("http://h:8080/simple/demo-pkg/"));
        assert_eq!(
            files,
            vec![
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-1.0.0.tar.gz".into(),
                    sha256: Some("abcdef".into()),
                    url: Some(url("http://h:8080/packages/demo_pkg-1.0.0.tar.gz")),
                },
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-1.0.0+local-py3-none-any.whl".into(),
                    sha256: None,
                    url: Some(url(
                        "http://h:8080/simple/demo-pkg/demo_pkg-1.0.0%2Blocal-py3-none-any.whl"
                    )),
                },
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-0.9.tar.gz".into(),
                    sha256: Some("0a1b".into()),
                    url: Some(url("https://files.example/x/y/demo_pkg-0.9.tar.gz?a=1&b=2")),
                },
            ]
        );
    }

    #[test]
    fn json_page_parses_files_and_hashes() {
        let body = r#"{"meta":{"api-version":"1.1"},"name":"demo-pkg","files":[
            {"filename":"demo_pkg-1.0.0.tar.gz","url":"x","hashes":{"sha256":"ABC","md5":"1"},
             "upload-time":"2026-07-08T09:10:11.123456Z",
             "provenance":"https://pypi.org/integrity/demo-pkg/1.0.0/demo_pkg-1.0.0.tar.gz/provenance"},
            {"filename":"demo_pkg-1.0.0-py3-none-any.whl","url":"/files/y","hashes":{},"provenance":null}]}"#;
        let base = url("http://h/simple/demo-pkg/");
        assert_eq!(
            parse_simple_json(body, &base).unwrap(),
            vec![
                IndexedFile {
                    upload_time: Some(
                        humantime::parse_rfc3339("2026-07-08T09:10:11.123456Z").unwrap()
                    ),
                    provenance: Some(url(
                        "https://pypi.org/integrity/demo-pkg/1.0.0/demo_pkg-1.0.0.tar.gz/provenance"
                    )),
                    filename: "demo_pkg-1.0.0.tar.gz".into(),
                    sha256: Some("abc".into()),
                    url: Some(url("http://h/simple/demo-pkg/x")),
                },
                IndexedFile {
                    upload_time: None,
                    provenance: None,
                    filename: "demo_pkg-1.0.0-py3-none-any.whl".into(),
                    sha256: None,
                    url: Some(url("http://h/files/y")),
                },
            ]
        );
        assert!(parse_simple_json("<html>", &base).is_err());
    }

    #[test]
    fn simple_url_from_upload_url() {
        let cases = [
            (
                "https://upload.pypi.org/legacy/",
                "https://upload.pypi.org/simple/",
            ),
            (
                "https://test.pypi.org/legacy",
                "https://test.pypi.org/simple/",
            ),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/simple/"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/simple/"),
            ("http://h/pypi/?x=1", "http://h/pypi/simple/"),
            ("https://u:p@h/legacy/", "https://u:p@h/simple/"),
        ];
        for (upload, simple) in cases {
            assert_eq!(
                simple_url_for_upload(&url(upload)).as_str(),
                simple,
                "{upload}"
            );
        }
    }
}
