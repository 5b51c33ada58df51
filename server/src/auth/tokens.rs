//! Identities and their tokens: `--auth-tokens FILE`, a TOML file with one
//! table per token,
//!
//! ```toml
//! [[token]]
//! name = "release-approver"
//! role = "approver"
//! sha256 = "<hex SHA-256 of the token>"
//! ```
//!
//! (`token = "…"` in plain text is accepted for development, with a
//! warning). Tokens are kept only as hashes, and a presented token is
//! compared with every one of them in constant time.

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What an identity may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every `GET`, WebSocket subscriptions, the dashboard.
    Viewer,
    /// Submit and run jobs, cancel runs, change routines and alert rules.
    Operator,
    /// Vote on approvals.
    Approver,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

impl Identity {
    /// Everyone, on a server without tokens (which only listens on loopback).
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".into(),
            role: Role::Admin,
        }
    }

    /// Someone without a valid token, on a route open to anyone
    /// (`--metrics-public`).
    pub fn anonymous_reader() -> Self {
        Self {
            name: "anonymous".into(),
            role: Role::Viewer,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    token: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: Role,
    sha256: Option<String>,
    token: Option<String>,
}

/// The identities of a tokens file.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Identity)>,
    /// Names of identities whose token is written in plain text.
    pub plain: Vec<String>,
}

pub fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut tokens = Self::default();
        for (i, entry) in file.token.into_iter().enumerate() {
            let at = format!("token[{i}]");
            let name = entry.name.trim().to_string();
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                return Err(format!(
                    "{at}.name: a name of 1 to 128 printable characters"
                ));
            }
            if matches!(name.as_str(), "system" | "anonymous") {
                return Err(format!("{at}.name: {name:?} is reserved"));
            }
            if tokens.entries.iter().any(|(_, id)| id.name == name) {
                return Err(format!("{at}.name: {name:?} appears twice"));
            }
            let hash = match (entry.sha256, entry.token) {
                (Some(hex), None) => {
                    parse_hex(&hex).ok_or_else(|| format!("{at}.sha256: 64 hexadecimal digits"))?
                }
                (None, Some(token)) => {
                    if token.len() < 16 {
                        return Err(format!("{at}.token: at least 16 characters"));
                    }
                    tokens.plain.push(name.clone());
                    sha256(&token)
                }
                _ => return Err(format!("{at}: give exactly one of sha256 and token")),
            };
            if tokens.entries.iter().any(|(h, _)| *h == hash) {
                return Err(format!("{at}: the same token as another identity"));
            }
            tokens.entries.push((
                hash,
                Identity {
                    name,
                    role: entry.role,
                },
            ));
        }
        if tokens.entries.is_empty() {
            return Err("no [[token]] in the file".into());
        }
        Ok(tokens)
    }

    /// The identity a presented token belongs to. Every entry is compared,
    /// in constant time, whatever matches: the time taken says nothing
    /// about which or how much of a hash matched.
    pub fn find(&self, presented: &str) -> Option<&Identity> {
        let hash = sha256(presented);
        let mut found = None;
        for (known, identity) in &self.entries {
            if bool::from(known.ct_eq(&hash)) {
                found = Some(identity);
            }
        }
        found
    }

    /// The identity called `name` (a session's, on each use: a removed
    /// identity's sessions are void, a changed role applies at once).
    pub fn named(&self, name: &str) -> Option<&Identity> {
        self.entries
            .iter()
            .map(|(_, identity)| identity)
            .find(|identity| identity.name == name)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret-token-of-the-approver";

    fn hex(bytes: [u8; 32]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn identities_are_found_by_their_tokens_hash() {
        let file = format!(
            "[[token]]\nname = \"release-approver\"\nrole = \"approver\"\nsha256 = \"{}\"\n\n\
             [[token]]\nname = \"dev\"\nrole = \"admin\"\ntoken = \"development-only-token\"\n",
            hex(sha256(TOKEN)).to_uppercase()
        );
        let tokens = Tokens::parse(&file).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens.find(TOKEN),
            Some(&Identity {
                name: "release-approver".into(),
                role: Role::Approver
            })
        );
        assert_eq!(
            tokens.find("development-only-token").unwrap().role,
            Role::Admin
        );
        assert_eq!(tokens.plain, ["dev"]);
        assert_eq!(tokens.find("nope"), None);
        assert_eq!(tokens.find(""), None);
        assert!(Role::Viewer < Role::Operator && Role::Approver < Role::Admin);
    }

    #[test]
    fn a_bad_file_says_where() {
        for (file, says) in [
            ("", "no [[token]]"),
            ("[[token]]\nname = \"a\"\nrole = \"root\"\ntoken = \"0123456789abcdef\"", "root"),
            ("[[token]]\nname = \"a\"\nrole = \"viewer\"", "exactly one"),
            ("[[token]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"abc\"", "token[0].sha256"),
            ("[[token]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"short\"", "16 characters"),
            ("[[token]]\nname = \"system\"\nrole = \"viewer\"\ntoken = \"0123456789abcdef\"", "reserved"),
            (
                "[[token]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"0123456789abcdef\"\n\
                 [[token]]\nname = \"a\"\nrole = \"admin\"\ntoken = \"0123456789abcdeg\"",
                "twice",
            ),
            (
                "[[token]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"0123456789abcdef\"\n\
                 [[token]]\nname = \"b\"\nrole = \"admin\"\ntoken = \"0123456789abcdef\"",
                "same token",
            ),
            ("[[token]]\nname = \"a\"\nrole = \"viewer\"\ntoken = \"0123456789abcdef\"\nextra = 1", "extra"),
        ] {
            let err = Tokens::parse(file).unwrap_err();
            assert!(err.contains(says), "{file:?}: {err}");
        }
    }
}
