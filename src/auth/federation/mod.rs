//! Tokens of trusted external OpenID Connect issuers (`--oidc-config`).
//!
//! A bearer token whose unverified `iss` is exactly a trusted issuer's is verified here with
//! that issuer's keys and nothing else (so a key of issuer B never verifies a token claiming
//! issuer A); every other token is Warden's own and goes to [`super::keys::KeyRing`]. The
//! verified claims are mapped to an [`Identity`] ([`mapping`]); the HTTP layer turns it into
//! a [`super::principal::Principal`] like any local caller's.

pub mod config;
pub mod jwks;
pub mod mapping;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use config::{IssuerConfig, Provision};
pub use mapping::Identity;

use jwks::IssuerKeys;

/// Most verified federated tokens remembered; a full cache drops expired entries, then empties.
pub const MAX_VERIFIED_TOKENS: usize = 10_000;

/// Why a federated token was refused (the text is safe to show its holder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FederationError {
    /// The issuer's keys have never been read (unreachable since start).
    #[error("the token's issuer `{0}` is not reachable yet, so its keys are unknown; retry later")]
    IssuerUnavailable(String),
    /// No key of the issuer has the token's `kid` (even after a refresh).
    #[error("the token was signed by a key its issuer does not publish")]
    UnknownKey,
    /// Not a JWT, an algorithm the issuer is not trusted with, a bad signature, a missing or
    /// mistyped registered claim.
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    /// Its `aud` is none of the accepted audiences.
    #[error("the token was issued for another audience")]
    WrongAudience,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`, or issued in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Issued longer ago than the issuer's `max_token_age_secs`.
    #[error("the token is older than its issuer's max_token_age_secs allows")]
    TooOld,
    /// A claim the mapping needs has the wrong type.
    #[error("{0}")]
    Claims(String),
}

/// A remembered verification: the issuer's position in the list and the mapped identity.
type Verified = (usize, Arc<Identity>);

/// Every trusted issuer, their keys and the verified-token cache.
pub struct Federation {
    issuers: Vec<Arc<IssuerKeys>>,
    http: reqwest::Client,
    /// Verified tokens by SHA-256: the issuer's position and the mapped identity.
    verified: std::sync::RwLock<HashMap<[u8; 32], Verified>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl Default for Federation {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

#[derive(serde::Deserialize)]
struct Unverified {
    iss: Option<Value>,
}

/// The `iss` of a token, read without verifying anything (to choose the keys): None when the
/// token is not three base64url parts with a JSON payload naming a string issuer.
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > 64 * 1024 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice::<Unverified>(&bytes).ok()?.iss? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

impl Federation {
    /// The issuers, with no keys read yet.
    pub fn new(issuers: Vec<IssuerConfig>) -> Self {
        Self {
            issuers: issuers
                .into_iter()
                .map(|c| Arc::new(IssuerKeys::new(c)))
                .collect(),
            http: jwks::client(),
            verified: Default::default(),
        }
    }

    /// Whether any issuer is trusted.
    pub fn is_enabled(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// The trusted issuers' configurations.
    pub fn issuers(&self) -> impl Iterator<Item = &IssuerConfig> {
        self.issuers.iter().map(|i| &i.cfg)
    }

    /// Reads of `alias`'s discovery document and JWKS begun so far.
    pub fn fetches(&self, alias: &str) -> u64 {
        self.issuers
            .iter()
            .find(|i| i.cfg.alias == alias)
            .map_or(0, |i| i.fetches.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Reads every issuer's keys once (all at once, each bounded by
    /// [`jwks::FETCH_TIMEOUT`]), then keeps them fresh in the background. An issuer that
    /// cannot be read is retried; its tokens are refused until it can.
    pub async fn start(&self) {
        let mut reads = tokio::task::JoinSet::new();
        for issuer in &self.issuers {
            let (issuer, http) = (issuer.clone(), self.http.clone());
            reads.spawn(async move {
                if issuer.refresh(&http).await.is_none() {
                    tracing::warn!(issuer = %issuer.cfg.alias, "issuer unreachable at start; retrying in the background");
                }
            });
        }
        while reads.join_next().await.is_some() {}
        for issuer in &self.issuers {
            tokio::spawn(issuer.clone().keep_fresh(self.http.clone()));
        }
    }

    /// The trusted issuer a token claims to come from, if any (None: not a federated token).
    pub fn claimed_issuer(&self, token: &str) -> Option<&IssuerConfig> {
        self.issuer_of(token).map(|i| &i.cfg)
    }

    fn issuer_of(&self, token: &str) -> Option<&Arc<IssuerKeys>> {
        if self.issuers.is_empty() {
            return None;
        }
        let iss = unverified_issuer(token)?;
        // Byte for byte: `https://idp/` and `https://idp` are different issuers.
        self.issuers.iter().find(|i| i.cfg.issuer == iss)
    }

    /// Verifies a token claiming a trusted issuer (see [`Federation::claimed_issuer`]) and
    /// maps its claims. A token verified before is answered from memory (its time claims are
    /// checked again).
    pub async fn verify(&self, token: &str, now: i64) -> Result<Arc<Identity>, FederationError> {
        self.verify_claimed(token, now)
            .await
            .map_or(Err(FederationError::Invalid), |(_, r)| r)
    }

    /// None when the token claims no trusted issuer (it is Warden's own, or nobody's); else
    /// the issuer's alias and the verdict ([`Federation::verify`]). A token verified before
    /// is found by its hash before anything is parsed.
    pub async fn verify_claimed(
        &self,
        token: &str,
        now: i64,
    ) -> Option<(&str, Result<Arc<Identity>, FederationError>)> {
        if self.issuers.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self
            .verified
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .cloned();
        if let Some((at, identity)) = cached
            && let Some(issuer) = self.issuers.get(at)
        {
            let verdict = check_times(&issuer.cfg, &identity, now).map(|()| identity);
            return Some((issuer.cfg.alias.as_str(), verdict));
        }
        let iss = unverified_issuer(token)?;
        // Byte for byte: `https://idp/` and `https://idp` are different issuers.
        let at = self.issuers.iter().position(|i| i.cfg.issuer == iss)?;
        let issuer = &self.issuers[at];
        let verdict = match self.verify_signed(issuer, token, now).await {
            Ok(identity) => {
                let identity = Arc::new(identity);
                self.remember(digest, at, identity.clone(), now);
                check_times(&issuer.cfg, &identity, now).map(|()| identity)
            }
            Err(e) => Err(e),
        };
        Some((issuer.cfg.alias.as_str(), verdict))
    }

    fn remember(&self, digest: [u8; 32], issuer: usize, id: Arc<Identity>, now: i64) {
        let mut map = self.verified.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_VERIFIED_TOKENS {
            map.retain(|_, (_, i)| i.expires_at > now);
            if map.len() >= MAX_VERIFIED_TOKENS {
                map.clear();
            }
        }
        map.insert(digest, (issuer, id));
    }

    async fn verify_signed(
        &self,
        issuer: &IssuerKeys,
        token: &str,
        now: i64,
    ) -> Result<Identity, FederationError> {
        let cfg = &issuer.cfg;
        // `alg: none` and unknown algorithms fail to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| FederationError::Invalid)?;
        let alg = cfg
            .algorithms
            .iter()
            .copied()
            .find(|a| a.jwt() == header.alg)
            .ok_or(FederationError::Invalid)?;
        let kid = header.kid.unwrap_or_default();
        let keys = match issuer.current() {
            Some(k) => k,
            None => issuer
                .refresh(&self.http)
                .await
                .ok_or_else(|| FederationError::IssuerUnavailable(cfg.alias.clone()))?,
        };
        let key = match keys.get(&kid) {
            Some(k) => k.clone(),
            // Perhaps a rotation: read again (at most once per min_refresh_interval_secs).
            None => issuer
                .refresh(&self.http)
                .await
                .and_then(|k| k.get(&kid).cloned())
                .ok_or(FederationError::UnknownKey)?,
        };
        // The key's own type decides the algorithm: an RSA key never checks an ES256 or HS256
        // signature, whatever the header says.
        if key.alg != alg {
            return Err(FederationError::Invalid);
        }
        let mut validation = jsonwebtoken::Validation::new(alg.jwt());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&cfg.audiences);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidAudience => FederationError::WrongAudience,
                    _ => FederationError::Invalid,
                }
            })?;
        let claims = data.claims;
        let int = |name: &str| claims.get(name).and_then(Value::as_i64);
        let exp = int("exp").ok_or(FederationError::Invalid)?;
        let iat = int("iat").ok_or(FederationError::Invalid)?;
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_i64().ok_or(FederationError::Invalid)?;
            if nbf > now + cfg.clock_skew_secs {
                return Err(FederationError::NotYetValid);
            }
        }
        mapping::map(cfg, &claims, exp, iat).map_err(FederationError::Claims)
    }
}

fn check_times(cfg: &IssuerConfig, id: &Identity, now: i64) -> Result<(), FederationError> {
    if id.expires_at <= now - cfg.clock_skew_secs {
        return Err(FederationError::Expired);
    }
    if id.issued_at > now + cfg.clock_skew_secs {
        return Err(FederationError::NotYetValid);
    }
    if now - id.issued_at > cfg.max_token_age_secs + cfg.clock_skew_secs {
        return Err(FederationError::TooOld);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_read_only_from_a_well_formed_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://a"}"#);
        assert_eq!(
            unverified_issuer(&format!("x.{payload}.y")).as_deref(),
            Some("https://a")
        );
        let number = URL_SAFE_NO_PAD.encode(br#"{"iss":5}"#);
        for bad in [
            format!("x.{number}.y"),
            format!("x.{payload}"),
            format!("x.{payload}.y.z"),
            "x.%%%.y".to_owned(),
            String::new(),
        ] {
            assert_eq!(unverified_issuer(&bad), None, "{bad}");
        }
    }
}
