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
use serde::{Deserialize, Serialize};

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
    /// rejects the token at once.
    pub sid: String,
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
    })
}

impl KeyRing {
    /// Loads the keys from the store, generating and storing the first one if there is none.
    pub async fn load_or_create(
        db: &Db,
        now: i64,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, KeyError> {
        let mut rows = store::keys::list(db).await?;
        if rows.is_empty() {
            store::keys::insert(db, &generate(now)?).await?;
            rows = store::keys::list(db).await?;
        }
        Self::from_rows(&rows, issuer, audience)
    }

    fn from_rows(rows: &[KeyRow], issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let newest = rows
            .first()
            .ok_or_else(|| KeyError::Material("no signing key".into()))?;
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
        let seed: [u8; 32] = STANDARD
            .decode(&newest.private_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| KeyError::Material("private key is not a 32-byte seed".into()))?;
        let der = SigningKey::from_bytes(&seed)
            .to_pkcs8_der()
            .map_err(|e| KeyError::Material(e.to_string()))?;
        Ok(Self {
            kid: newest.kid.clone(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding,
            jwks: serde_json::json!({ "keys": jwks }),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
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
        let c = data.claims;
        if c.exp <= now - LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        if c.nbf > now + LEEWAY_SECS || c.iat > now + LEEWAY_SECS {
            return Err(TokenError::NotYetValid);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let row = generate(1_000).expect("key");
        KeyRing::from_rows(&[row], "warden", "warden").expect("ring")
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
