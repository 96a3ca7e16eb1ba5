//! Wheels and sdists written with the zip/tar/flate2 crates: real archives
//! with whatever members a test needs, RECORD with real hashes.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::Digest;

/// One archive member: a file, or a symlink whose target is `data`.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub data: Vec<u8>,
    pub symlink: bool,
}

/// A file member.
pub fn member(name: &str, data: &[u8]) -> Member {
    Member {
        name: name.to_string(),
        data: data.to_vec(),
        symlink: false,
    }
}

/// A symlink member pointing at `target`.
pub fn symlink(name: &str, target: &str) -> Member {
    Member {
        name: name.to_string(),
        data: target.as_bytes().to_vec(),
        symlink: true,
    }
}

/// `members` as a deflated zip, in order.
pub fn zip_bytes(members: &[Member]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for m in members {
        if m.symlink {
            zip.add_symlink(m.name.as_str(), String::from_utf8_lossy(&m.data), options)
                .unwrap();
        } else {
            zip.start_file(m.name.as_str(), options).unwrap();
            zip.write_all(&m.data).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// [`zip_bytes`] written to `path`.
pub fn write_zip(path: &Path, members: &[Member]) -> PathBuf {
    std::fs::write(path, zip_bytes(members)).unwrap();
    path.to_path_buf()
}

/// A `.tar.gz` at `path`: `members` as regular files (0644) or symlinks
/// (0777), and `hard_links` as (name, target) hard links. Names go into the
/// header raw, so a test can write `..` or absolute names (`append_data`
/// refuses them); each must fit the 100-byte field.
pub fn write_tar_gz(path: &Path, members: &[Member], hard_links: &[(&str, &str)]) -> PathBuf {
    let gzip = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gzip);
    let raw = |field: &mut [u8], text: &str| field[..text.len()].copy_from_slice(text.as_bytes());
    for m in members {
        let mut header = tar::Header::new_gnu();
        raw(&mut header.as_gnu_mut().unwrap().name, &m.name);
        if m.symlink {
            header.set_size(0);
            header.set_mode(0o777);
            header.set_entry_type(tar::EntryType::Symlink);
            raw(
                &mut header.as_gnu_mut().unwrap().linkname,
                &String::from_utf8_lossy(&m.data),
            );
            header.set_cksum();
            tar.append(&header, std::io::empty()).unwrap();
        } else {
            header.set_size(m.data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append(&header, m.data.as_slice()).unwrap();
        }
    }
    for (name, target) in hard_links {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o777);
        header.set_entry_type(tar::EntryType::Link);
        raw(&mut header.as_gnu_mut().unwrap().name, name);
        raw(&mut header.as_gnu_mut().unwrap().linkname, target);
        header.set_cksum();
        tar.append(&header, std::io::empty()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path.to_path_buf()
}

/// A wheel's `WHEEL` file for `tag` (pure Python).
pub fn wheel_file(tag: &str) -> String {
    format!("Wheel-Version: 1.0\nGenerator: tagpub-test\nRoot-Is-Purelib: true\nTag: {tag}\n")
}

/// `{dist_info}/RECORD` listing `members` with their real sha256 and size,
/// and itself without a hash, as a wheel installer writes it.
pub fn record(dist_info: &str, members: &[Member]) -> Member {
    let mut text = String::new();
    for m in members {
        let digest =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&m.data));
        text.push_str(&format!("{},sha256={digest},{}\n", m.name, m.data.len()));
    }
    text.push_str(&format!("{dist_info}/RECORD,,\n"));
    member(&format!("{dist_info}/RECORD"), text.as_bytes())
}

/// A minimal but real wheel of `name` (METADATA, WHEEL, one module holding
/// `payload`, a RECORD with every file's hash): enough for pip and twine.
/// Two payloads give two wheels with one file name and other bytes.
pub fn wheel_bytes(name: &str, version: &str, payload: &str) -> Vec<u8> {
    let module = name.replace('-', "_");
    let dist_info = format!("{module}-{version}.dist-info");
    let mut members = vec![
        member(
            &format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").as_bytes(),
        ),
        member(
            &format!("{dist_info}/WHEEL"),
            wheel_file("py3-none-any").as_bytes(),
        ),
        member(&format!("{module}/__init__.py"), payload.as_bytes()),
    ];
    members.push(record(&dist_info, &members));
    zip_bytes(&members)
}

/// [`wheel_bytes`] written to `dir/{module}-{version}-py3-none-any.whl`.
pub fn write_wheel(dir: &Path, name: &str, version: &str, payload: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let module = name.replace('-', "_");
    let path = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    std::fs::write(&path, wheel_bytes(name, version, payload)).unwrap();
    path
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_wheel_records_each_member_with_its_hash() {
        let bytes = wheel_bytes("demo-pkg", "1.0", "x = 1\n");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut record = String::new();
        zip.by_name("demo_pkg-1.0.dist-info/RECORD")
            .unwrap()
            .read_to_string(&mut record)
            .unwrap();
        // sha256("x = 1\n"), urlsafe base64 without padding.
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(b"x = 1\n"));
        assert!(
            record
                .lines()
                .any(|l| l == format!("demo_pkg/__init__.py,sha256={digest},6")),
            "{record}"
        );
        assert_eq!(
            record.lines().last(),
            Some("demo_pkg-1.0.dist-info/RECORD,,")
        );
        assert_eq!(zip.len(), 4);
    }

    #[test]
    fn a_tar_gz_keeps_raw_names_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_tar_gz(
            &dir.path().join("a.tar.gz"),
            &[member("../up", b"data"), symlink("link", "/etc/passwd")],
            &[("hard", "../up")],
        );
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
        let mut archive = tar::Archive::new(gz);
        let seen: Vec<(String, tar::EntryType, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let header = e.header();
                (
                    String::from_utf8_lossy(&header.as_gnu().unwrap().name)
                        .trim_end_matches('\0')
                        .to_string(),
                    header.entry_type(),
                    header
                        .link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("../up".to_string(), tar::EntryType::Regular, None),
                (
                    "link".to_string(),
                    tar::EntryType::Symlink,
                    Some("/etc/passwd".to_string())
                ),
                (
                    "hard".to_string(),
                    tar::EntryType::Link,
                    Some("../up".to_string())
                ),
            ]
        );
    }
}
