//! The digests of a distribution file: sha256 (what indexes list) and
//! blake2b-256 (the legacy upload API's `blake2_256_digest`).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A digest is a writer: `io::copy` feeds it, no hand-written read loop.
pub fn hash_reader<D: Digest + io::Write>(mut reader: impl Read) -> io::Result<String> {
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
    hash_file::<Blake2b256>(path)
}

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

/// Hex sha256 and blake2b-256 of everything `reader` yields, in one pass:
/// `io::copy` feeds both digests through one writer.
pub fn digests(mut reader: impl Read) -> io::Result<(String, String)> {
    struct Both(Sha256, Blake2b256);
    impl io::Write for Both {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.update(bytes);
            self.1.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut both = Both(Sha256::new(), Blake2b256::new());
    io::copy(&mut reader, &mut both)?;
    Ok((
        hex::encode(both.0.finalize()),
        hex::encode(both.1.finalize()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_digests_equal_the_file_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Larger than io::copy's buffer, so several writes feed both.
        std::fs::write(&path, vec![7u8; 200_000]).unwrap();
        let (sha256, blake2_256) = digests(File::open(&path).unwrap()).unwrap();
        assert_eq!(sha256, sha256_file(&path).unwrap());
        assert_eq!(blake2_256, blake2_256_file(&path).unwrap());
    }

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
