//! The credential vault: connector credentials encrypted at rest.
//!
//! [`CredentialVault`] seals [`Credentials`] with AES-256-GCM (RustCrypto
//! `aes-gcm`): a fresh random 96-bit nonce for every seal, a 32-byte key the caller
//! supplies ([`VaultKey::new`]) or reads from an environment variable
//! ([`VaultKey::from_env`]), and a key id stored next to the ciphertext so keys can
//! rotate: keep the old key as a *previous* key, and [`CredentialVault::reseal`]
//! decrypts with it and encrypts with the current one. The key id, a format
//! version and a caller-chosen *context* (for example the organization and connector
//! instance the credentials belong to) are authenticated as associated data, so a
//! ciphertext moved to another row, or any flipped bit, fails to open with a clear
//! error instead of yielding wrong credentials.
//!
//! Keys and plaintext never print: [`VaultKey`]'s `Debug` redacts the key, the
//! plaintext buffer is zeroed after use, and opened credentials come back as
//! [`Credentials`], whose `Debug` redacts every secret. The SQLite store (feature
//! `sqlite`) keeps sealed credentials in its `credentials` table.
//!
//! ```
//! use connector_core::Credentials;
//! use connector_core::vault::{CredentialVault, VaultKey};
//!
//! let vault = CredentialVault::new(VaultKey::new("2025-01", [7u8; 32]).unwrap());
//! let creds: Credentials =
//!     serde_json::from_str(r#"{ "type": "bearer", "token": "ghp_example" }"#).unwrap();
//! let sealed = vault.seal(&creds, "org-1/github-prod").unwrap();
//! assert_eq!(sealed.key_id, "2025-01");
//! let opened = vault.open(&sealed, "org-1/github-prod").unwrap();
//! assert_eq!(opened.secret_values(), vec!["ghp_example"]);
//! // The ciphertext is bound to its context.
//! assert!(vault.open(&sealed, "org-2/github-prod").is_err());
//! ```

use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};

use crate::credentials::Credentials;
use crate::error::{ConnectorError, ErrorKind, Result};

/// The environment variable [`CredentialVault::from_env`] reads by default.
pub const DEFAULT_KEY_ENV: &str = "CONNECTOR_VAULT_KEY";

/// The sealed format version this library writes.
pub const SEAL_VERSION: u8 = 1;

/// The nonce length of AES-GCM in bytes (96 bits).
pub const NONCE_LEN: usize = 12;

/// A 32-byte AES-256 key and its id.
pub struct VaultKey {
    id: String,
    key: SecretBox<[u8; 32]>,
}

impl VaultKey {
    /// A key with `id` (any printable name: `2025-01`, `kms-v3`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the id is empty, longer than 64 bytes or
    /// contains a `:` or a control character.
    pub fn new(id: impl Into<String>, bytes: [u8; 32]) -> Result<Self> {
        let id = id.into();
        if id.is_empty() || id.len() > 64 || id.contains(':') || id.chars().any(char::is_control) {
            return Err(ConnectorError::config(format!(
                "vault key id `{}` is invalid: use 1 to 64 printable characters without `:`",
                id.escape_debug()
            )));
        }
        Ok(Self {
            id,
            key: SecretBox::new(Box::new(bytes)),
        })
    }

    /// A key from 64 hexadecimal characters.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when `hex` is not 64 hex digits (the message never
    /// contains the input) or the id is invalid.
    pub fn from_hex(id: impl Into<String>, hex: &str) -> Result<Self> {
        let hex = hex.trim();
        let mut bytes = Zeroizing::new([0u8; 32]);
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return Err(ConnectorError::config(format!(
                "a vault key must be 64 hexadecimal characters (32 bytes), got {} characters",
                digits.len()
            )));
        }
        for (i, pair) in digits.chunks(2).enumerate() {
            let hi = hex_value(pair[0]);
            let lo = hex_value(pair[1]);
            match (hi, lo) {
                (Some(hi), Some(lo)) => bytes[i] = (hi << 4) | lo,
                _ => {
                    return Err(ConnectorError::config(
                        "a vault key must be 64 hexadecimal characters; it contains other characters",
                    ));
                }
            }
        }
        Self::new(id, *bytes)
    }

    /// Reads a key from the environment variable `var`, formatted `<id>:<64 hex>`
    /// (or just `<64 hex>`, whose id is then `default`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the variable is missing or malformed; the
    /// message names the variable, never its value.
    pub fn from_env(var: &str) -> Result<Self> {
        let value = Zeroizing::new(std::env::var(var).map_err(|_| {
            ConnectorError::config(format!(
                "environment variable {var} is not set; set it to `<key-id>:<64 hex characters>`"
            ))
        })?);
        let (id, hex) = match value.split_once(':') {
            Some((id, hex)) => (id.trim(), hex),
            None => ("default", value.as_str()),
        };
        Self::from_hex(id, hex).map_err(|e| e.with_context("variable", var))
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        let key: &Key<Aes256Gcm> = self.key.expose_secret().into();
        Aes256Gcm::new(key)
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("id", &self.id)
            .field("key", &format_args!("[REDACTED]"))
            .finish()
    }
}

/// Sealed credentials: what is stored. Nothing here is secret without the key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealedCredentials {
    /// The format version ([`SEAL_VERSION`]).
    pub version: u8,
    /// The id of the key that sealed them.
    pub key_id: String,
    /// The random nonce of this seal.
    pub nonce: [u8; NONCE_LEN],
    /// The ciphertext with its 16-byte authentication tag.
    pub ciphertext: Vec<u8>,
}

impl SealedCredentials {
    /// Reassembles sealed credentials read from storage.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`] when the nonce is not 12 bytes.
    pub fn from_parts(
        version: u8,
        key_id: String,
        nonce: &[u8],
        ciphertext: Vec<u8>,
    ) -> Result<Self> {
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| {
            ConnectorError::decode(format!(
                "sealed credentials have a {}-byte nonce; expected {NONCE_LEN}",
                nonce.len()
            ))
        })?;
        Ok(Self {
            version,
            key_id,
            nonce,
            ciphertext,
        })
    }
}

impl fmt::Debug for SealedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCredentials")
            .field("version", &self.version)
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// Encrypts and decrypts credentials with a current key and any previous keys.
pub struct CredentialVault {
    current: VaultKey,
    previous: Vec<VaultKey>,
}

impl fmt::Debug for CredentialVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<&str> = self.previous.iter().map(VaultKey::id).collect();
        f.debug_struct("CredentialVault")
            .field("current", &self.current.id)
            .field("previous", &previous)
            .finish()
    }
}

impl CredentialVault {
    /// A vault that seals with `current`.
    pub fn new(current: VaultKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// A vault whose current key comes from [`DEFAULT_KEY_ENV`]
    /// (`CONNECTOR_VAULT_KEY`, formatted `<id>:<64 hex>`).
    ///
    /// # Errors
    ///
    /// See [`VaultKey::from_env`].
    pub fn from_env() -> Result<Self> {
        VaultKey::from_env(DEFAULT_KEY_ENV).map(Self::new)
    }

    /// Adds a key that can still open what it sealed, for rotation.
    pub fn with_previous_key(mut self, key: VaultKey) -> Self {
        self.previous.push(key);
        self
    }

    /// The id of the key new seals use.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    fn key(&self, id: &str) -> Option<&VaultKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }

    /// Encrypts `credentials` with the current key and a fresh random nonce,
    /// binding them to `context` (say `"{organization}/{connector instance}"`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unexpected`] when the system random generator fails.
    pub fn seal(&self, credentials: &Credentials, context: &str) -> Result<SealedCredentials> {
        let plaintext =
            Zeroizing::new(serde_json::to_vec(&credentials.to_json_exposing_secrets())?);
        let nonce = aes_gcm::Nonce::try_generate().map_err(|e| {
            ConnectorError::unexpected(format!("the system random generator failed: {e}"))
                .with_operation("vault_seal")
        })?;
        let aad = associated_data(SEAL_VERSION, &self.current.id, context);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                ConnectorError::unexpected("AES-GCM refused to encrypt the credentials")
                    .with_operation("vault_seal")
            })?;
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&nonce);
        Ok(SealedCredentials {
            version: SEAL_VERSION,
            key_id: self.current.id.clone(),
            nonce: nonce_bytes,
            ciphertext,
        })
    }

    /// Decrypts credentials sealed for `context` with the current or a previous key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the vault lacks the key they were sealed with, or
    /// when authentication fails: the key with that id is wrong, or the
    /// ciphertext, nonce, key id or context was changed (tampering).
    /// [`ErrorKind::Decode`] for an unknown format version.
    pub fn open(&self, sealed: &SealedCredentials, context: &str) -> Result<Credentials> {
        if sealed.version != SEAL_VERSION {
            return Err(ConnectorError::decode(format!(
                "sealed credentials have format version {}; this library reads version {SEAL_VERSION}",
                sealed.version
            ))
            .with_operation("vault_open"));
        }
        let key = self.key(&sealed.key_id).ok_or_else(|| {
            ConnectorError::config(format!(
                "the credentials for `{context}` were sealed with key `{}`, which this vault does \
                 not hold (current key: `{}`); add it with `with_previous_key` to open or reseal them",
                sealed.key_id, self.current.id
            ))
            .with_operation("vault_open")
        })?;
        let aad = associated_data(sealed.version, &sealed.key_id, context);
        let nonce = aes_gcm::Nonce::from(sealed.nonce);
        let plaintext = key
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                ConnectorError::new(
                    ErrorKind::Config,
                    format!(
                        "the credentials for `{context}` failed authentication with key `{}`: \
                         either that key is wrong or the stored ciphertext was tampered with; \
                         they were not used",
                        sealed.key_id
                    ),
                )
                .with_operation("vault_open")
            })?;
        serde_json::from_slice(&plaintext).map_err(|e| {
            // serde's message may quote input; keep only its position and category.
            ConnectorError::decode(format!(
                "the credentials for `{context}` decrypted but are not valid credentials \
                 (line {}, column {}, {:?})",
                e.line(),
                e.column(),
                e.classify()
            ))
            .with_operation("vault_open")
        })
    }

    /// Whether `sealed` was sealed with a key other than the current one.
    pub fn needs_rotation(&self, sealed: &SealedCredentials) -> bool {
        sealed.key_id != self.current.id || sealed.version != SEAL_VERSION
    }

    /// Opens `sealed` with whichever key sealed it and seals it again with the
    /// current key and a new nonce.
    ///
    /// # Errors
    ///
    /// Those of [`open`](Self::open) and [`seal`](Self::seal).
    pub fn reseal(&self, sealed: &SealedCredentials, context: &str) -> Result<SealedCredentials> {
        let credentials = self.open(sealed, context)?;
        self.seal(&credentials, context)
    }
}

fn associated_data(version: u8, key_id: &str, context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + key_id.len() + context.len());
    aad.extend_from_slice(b"connector-vault\0");
    aad.push(version);
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-vault-4b1d-secret";

    fn creds() -> Credentials {
        serde_json::from_value(serde_json::json!({
            "type": "basic", "username": "svc", "password": CANARY
        }))
        .unwrap()
    }

    fn vault(id: &str, byte: u8) -> CredentialVault {
        CredentialVault::new(VaultKey::new(id, [byte; 32]).unwrap())
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let v = vault("k1", 1);
        let a = v.seal(&creds(), "org/jira").unwrap();
        let b = v.seal(&creds(), "org/jira").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!String::from_utf8_lossy(&a.ciphertext).contains(CANARY));
        let opened = v.open(&a, "org/jira").unwrap();
        assert_eq!(opened.secret_values(), vec![CANARY]);
        assert_eq!(opened.kind(), "basic");
    }

    #[test]
    fn wrong_key_and_unknown_key_are_clear_errors() {
        let sealed = vault("k1", 1).seal(&creds(), "org/jira").unwrap();
        let err = vault("k1", 2).open(&sealed, "org/jira").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string()
                .contains("either that key is wrong or the stored ciphertext was tampered"),
            "{err}"
        );
        let err = vault("k2", 1).open(&sealed, "org/jira").unwrap_err();
        assert!(
            err.to_string()
                .contains("sealed with key `k1`, which this vault does not hold"),
            "{err}"
        );
    }

    #[test]
    fn any_tampering_is_detected() {
        let v = vault("k1", 1);
        let sealed = v.seal(&creds(), "org/jira").unwrap();
        for i in 0..sealed.ciphertext.len() {
            let mut t = sealed.clone();
            t.ciphertext[i] ^= 0x01;
            assert!(
                v.open(&t, "org/jira").is_err(),
                "flipped byte {i} went unnoticed"
            );
        }
        let mut t = sealed.clone();
        t.nonce[0] ^= 0x80;
        assert!(v.open(&t, "org/jira").is_err());
        let mut t = sealed.clone();
        t.ciphertext.truncate(t.ciphertext.len() - 1);
        assert!(v.open(&t, "org/jira").is_err());
        assert!(
            v.open(&sealed, "org/github").is_err(),
            "context is authenticated"
        );
        let mut t = sealed;
        t.version = 9;
        assert_eq!(
            v.open(&t, "org/jira").unwrap_err().kind(),
            ErrorKind::Decode
        );
    }

    #[test]
    fn rotation_reseals_with_the_new_key() {
        let old = vault("2024", 1);
        let sealed = old.seal(&creds(), "org/jira").unwrap();
        let rotated = CredentialVault::new(VaultKey::new("2025", [9; 32]).unwrap())
            .with_previous_key(VaultKey::new("2024", [1; 32]).unwrap());
        assert!(rotated.needs_rotation(&sealed));
        let resealed = rotated.reseal(&sealed, "org/jira").unwrap();
        assert_eq!(resealed.key_id, "2025");
        assert!(!rotated.needs_rotation(&resealed));
        // The new key alone opens the resealed credentials; the old alone cannot.
        let new_only = vault("2025", 9);
        assert_eq!(
            new_only
                .open(&resealed, "org/jira")
                .unwrap()
                .secret_values(),
            vec![CANARY]
        );
        assert!(old.open(&resealed, "org/jira").is_err());
    }

    #[test]
    fn keys_and_sealed_values_never_print_secrets() {
        let key = VaultKey::from_hex("k1", &"ab".repeat(32)).unwrap();
        assert_eq!(
            format!("{key:?}"),
            "VaultKey { id: \"k1\", key: [REDACTED] }"
        );
        let v = CredentialVault::new(key).with_previous_key(VaultKey::new("k0", [3; 32]).unwrap());
        assert_eq!(
            format!("{v:?}"),
            "CredentialVault { current: \"k1\", previous: [\"k0\"] }"
        );
        let sealed = v.seal(&creds(), "ctx").unwrap();
        let printed = format!("{sealed:?} {:?}", v.open(&sealed, "ctx").unwrap());
        assert!(!printed.contains(CANARY), "{printed}");
        assert!(!printed.contains("abab"), "{printed}");
    }

    #[test]
    fn key_parsing_errors_never_echo_the_input() {
        let bad = format!("{}zz", "ab".repeat(31));
        let err = VaultKey::from_hex("k", &bad).unwrap_err();
        assert!(!err.to_string().contains("abab"), "{err}");
        assert!(
            VaultKey::from_hex("k", "abcd")
                .unwrap_err()
                .to_string()
                .contains("got 4 characters")
        );
        assert!(VaultKey::new("a:b", [0; 32]).is_err());
        assert!(VaultKey::new("", [0; 32]).is_err());
        let err = VaultKey::from_env("CONNECTOR_VAULT_TEST_SURELY_UNSET").unwrap_err();
        assert!(
            err.to_string()
                .contains("CONNECTOR_VAULT_TEST_SURELY_UNSET is not set"),
            "{err}"
        );
    }
}
