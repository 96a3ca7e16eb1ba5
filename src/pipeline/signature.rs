//! A release tag's signature, as git verifies it (`git verify-tag --raw`):
//! OpenPGP through the user's keyring (gpg's `[GNUPG:]` status lines),
//! SSH through `gpg.ssh.allowedSignersFile` (ssh-keygen's verdict). git
//! picks the tool from the signature itself, so both work in one repository.

use std::fmt;

use serde::Serialize;

use crate::config::AllowedSigner;
use crate::git::{GitError, Repo};

/// The signature's kind, which decides how signers are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Openpgp,
    Ssh,
}

/// Who signed, as far as the verifier could tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    pub format: Format,
    /// OpenPGP: the primary key's fingerprint (else the long key id gpg
    /// named); SSH: the key's `SHA256:` fingerprint.
    pub key: String,
    /// OpenPGP: the signing subkey's fingerprint, when not the primary key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subkey: Option<String>,
    /// OpenPGP: the key's user id; SSH: the principal that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.format {
            Format::Openpgp => "OpenPGP key",
            Format::Ssh => "SSH key",
        };
        match &self.identity {
            Some(identity) => write!(f, "{identity} ({kind} {})", self.key),
            None => write!(f, "{kind} {}", self.key),
        }
    }
}

/// What `git verify-tag` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Signature {
    /// No signature (or a lightweight tag, which cannot carry one).
    Unsigned,
    Good {
        signer: Signer,
    },
    /// The signature does not match the tag object: changed after signing.
    Bad {
        signer: Option<Signer>,
    },
    /// Signed by a key this machine does not know: not in the keyring
    /// (OpenPGP) or in no principal's entry of the allowed-signers file (SSH).
    UnknownKey {
        signer: Signer,
    },
    ExpiredKey {
        signer: Signer,
    },
    ExpiredSignature {
        signer: Signer,
    },
    Revoked {
        signer: Signer,
    },
    /// git could not check it at all (e.g. no allowed-signers file for an
    /// SSH signature, no gpg), or refused a good signature (gpg.minTrustLevel).
    Unverifiable {
        reason: String,
    },
}

impl Signature {
    /// Who signed, when the verifier could tell.
    pub fn signer(&self) -> Option<&Signer> {
        match self {
            Signature::Good { signer }
            | Signature::UnknownKey { signer }
            | Signature::ExpiredKey { signer }
            | Signature::ExpiredSignature { signer }
            | Signature::Revoked { signer } => Some(signer),
            Signature::Bad { signer } => signer.as_ref(),
            Signature::Unsigned | Signature::Unverifiable { .. } => None,
        }
    }
}

/// Verifies the tag object `object` with git.
pub fn verify(repo: &Repo, object: &str) -> Result<Signature, GitError> {
    let (accepted, output) = repo.verify_tag_raw(object)?;
    Ok(parse(accepted, &output))
}

/// Reads `git verify-tag --raw`'s output; `accepted`: git's exit status.
pub fn parse(accepted: bool, output: &str) -> Signature {
    let status: Vec<Vec<&str>> = output
        .lines()
        .filter_map(|l| l.strip_prefix("[GNUPG:] "))
        .map(|l| l.split(' ').collect())
        .collect();
    if !status.is_empty() {
        return parse_openpgp(accepted, &status, output);
    }
    if let Some(result) = parse_ssh(accepted, output) {
        return result;
    }
    if output
        .lines()
        .any(|l| l.trim() == "error: no signature found")
    {
        return Signature::Unsigned;
    }
    Signature::Unverifiable {
        reason: other_lines(output).unwrap_or_else(|| "git verify-tag failed".to_string()),
    }
}

/// The lines that are not gpg status lines, for a message.
fn other_lines(output: &str) -> Option<String> {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("[GNUPG:]"))
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

fn parse_openpgp(accepted: bool, status: &[Vec<&str>], output: &str) -> Signature {
    let find = |keyword: &str| status.iter().find(|f| f.first() == Some(&keyword));
    // VALIDSIG <fpr> <date> <ts> <expire> <ver> <reserved> <pkalgo> <hash> <class> <primary-fpr>
    let validsig = find("VALIDSIG");
    let signer = |fields: &Vec<&str>| {
        let keyid = fields.get(1).copied().unwrap_or_default().to_string();
        let identity = (fields.len() > 2).then(|| fields[2..].join(" "));
        let (key, subkey) = match validsig {
            Some(v) => {
                let signing = v.get(1).copied().unwrap_or_default();
                let primary = v.get(10).copied().unwrap_or(signing);
                (
                    primary.to_string(),
                    (signing != primary).then(|| signing.to_string()),
                )
            }
            None => (keyid, None),
        };
        Signer {
            format: Format::Openpgp,
            key,
            subkey,
            identity,
        }
    };
    // The worst verdict wins should there be several.
    if let Some(fields) = find("BADSIG") {
        return Signature::Bad {
            signer: Some(signer(fields)),
        };
    }
    if let Some(fields) = find("REVKEYSIG") {
        return Signature::Revoked {
            signer: signer(fields),
        };
    }
    if let Some(fields) = find("EXPKEYSIG") {
        return Signature::ExpiredKey {
            signer: signer(fields),
        };
    }
    if let Some(fields) = find("EXPSIG") {
        return Signature::ExpiredSignature {
            signer: signer(fields),
        };
    }
    if let Some(fields) = find("GOODSIG") {
        let signer = signer(fields);
        if accepted {
            return Signature::Good { signer };
        }
        return Signature::Unverifiable {
            reason: format!(
                "git refused the good signature of {signer}{}",
                other_lines(output)
                    .map(|l| format!(": {l}"))
                    .unwrap_or_else(|| " (check gpg.minTrustLevel)".to_string())
            ),
        };
    }
    // ERRSIG <keyid> <pkalgo> <hashalgo> <class> <time> <rc> [<fpr>]; rc 9: no public key.
    if let Some(fields) = find("ERRSIG") {
        let keyid = fields.get(1).copied().unwrap_or_default();
        let key = fields
            .get(7)
            .filter(|f| !f.is_empty() && **f != "-")
            .copied()
            .unwrap_or(keyid);
        if fields.get(6) == Some(&"9") || find("NO_PUBKEY").is_some() {
            return Signature::UnknownKey {
                signer: Signer {
                    format: Format::Openpgp,
                    key: key.to_string(),
                    subkey: None,
                    identity: None,
                },
            };
        }
        return Signature::Unverifiable {
            reason: format!(
                "gpg could not check the signature of key {key} (error code {})",
                fields.get(6).copied().unwrap_or("?")
            ),
        };
    }
    Signature::Unverifiable {
        reason: other_lines(output)
            .unwrap_or_else(|| "gpg gave no verdict on the signature".to_string()),
    }
}

/// ssh-keygen's verdict as git passes it on; `None` when this is not an SSH
/// verification.
fn parse_ssh(accepted: bool, output: &str) -> Option<Signature> {
    // `Good "git" signature for PRINCIPAL with ED25519 key SHA256:…` once a
    // principal matched; `Good "git" signature with ED25519 key SHA256:…`
    // when git only checked the signature against its own embedded key.
    let good = output.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("Good \"git\" signature ")?;
        let (principal, key_part) = match rest.strip_prefix("for ") {
            Some(rest) => {
                let at = rest.rfind(" with ")?;
                (Some(rest[..at].to_string()), &rest[at + " with ".len()..])
            }
            None => (None, rest.strip_prefix("with ")?),
        };
        let key = key_part.split_once(" key ")?.1.trim().to_string();
        Some(Signer {
            format: Format::Ssh,
            key,
            subkey: None,
            identity: principal,
        })
    });
    let has = |needle: &str| output.lines().any(|l| l.contains(needle));
    if has("Signature verification failed") {
        return Some(Signature::Bad { signer: good });
    }
    if has("Could not verify signature") {
        // All git passes on when ssh-keygen refuses a key listed in
        // gpg.ssh.revocationFile; a bad signature says so (above).
        return Some(Signature::Unverifiable {
            reason: "ssh-keygen refused the signature without a reason (a key in gpg.ssh.revocationFile is refused this way)".to_string(),
        });
    }
    let signer = good?;
    if has("key has expired") || has("key is not yet valid") {
        return Some(Signature::ExpiredKey { signer });
    }
    if signer.identity.is_some() && accepted {
        return Some(Signature::Good { signer });
    }
    if has("No principal matched") || signer.identity.is_none() {
        return Some(Signature::UnknownKey { signer });
    }
    Some(Signature::Unverifiable {
        reason: format!(
            "git refused the signature of {signer}{}",
            other_lines(output)
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ),
    })
}

/// Signature matching lives here, next to [`Signer`]; the entry type is
/// config's, which refuses entries that do not parse when it reads them.
impl AllowedSigner {
    /// Whether `signer` is this entry: a key (or its subkey) for OpenPGP, a
    /// key fingerprint or principal for SSH.
    pub fn matches(&self, signer: &Signer) -> bool {
        match (self, signer.format) {
            (AllowedSigner::OpenpgpKey(id), Format::Openpgp) => {
                // A long key id is the fingerprint's last 16 digits (v4).
                let hit = |fpr: &str| {
                    let fpr = fpr.to_ascii_uppercase();
                    if id.len() == 16 {
                        fpr.ends_with(id.as_str())
                    } else {
                        fpr == *id
                    }
                };
                hit(&signer.key) || signer.subkey.as_deref().is_some_and(hit)
            }
            (AllowedSigner::SshKey(key), Format::Ssh) => signer.key == *key,
            (AllowedSigner::SshPrincipal(principal), Format::Ssh) => {
                signer.identity.as_deref() == Some(principal.as_str())
            }
            _ => false,
        }
    }
}

/// Whether `signer` is on `list` (entries as in the config; entries that do
/// not parse were refused when the config was read).
pub fn allowed(list: &[String], signer: &Signer) -> bool {
    list.iter()
        .filter_map(|e| AllowedSigner::parse(e).ok())
        .any(|e| e.matches(signer))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Outputs captured from git 2.47.3, gpg 2.2.40 and OpenSSH's ssh-keygen.

    const PGP_GOOD: &str = "\
[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8 0
[GNUPG:] SIG_ID YWhqLTAUQdQiKMUvNlfyYBmCYq4 2026-12-06 1796562601
[GNUPG:] KEY_CONSIDERED 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8 0
[GNUPG:] GOODSIG 01D57AB8C657CFF8 Test <t@example.invalid>
[GNUPG:] VALIDSIG 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8 2026-12-06 1796562601 0 4 0 22 8 00 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8
[GNUPG:] KEY_CONSIDERED 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8 0
[GNUPG:] TRUST_ULTIMATE 0 pgp
";

    const PGP_EXPIRED_KEY: &str = "\
[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED 126AAB244213EB3A785E1230A5FDF0182229F1FB 0
[GNUPG:] KEYEXPIRED 1577923200
[GNUPG:] SIG_ID tGgAHZ7PnBtziL6cw8sZUWlO8u0 2020-01-01 1577880000
[GNUPG:] KEY_CONSIDERED 126AAB244213EB3A785E1230A5FDF0182229F1FB 0
[GNUPG:] EXPKEYSIG A5FDF0182229F1FB Past <past@example.invalid>
[GNUPG:] VALIDSIG 126AAB244213EB3A785E1230A5FDF0182229F1FB 2020-01-01 1577880000 0 4 0 22 8 00 126AAB244213EB3A785E1230A5FDF0182229F1FB
[GNUPG:] KEY_CONSIDERED 126AAB244213EB3A785E1230A5FDF0182229F1FB 0
";

    const PGP_BAD: &str = "\
[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8 0
[GNUPG:] KEY_CONSIDERED 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8 0
[GNUPG:] BADSIG 01D57AB8C657CFF8 Test <t@example.invalid>
";

    const PGP_NO_PUBKEY: &str = "\
[GNUPG:] NEWSIG
[GNUPG:] ERRSIG 01D57AB8C657CFF8 22 8 00 1796562601 9 202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8
[GNUPG:] NO_PUBKEY 01D57AB8C657CFF8
";

    const PGP_REVOKED: &str = "\
[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED FCFB01A8B38A9061B587835354D089F549A4BDB5 0
[GNUPG:] SIG_ID XTFNyviZb+V3PYSaHwVKJNiX1iM 2026-12-06 1796562605
[GNUPG:] KEY_CONSIDERED FCFB01A8B38A9061B587835354D089F549A4BDB5 0
[GNUPG:] REVKEYSIG 54D089F549A4BDB5 Rev <rev@example.invalid>
[GNUPG:] VALIDSIG FCFB01A8B38A9061B587835354D089F549A4BDB5 2026-12-06 1796562605 0 4 0 22 8 00 FCFB01A8B38A9061B587835354D089F549A4BDB5
[GNUPG:] KEY_CONSIDERED FCFB01A8B38A9061B587835354D089F549A4BDB5 0
[GNUPG:] KEYREVOKED
[GNUPG:] KEY_CONSIDERED FCFB01A8B38A9061B587835354D089F549A4BDB5 0
[GNUPG:] TRUST_ULTIMATE 0 pgp
";

    const SSH_GOOD: &str = "Good \"git\" signature for alice@example.invalid with ED25519 key SHA256:zGnrWOL+itClw6gppk1IttjocBN2X62wznzsDw+zp0g\n";

    const SSH_NO_PRINCIPAL: &str = "\
Good \"git\" signature with ED25519 key SHA256:DuFnsaUAnG5WM60d8ZhUaBDrIoiVd9leJTcZMcAidxc
No principal matched.
";

    const SSH_BAD: &str = "\
Could not verify signature.
Signature verification failed: incorrect signature
";

    const SSH_EXPIRED: &str = "\
Good \"git\" signature with ED25519 key SHA256:zGnrWOL+itClw6gppk1IttjocBN2X62wznzsDw+zp0g
/tmp/sigcap/allowed-exp:1: key has expired: verify time 2026-12-06T13:10:09 > valid-before 2020-01-01T00:00:00
No principal matched.
";

    const SSH_REVOKED: &str = "Could not verify signature.\n";

    const SSH_NOT_CONFIGURED: &str = "error: gpg.ssh.allowedSignersFile needs to be configured and exist for ssh signature verification\n";

    fn pgp(key: &str, identity: &str) -> Signer {
        Signer {
            format: Format::Openpgp,
            key: key.into(),
            subkey: None,
            identity: Some(identity.into()),
        }
    }

    #[test]
    fn openpgp_verdicts() {
        let test = pgp(
            "202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8",
            "Test <t@example.invalid>",
        );
        assert_eq!(
            parse(true, PGP_GOOD),
            Signature::Good {
                signer: test.clone()
            }
        );
        assert_eq!(
            parse(false, PGP_EXPIRED_KEY),
            Signature::ExpiredKey {
                signer: pgp(
                    "126AAB244213EB3A785E1230A5FDF0182229F1FB",
                    "Past <past@example.invalid>"
                )
            }
        );
        assert_eq!(
            parse(false, PGP_BAD),
            Signature::Bad {
                signer: Some(pgp("01D57AB8C657CFF8", "Test <t@example.invalid>"))
            }
        );
        assert_eq!(
            parse(false, PGP_NO_PUBKEY),
            Signature::UnknownKey {
                signer: Signer {
                    format: Format::Openpgp,
                    key: "202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8".into(),
                    subkey: None,
                    identity: None,
                }
            }
        );
        assert_eq!(
            parse(false, PGP_REVOKED),
            Signature::Revoked {
                signer: pgp(
                    "FCFB01A8B38A9061B587835354D089F549A4BDB5",
                    "Rev <rev@example.invalid>"
                )
            }
        );
        // A good signature git still refused (gpg.minTrustLevel) is no pass.
        assert!(matches!(
            parse(false, PGP_GOOD),
            Signature::Unverifiable { .. }
        ));
    }

    #[test]
    fn ssh_verdicts() {
        let alice = Signer {
            format: Format::Ssh,
            key: "SHA256:zGnrWOL+itClw6gppk1IttjocBN2X62wznzsDw+zp0g".into(),
            subkey: None,
            identity: Some("alice@example.invalid".into()),
        };
        assert_eq!(
            parse(true, SSH_GOOD),
            Signature::Good {
                signer: alice.clone()
            }
        );
        assert_eq!(
            parse(false, SSH_NO_PRINCIPAL),
            Signature::UnknownKey {
                signer: Signer {
                    format: Format::Ssh,
                    key: "SHA256:DuFnsaUAnG5WM60d8ZhUaBDrIoiVd9leJTcZMcAidxc".into(),
                    subkey: None,
                    identity: None,
                }
            }
        );
        assert_eq!(parse(false, SSH_BAD), Signature::Bad { signer: None });
        assert!(matches!(
            parse(false, SSH_REVOKED),
            Signature::Unverifiable { reason } if reason.contains("gpg.ssh.revocationFile")
        ));
        assert!(matches!(
            parse(false, SSH_EXPIRED),
            Signature::ExpiredKey { .. }
        ));
        assert_eq!(
            parse(false, SSH_NOT_CONFIGURED),
            Signature::Unverifiable {
                reason: SSH_NOT_CONFIGURED.trim().to_string()
            }
        );
        assert_eq!(
            parse(false, "error: no signature found\n"),
            Signature::Unsigned
        );
    }

    #[test]
    fn allowed_signer_entries() {
        let test = pgp(
            "202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8",
            "Test <t@example.invalid>",
        );
        for entry in [
            "202B115BB4BF8B8C7F7A8A1B01D57AB8C657CFF8",
            "202b115bb4bf8b8c7f7a8a1b01d57ab8c657cff8",
            "0x01D57AB8C657CFF8",
        ] {
            assert!(allowed(&[entry.to_string()], &test), "{entry}");
        }
        assert!(!allowed(&["01D57AB8C657CFF9".to_string()], &test));
        // A principal names SSH signers only, never an OpenPGP user id.
        assert!(!allowed(&["t@example.invalid".to_string()], &test));
        assert!(AllowedSigner::parse("C657CFF8").is_err());
        assert!(AllowedSigner::parse("202B 115B").is_err());

        let alice = Signer {
            format: Format::Ssh,
            key: "SHA256:zGnrWOL+itClw6gppk1IttjocBN2X62wznzsDw+zp0g".into(),
            subkey: None,
            identity: Some("alice@example.invalid".into()),
        };
        assert!(allowed(&["alice@example.invalid".to_string()], &alice));
        assert!(allowed(
            &["SHA256:zGnrWOL+itClw6gppk1IttjocBN2X62wznzsDw+zp0g".to_string()],
            &alice
        ));
        assert!(!allowed(&["bob@example.invalid".to_string()], &alice));
    }
}
