//! Who may sign release tags: `allowed-signers` entries and the policy a
//! tag's signature must satisfy.

use super::{Config, Package};

/// What a release tag's signature must satisfy ([`Config::signature_policy`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignaturePolicy {
    pub required: bool,
    /// Per package with a non-empty `allowed-signers`: the signer must be in
    /// each of these lists.
    pub allowed: Vec<(String, Vec<String>)>,
}

impl Config {
    /// The signature policy of a tag releasing `members` (one package, or a
    /// group's members). One tag serves them all, so the strictest holds:
    /// a signature is required when any member requires one, and the signer
    /// must be on every member's `allowed-signers` list (a member without a
    /// list, and no `[defaults]` list, accepts any verified signer).
    pub fn signature_policy(&self, members: &[&Package]) -> SignaturePolicy {
        SignaturePolicy {
            // A list of who may release is no restriction if an unsigned
            // tag could still release: a list requires a signature too.
            required: members.iter().any(|p| {
                p.require_signed.unwrap_or(self.defaults.require_signed)
                    || !p
                        .allowed_signers
                        .as_ref()
                        .unwrap_or(&self.defaults.allowed_signers)
                        .is_empty()
            }),
            allowed: members
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.allowed_signers
                            .clone()
                            .unwrap_or_else(|| self.defaults.allowed_signers.clone()),
                    )
                })
                .filter(|(_, list)| !list.is_empty())
                .collect(),
        }
    }
}

/// One `allowed-signers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedSigner {
    /// A fingerprint (40 or 64 hex digits) or long key id (16), upper case.
    OpenpgpKey(String),
    /// `SHA256:…` as `ssh-keygen -l` and git print it.
    SshKey(String),
    /// A principal of the allowed-signers file (often an email address).
    SshPrincipal(String),
}

impl AllowedSigner {
    /// The error completes "allowed-signers entry `X` …".
    pub fn parse(entry: &str) -> Result<AllowedSigner, String> {
        let text = entry.trim();
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err("is empty or contains spaces (write fingerprints without spaces)".into());
        }
        if text.starts_with("SHA256:") {
            return Ok(AllowedSigner::SshKey(text.to_string()));
        }
        let hex = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return match hex.len() {
                16 | 40 | 64 => Ok(AllowedSigner::OpenpgpKey(hex.to_ascii_uppercase())),
                // A short id is trivially forged by making a key with it.
                8 => Err("is a short key id, which anyone can forge: use the full fingerprint (`gpg --fingerprint`)".into()),
                _ => Err("looks like a key id but is neither 16 nor 40 hex digits: use the full fingerprint (`gpg --fingerprint`)".into()),
            };
        }
        Ok(AllowedSigner::SshPrincipal(text.to_string()))
    }
}
