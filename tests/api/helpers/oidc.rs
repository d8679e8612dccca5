//! A tiny OpenID Connect issuer on 127.0.0.1 (discovery + JWKS only) and signing keys the
//! tests make themselves, for the federation tests: the attack table signs its own tokens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// What the issuer's discovery endpoint does.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Answers the document.
    Serve,
    /// 503.
    Fail,
    /// 302 to another server's discovery document.
    RedirectTo(String),
}

pub struct IssuerState {
    url: String,
    jwks: RwLock<Value>,
    mode: RwLock<Mode>,
    /// JWKS requests served.
    pub jwks_hits: AtomicU64,
    /// Discovery requests answered (whatever the mode).
    pub discovery_hits: AtomicU64,
}

/// A running fake issuer; stops when dropped.
pub struct FakeIssuer {
    pub url: String,
    pub state: Arc<IssuerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(s): State<Arc<IssuerState>>) -> Response {
    s.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let mode = s.mode.read().expect("mode").clone();
    match mode {
        Mode::Serve => axum::Json(json!({
            "issuer": s.url,
            "jwks_uri": format!("{}/jwks", s.url),
        }))
        .into_response(),
        Mode::Fail => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::RedirectTo(other) => (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                format!("{other}/.well-known/openid-configuration"),
            )],
        )
            .into_response(),
    }
}

async fn jwks(State(s): State<Arc<IssuerState>>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(s.jwks.read().expect("jwks").clone()).into_response()
}

impl FakeIssuer {
    /// Starts an issuer publishing `keys`, in `mode`.
    pub async fn start(keys: &[&TestKey], mode: Mode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(IssuerState {
            url: url.clone(),
            jwks: RwLock::new(Value::Null),
            mode: RwLock::new(mode),
            jwks_hits: AtomicU64::new(0),
            discovery_hits: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let issuer = Self { url, state, task };
        issuer.publish(keys);
        issuer
    }

    /// Replaces the published keys (a rotation).
    pub fn publish(&self, keys: &[&TestKey]) {
        let set = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        *self.state.jwks.write().expect("jwks") = set;
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.write().expect("mode") = mode;
    }

    pub fn jwks_hits(&self) -> u64 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn discovery_hits(&self) -> u64 {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }
}

/// A signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Value,
    /// The public key's raw bytes (what an HS256 forgery keys its HMAC with).
    pub public: Vec<u8>,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("random");
    b
}

impl TestKey {
    /// A fresh Ed25519 key.
    pub fn ed25519(kid: &str) -> Self {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = ed25519_dalek::SigningKey::from_bytes(&random::<32>());
        let der = key.to_pkcs8_der().expect("der");
        let public = key.verifying_key().to_bytes().to_vec();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&public),
                        "kid": kid, "use": "sig", "alg": "EdDSA"}),
            public,
        }
    }

    /// A fresh P-256 key.
    pub fn p256(kid: &str) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePrivateKey;
        let secret = loop {
            if let Ok(s) = p256::SecretKey::from_slice(&random::<32>()) {
                break s;
            }
        };
        let der = secret.to_pkcs8_der().expect("der");
        let point = secret.public_key().to_encoded_point(false);
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({"kty": "EC", "crv": "P-256",
                        "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
                        "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
                        "kid": kid, "use": "sig", "alg": "ES256"}),
            public: point.as_bytes().to_vec(),
        }
    }

    /// Signs `claims` with this key, naming its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Signs `claims` with this key under another `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    /// The key-confusion forgery: an HS256 token keyed with this key's public bytes.
    pub fn hs256_with_public_key(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&self.public))
            .expect("sign")
    }
}

/// An unsigned token (`alg: none`).
pub fn unsigned(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The YAML of one trusted issuer for these tests: roles from `groups`, scopes from `scope`,
/// `department` (string) and `clearance` (number) from their claims; `extra` is appended
/// (e.g. `min_refresh_interval_secs: 0`).
pub fn issuer_yaml(alias: &str, url: &str, algorithms: &str, extra: &str) -> String {
    format!(
        "- alias: {alias}
  issuer: {url}
  audiences: [warden-api]
  algorithms: [{algorithms}]
  roles_claim: groups
  attribute_claims:
    department: {{claim: department, type: string}}
    clearance: {{claim: clearance, type: number}}
  tenant_claim: org_id
{extra}"
    )
}

/// The real OpenID Connect provider of `tests/oidc/provider.mjs` (panva/oidc-provider under
/// Node), on a free loopback port; killed when dropped.
pub struct RealProvider {
    pub issuer: String,
    child: std::process::Child,
    // Held open: the provider's stdout stays a live pipe while it runs.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for RealProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client `provider.mjs` registers.
pub const CLIENT: &str = "client_id=warden-test&client_secret=warden-test-secret";

impl RealProvider {
    /// Starts the provider; None (after printing why) when Node or the package's
    /// `node_modules` (`npm ci` in tests/oidc) is missing outside CI; a panic in CI (`CI` set),
    /// so a missing provider never passes silently there.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        use std::io::BufRead;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        let missing = if !dir.join("node_modules/oidc-provider").is_dir() {
            Some("tests/oidc/node_modules is missing: run `npm ci` in tests/oidc")
        } else if std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
        {
            Some("node is not installed")
        } else {
            None
        };
        if let Some(why) = missing {
            if std::env::var_os("CI").is_some() {
                panic!("{test} needs the OIDC provider: {why}");
            }
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
        let mut child = std::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("PORT", "0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start node tests/oidc/provider.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(stdout);
        stdout
            .read_line(&mut line)
            .expect("the provider prints its issuer");
        let issuer = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["issuer"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("provider.mjs printed {line:?}"));
        Some(Self {
            issuer,
            child,
            _stdout: stdout,
        })
    }

    /// An access token from the token endpoint for `form` (plus the client's credentials).
    pub async fn token(&self, form: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{form}&{CLIENT}"))
            .send()
            .await
            .expect("token request");
        let body: Value = res.json().await.expect("token response");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {body}"))
            .to_owned()
    }
}
