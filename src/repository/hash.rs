//! The digests of a distribution file: sha256 (what indexes list) and
//! blake2b-256 (the legacy upload API's `blake2_256_digest`).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A digest is a writer: `io::copy` feeds it, no hand-written read loop.
pub(super) fn hash_reader<D: Digest + io::Write>(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = D::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn hash_file<D: Digest + io::Write>(path: &Path) -> io::Result<String> {
    hash_reader::<D>(File::open(path)?)
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    hash_file::<Sha256>(path)
}

/// blake2b-256 of a file (the legacy API's `blake2_256_digest`), lowercase hex.
pub fn blake2_256_file(path: &Path) -> io::Result<String> {
    hash_file::<blake2::Blake2b<blake2::digest::consts::U32>>(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            blake2_256_file(&path).unwrap(),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }
}
