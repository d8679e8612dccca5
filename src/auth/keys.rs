//! Ed25519 signing keys, JWKS, and access-token issue/verify.
//!
//! Verification is configured explicitly: the algorithm is pinned to EdDSA, the key is
//! chosen by `kid` from an in-memory map (never used in a query or path), `iss` and `aud`
//! must match, and every claim is required. `exp`/`nbf`/`iat` are checked against the
//! injected [`Clock`](crate::clock::Clock) so expiry is testable without sleeping.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::accounts::AccountKind;
use crate::store::{self, Db, StoreError, keys::KeyRow};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Claims of a Warden access token. Every field is required when decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The user's token generation at issue.
    pub r#gen: i64,
    /// The session (refresh-token family) this token belongs to: revoking the session
    /// rejects the token at once. A service's token names the secret it was obtained with
    /// instead (`svc:<secret id>`), so it dies with that secret.
    pub sid: String,
    /// What the subject is: `user` or `service` (any other value, or none, is refused). Must
    /// agree with the account's kind.
    pub kind: AccountKind,
    /// The tenant every decision for this token is made in (`r.sub.tenant`).
    pub tid: String,
}

/// Why a token was refused (the message is safe to show).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWT, bad signature, wrong algorithm, missing or malformed claim.
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    /// No key with this `kid`.
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// Wrong issuer or audience.
    #[error("the token was issued for another service")]
    WrongAudience,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf` or issued in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
}

/// The key set: one signing key and every verification key by `kid`.
#[derive(Clone)]
pub struct KeyRing {
    kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
    issuer: String,
    audience: String,
    verified: std::sync::Arc<VerifiedTokens>,
}

/// Most verified tokens remembered; a full cache first drops expired entries, then empties.
pub const MAX_VERIFIED_TOKENS: usize = 100_000;

/// Tokens whose signature, header and issuer/audience were verified, by the SHA-256 of the
/// whole token text: a hit skips the signature check (~50 µs for EdDSA) but never the time
/// checks, which run against the clock on every use. Revocation (token generation, session,
/// disabled account) is checked after this, on every request, so it needs no invalidation
/// here; keys change only when the process starts.
#[derive(Default)]
struct VerifiedTokens(std::sync::RwLock<HashMap<[u8; 32], Claims>>);

impl VerifiedTokens {
    fn get(&self, digest: &[u8; 32]) -> Option<Claims> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(digest).cloned()
    }

    fn put(&self, digest: [u8; 32], claims: &Claims, now: i64) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_VERIFIED_TOKENS {
            map.retain(|_, c| c.exp > now - LEEWAY_SECS);
            if map.len() >= MAX_VERIFIED_TOKENS {
                map.clear();
            }
        }
        map.insert(digest, claims.clone());
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Key material could not be generated or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad key material.
    #[error("signing key: {0}")]
    Material(String),
}

fn generate(now: i64) -> Result<KeyRow, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Material(e.to_string()))?;
    let mut kid = [0u8; 12];
    getrandom::fill(&mut kid).map_err(|e| KeyError::Material(e.to_string()))?;
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    Ok(KeyRow {
        kid: URL_SAFE_NO_PAD.encode(kid),
        algorithm: "EdDSA".into(),
        private_key: STANDARD.encode(seed),
        public_key: URL_SAFE_NO_PAD.encode(public),
        created_at: now,
        retired_at: None,
    })
}

/// Parses a key supplied from outside: a PKCS#8 PEM (`openssl genpkey -algorithm ed25519`)
/// or the base64 of a 32-byte Ed25519 seed. Errors never echo the material.
pub fn parse_external_key(text: &SecretString) -> Result<SigningKey, KeyError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let text = text.expose_secret().trim();
    if text.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(text)
            .map_err(|_| KeyError::Material("not an Ed25519 PKCS#8 PEM private key".into()));
    }
    let seed: [u8; 32] = STANDARD
        .decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            KeyError::Material("neither a PKCS#8 PEM nor a base64 32-byte Ed25519 seed".into())
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public row of a key supplied from outside: its kid is the RFC 7638 thumbprint of
/// its public key, so every instance given the same key names it alike.
fn external_row(key: &SigningKey, now: i64) -> KeyRow {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    KeyRow {
        kid: URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())),
        algorithm: "EdDSA".into(),
        private_key: String::new(),
        public_key: x,
        created_at: now,
        retired_at: None,
    }
}

/// `warden keys rotate`: a new key with a new kid becomes the signer; the others are
/// retired (their private material erased) and stay published until the tokens they signed
/// have expired. Refused when the signer comes from `--signing-key-file`: replace that file.
/// Returns the new kid. Running instances pick the new key up when they restart.
pub async fn rotate(db: &Db, now: i64) -> Result<String, KeyError> {
    let rows = store::keys::list(db).await?;
    if rows
        .iter()
        .any(|r| r.retired_at.is_none() && r.private_key.is_empty())
    {
        return Err(KeyError::Material(
            "the signing key comes from --signing-key-file / WARDEN_SIGNING_KEY: rotate by \
             replacing it and restarting"
                .into(),
        ));
    }
    let row = generate(now)?;
    store::keys::insert(db, &row).await?;
    store::keys::retire_all_but(db, &row.kid, now).await?;
    Ok(row.kid)
}

impl KeyRing {
    /// Loads the keys from the store. The signer is `external` when given (only its public
    /// key is stored), else the newest stored key, generated on first start. Keys retired
    /// more than `access_ttl` (plus leeway) ago signed nothing still valid and are dropped.
    pub async fn load(
        db: &Db,
        now: i64,
        issuer: &str,
        audience: &str,
        external: Option<&SecretString>,
        access_ttl: i64,
    ) -> Result<Self, KeyError> {
        let signer = match external {
            Some(text) => {
                let key = parse_external_key(text)?;
                let row = external_row(&key, now);
                store::keys::insert(db, &row).await?;
                store::keys::retire_all_but(db, &row.kid, now).await?;
                (row.kid, key)
            }
            None => {
                let rows = store::keys::list(db).await?;
                let active = rows
                    .iter()
                    .find(|r| r.retired_at.is_none() && !r.private_key.is_empty());
                let row = match active {
                    Some(r) => r.clone(),
                    None => {
                        // First start, or the external key was taken away: a new stored key.
                        let row = generate(now)?;
                        store::keys::insert(db, &row).await?;
                        row
                    }
                };
                store::keys::retire_all_but(db, &row.kid, now).await?;
                let seed: [u8; 32] = STANDARD
                    .decode(&row.private_key)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        KeyError::Material("private key is not a 32-byte seed".into())
                    })?;
                (row.kid, SigningKey::from_bytes(&seed))
            }
        };
        store::keys::delete_retired_before(db, now - access_ttl - LEEWAY_SECS).await?;
        let rows = store::keys::list(db).await?;
        Self::from_rows(&rows, &signer.0, &signer.1, issuer, audience)
    }

    fn from_rows(
        rows: &[KeyRow],
        kid: &str,
        signer: &SigningKey,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, KeyError> {
        let mut decoding = HashMap::new();
        let mut jwks = Vec::new();
        for row in rows {
            if row.algorithm != "EdDSA" {
                return Err(KeyError::Material(format!(
                    "unsupported algorithm {}",
                    row.algorithm
                )));
            }
            let key = DecodingKey::from_ed_components(&row.public_key)
                .map_err(|e| KeyError::Material(e.to_string()))?;
            decoding.insert(row.kid.clone(), key);
            jwks.push(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": row.public_key,
                "kid": row.kid, "alg": "EdDSA", "use": "sig",
            }));
        }
        if !decoding.contains_key(kid) {
            return Err(KeyError::Material(
                "the signing key is not published".into(),
            ));
        }
        let der = signer
            .to_pkcs8_der()
            .map_err(|e| KeyError::Material(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding,
            jwks: serde_json::json!({ "keys": jwks }),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            verified: Default::default(),
        })
    }

    /// The kid new tokens are signed with.
    pub fn signing_kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS document.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The configured audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs claims with the current key.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| KeyError::Material(e.to_string()))
    }

    /// Verifies a token completely and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let c = match self.verified.get(&digest) {
            Some(c) => c,
            None => {
                let c = self.verify_signed(token)?;
                self.verified.put(digest, &c, now);
                c
            }
        };
        if c.exp <= now - LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        if c.nbf > now + LEEWAY_SECS || c.iat > now + LEEWAY_SECS {
            return Err(TokenError::NotYetValid);
        }
        Ok(c)
    }

    /// Everything but the time claims: header, algorithm, key, signature, issuer, audience,
    /// required claims.
    fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.decoding.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time claims are checked below against the injected clock; presence is enforced by
        // the library and by `Claims` having no optional field.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => TokenError::WrongAudience,
                _ => TokenError::Invalid,
            }
        })?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let row = generate(1_000).expect("key");
        let seed: [u8; 32] = STANDARD
            .decode(&row.private_key)
            .expect("b64")
            .try_into()
            .expect("32");
        KeyRing::from_rows(
            std::slice::from_ref(&row),
            &row.kid,
            &SigningKey::from_bytes(&seed),
            "warden",
            "warden",
        )
        .expect("ring")
    }

    #[test]
    fn external_keys_parse_from_pem_or_a_base64_seed_and_never_echo_the_material() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let pem = key
            .to_pkcs8_pem(Default::default())
            .expect("pem")
            .to_string();
        let b64 = STANDARD.encode([7u8; 32]);
        for text in [pem, b64] {
            let parsed = parse_external_key(&SecretString::from(text)).expect("parses");
            assert_eq!(parsed.to_bytes(), key.to_bytes());
        }
        let secret = "c2VjcmV0LXNlY3JldA==";
        let e = parse_external_key(&SecretString::from(secret.to_owned()))
            .expect_err("16 bytes is no seed");
        assert!(!e.to_string().contains(secret), "{e}");
    }

    fn claims(now: i64) -> Claims {
        Claims {
            sub: "1".into(),
            iss: "warden".into(),
            aud: "warden".into(),
            exp: now + 900,
            nbf: now,
            iat: now,
            jti: "j".into(),
            scope: "a b".into(),
            r#gen: 0,
            sid: "s".into(),
            kind: AccountKind::User,
            tid: "default".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips_its_claims() {
        let r = ring();
        let t = r.sign(&claims(5_000)).expect("sign");
        assert_eq!(r.verify(&t, 5_000), Ok(claims(5_000)));
    }

    #[test]
    fn expiry_and_not_before_are_checked_against_the_given_time_with_leeway() {
        let r = ring();
        let t = r.sign(&claims(5_000)).expect("sign");
        assert!(r.verify(&t, 5_900 + LEEWAY_SECS - 1).is_ok());
        assert_eq!(r.verify(&t, 5_900 + LEEWAY_SECS), Err(TokenError::Expired));
        assert_eq!(
            r.verify(&t, 5_000 - LEEWAY_SECS - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn a_cached_token_is_still_time_checked_and_a_respelled_one_is_verified_afresh() {
        let r = ring();
        let t = r.sign(&claims(5_000)).expect("sign");
        assert!(r.verify(&t, 5_000).is_ok(), "verified, and now cached");
        assert_eq!(r.verify(&t, 9_000), Err(TokenError::Expired));
        assert_eq!(
            r.verify(&t, 1_000),
            Err(TokenError::NotYetValid),
            "the cache keeps no verdict, only the verified claims"
        );
        let (head, sig) = t.rsplit_once('.').expect("three parts");
        let flipped = if sig.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{head}.{}{flipped}", &sig[..sig.len() - 1]);
        assert!(r.verify(&forged, 5_000).is_err());
        assert!(r.verify(&format!("{t} "), 5_000).is_err());
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused_even_with_a_valid_nbf() {
        let r = ring();
        let mut c = claims(5_000);
        c.iat = 5_000 + LEEWAY_SECS + 1;
        let t = r.sign(&c).expect("sign");
        assert_eq!(r.verify(&t, 5_000), Err(TokenError::NotYetValid));
        c.iat = 5_000 + LEEWAY_SECS;
        let t = r.sign(&c).expect("sign");
        assert!(r.verify(&t, 5_000).is_ok(), "within the leeway");
    }

    #[test]
    fn the_jwks_publishes_the_public_key_under_its_kid() {
        let r = ring();
        let keys = r.jwks()["keys"].as_array().expect("keys").clone();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kid"], r.kid.as_str());
        assert_eq!(keys[0]["kty"], "OKP");
        assert!(keys[0].get("d").is_none(), "no private material in JWKS");
    }
}
