//! One trusted issuer's signing keys: read from its discovery document and JWKS, cached in
//! memory, refreshed on a schedule and on an unknown `kid` — at most once per
//! `min_refresh_interval_secs`, so a flood of tokens with random `kid`s costs the issuer one
//! request per interval, not one per token.
//!
//! Redirects are never followed (an issuer answering 3xx is as unreachable as one that does
//! not answer): the keys come from the URL the operator configured, or the `jwks_uri` its
//! discovery document names, and nowhere else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use serde::Deserialize;

use super::config::{Alg, IssuerConfig, acceptable_issuer_url};

/// Longest one discovery or JWKS request may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery document or JWKS accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A verification key and the one algorithm it may verify.
#[derive(Clone)]
pub struct Key {
    /// The key.
    pub decoding: DecodingKey,
    /// The algorithm its type allows.
    pub alg: Alg,
}

/// The keys of an issuer, by `kid` (keys without one under "").
#[derive(Clone, Default)]
pub struct KeySet(HashMap<String, Key>);

impl KeySet {
    /// The key with this id, if any.
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.0.get(kid)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The usable signature keys of a JWKS for the allowed algorithms: HMAC (`oct`) keys,
    /// encryption keys, curves other than P-256 and keys of algorithms the issuer is not
    /// trusted with are left out.
    pub fn from_jwks(set: &JwkSet, allowed: &[Alg]) -> Self {
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if let Some(key) = usable(jwk, allowed) {
                keys.insert(jwk.common.key_id.clone().unwrap_or_default(), key);
            }
        }
        Self(keys)
    }
}

fn usable(jwk: &Jwk, allowed: &[Alg]) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Alg::Rs256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Alg::Es256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Alg::EdDsa,
        _ => return None,
    };
    if !allowed.contains(&alg) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { decoding, alg })
}

/// Why the keys could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Not reachable, not 200, too large, or not JSON of the expected shape.
    #[error("{0}")]
    Failed(String),
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The HTTP client every issuer shares: no redirects, a timeout, rustls.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building fails only if the TLS backend cannot start, which the default rustls
        // configuration always can; fall back to the default client just the same.
        .unwrap_or_default()
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, FetchError> {
    let fail = |why: String| FetchError::Failed(format!("{url}: {why}"));
    let mut res = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    if !res.status().is_success() {
        // 3xx included: a redirect is never followed.
        return Err(fail(format!("answered {}", res.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(fail(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("not the expected JSON: {e}")))
}

/// Reads the discovery document under the issuer and then its JWKS.
pub async fn fetch(http: &reqwest::Client, cfg: &IssuerConfig) -> Result<KeySet, FetchError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        cfg.issuer.trim_end_matches('/')
    );
    let discovery: Discovery = get_json(http, &url).await?;
    // OpenID Connect Discovery §4.3: the document must name the issuer it was read under.
    if discovery.issuer != cfg.issuer {
        return Err(FetchError::Failed(format!(
            "{url}: names issuer `{}`, not `{}`",
            discovery.issuer, cfg.issuer
        )));
    }
    if !acceptable_issuer_url(&discovery.jwks_uri) {
        return Err(FetchError::Failed(format!(
            "{url}: jwks_uri `{}` is not https (or loopback http)",
            discovery.jwks_uri
        )));
    }
    let set: JwkSet = get_json(http, &discovery.jwks_uri).await?;
    Ok(KeySet::from_jwks(&set, &cfg.algorithms))
}

/// The cached keys of one issuer and when they were last read.
pub struct IssuerKeys {
    /// The issuer.
    pub cfg: IssuerConfig,
    keys: std::sync::RwLock<Option<Arc<KeySet>>>,
    /// Serialises reads of the JWKS and holds when the last one began.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// Reads begun (for metrics and the `kid` flood test).
    pub fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("issuer", &self.cfg.issuer)
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// No keys yet.
    pub fn new(cfg: IssuerConfig) -> Self {
        Self {
            cfg,
            keys: std::sync::RwLock::new(None),
            last_fetch: tokio::sync::Mutex::new(None),
            fetches: Default::default(),
        }
    }

    /// The keys, if they were ever read.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the keys again unless a read began less than `min_refresh_interval_secs` ago
    /// (then the keys stay as they are). Concurrent callers share one read. Returns the keys
    /// now held.
    pub async fn refresh(&self, http: &reqwest::Client) -> Option<Arc<KeySet>> {
        let min = Duration::from_secs(self.cfg.min_refresh_interval_secs);
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < min) {
            return self.current();
        }
        *last = Some(Instant::now());
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match fetch(http, &self.cfg).await {
            Ok(set) => {
                tracing::info!(issuer = %self.cfg.alias, keys = set.len(), "issuer keys read");
                let set = Arc::new(set);
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
                Some(set)
            }
            Err(e) => {
                // The keys held (if any) stay: a failing issuer keeps its known keys working.
                tracing::warn!(issuer = %self.cfg.alias, error = %e, "issuer keys could not be read");
                self.current()
            }
        }
    }

    /// Forever: read the keys every `refresh_interval_secs`, or, while none are known,
    /// every `min_refresh_interval_secs` (at least a second) until they are.
    pub async fn keep_fresh(self: Arc<Self>, http: reqwest::Client) {
        loop {
            let wait = if self.current().is_some() {
                self.cfg.refresh_interval_secs
            } else {
                self.cfg.min_refresh_interval_secs.max(1)
            };
            tokio::time::sleep(Duration::from_secs(wait)).await;
            self.refresh(&http).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: serde_json::Value) -> JwkSet {
        serde_json::from_value(serde_json::json!({ "keys": keys })).expect("jwks")
    }

    #[test]
    fn only_signature_keys_of_trusted_algorithms_are_kept() {
        let ed = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let oct = serde_json::json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
        let rsa = serde_json::json!({"kty": "RSA", "kid": "rsa", "e": "AQAB",
            "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"});
        let enc = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let jwks = set(serde_json::json!([ed, oct, rsa, enc]));
        let ed_only = KeySet::from_jwks(&jwks, &[Alg::EdDsa]);
        assert_eq!(ed_only.len(), 1);
        assert!(ed_only.get("ed").is_some_and(|k| k.alg == Alg::EdDsa));
        assert!(
            ed_only.get("hmac").is_none(),
            "an HMAC key is never a verification key"
        );
        assert!(
            ed_only.get("enc").is_none(),
            "an encryption key does not verify"
        );
        let both = KeySet::from_jwks(&jwks, &[Alg::EdDsa, Alg::Rs256]);
        assert!(both.get("rsa").is_some_and(|k| k.alg == Alg::Rs256));
        assert_eq!(both.len(), 2);
    }
}
