//! Service accounts' credentials and the OAuth2 `client_credentials` grant (RFC 6749 §4.4),
//! with the password grant's defences: throttled per (client id, address) and per address
//! before the secret is checked, and exactly one argon2 verification whatever is wrong (an
//! unknown client id, an unknown or expired secret, a malformed one, a disabled account), so
//! neither the answer nor its time tells which.
//!
//! A client id is `svc-` and 32 hex digits (public). A secret is `wsec_<id>.<random>`: 256
//! random bits (base64url) after the id of its stored row, which locates the one hash to
//! verify (an account has up to two working secrets during a rotation's overlap).

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use super::password::{HashError, Hasher};
use super::sessions::{GrantError, Grants, granted_scope, tenant_of};
use super::tokens::{IssueError, TokenResponse, access_token_until, random_token};
use crate::policy::username::Username;
use crate::store::{self, service_accounts::SID_PREFIX};

/// What every client id starts with.
pub const CLIENT_ID_PREFIX: &str = "svc-";
/// What every secret starts with (so secret scanners and people recognise one).
pub const SECRET_PREFIX: &str = "wsec_";
/// Random bytes in a secret: 256 bits.
pub const SECRET_RANDOM_BYTES: usize = 32;
/// Longest client id or secret looked at (Warden's are 36 and under 70 characters).
pub const MAX_CREDENTIAL_BYTES: usize = 256;

/// The one answer to every failed client authentication.
const BAD_CLIENT: &str = "client authentication failed";

/// A new client id: `svc-` and 128 random bits in hex.
pub fn new_client_id() -> Result<String, IssueError> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).map_err(|e| IssueError::Random(e.to_string()))?;
    Ok(format!("{CLIENT_ID_PREFIX}{}", hex::encode(buf)))
}

/// A secret made but not yet stored: its random part (never printed) and that part's hash.
pub struct NewSecret {
    random: SecretString,
    /// argon2id PHC string of the random part: what is stored.
    pub hash: String,
}

impl fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewSecret(..)")
    }
}

/// Why a secret could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No randomness.
    #[error(transparent)]
    Random(#[from] IssueError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl NewSecret {
    /// 256 random bits, hashed off the runtime.
    pub async fn generate(hasher: &Hasher) -> Result<Self, SecretError> {
        let random = random_token(SECRET_RANDOM_BYTES)?;
        let hash = hasher.hash(random.clone()).await?;
        Ok(Self {
            random: random.into(),
            hash,
        })
    }

    /// The secret as its holder presents it, once stored as row `id`: shown once, never kept.
    pub fn reveal(&self, id: i64) -> SecretString {
        format!("{SECRET_PREFIX}{id}.{}", self.random.expose_secret()).into()
    }
}

/// A presented secret's row id and random part; None when it has not the shape of one.
fn parse_secret(secret: &str) -> Option<(i64, &str)> {
    let (id, random) = secret.strip_prefix(SECRET_PREFIX)?.split_once('.')?;
    if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id.parse().ok()?, random))
}

/// A client id and secret, as presented.
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The secret (never printed).
    pub secret: SecretString,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte); None
/// when an escape is malformed or the result is not UTF-8.
fn form_urldecode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = (bytes.next()? as char).to_digit(16)?;
                let lo = (bytes.next()? as char).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

impl ClientCredentials {
    /// Reads `client_secret_basic` credentials from an `Authorization` value (`Basic ...`):
    /// base64 of the form-urlencoded client id, `:`, the form-urlencoded secret (RFC 6749
    /// §2.3.1). None when the value is not Basic at all; `invalid_client` when it is Basic but
    /// malformed.
    pub fn from_basic(value: &str) -> Option<Result<Self, GrantError>> {
        let (scheme, rest) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let bad = || GrantError::InvalidClient("the Basic credentials are malformed");
        let parsed = (|| {
            let rest = rest.trim();
            if rest.len() > 4 * MAX_CREDENTIAL_BYTES {
                return None;
            }
            let decoded = String::from_utf8(STANDARD.decode(rest).ok()?).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            Some(Self {
                client_id: form_urldecode(id)?,
                secret: form_urldecode(secret)?.into(),
            })
        })();
        Some(parsed.ok_or_else(bad))
    }
}

/// The client_credentials grant: an access token for the service account `creds` names,
/// with at most its scopes (a requested `scope` narrows them), sid `svc:<secret id>`, and no
/// refresh token (RFC 6749 §4.4.3). A token obtained with a secret in its rotation overlap
/// expires with the overlap. The token's tenant is chosen as for the password grant
/// ([`tenant_of`]: the one asked for if the account is a member, `not_a_member` otherwise),
/// once the secret is verified, so a wrong secret learns nothing about tenants.
pub async fn client_credentials(
    g: &Grants<'_>,
    creds: ClientCredentials,
    scope: Option<&str>,
    tenant: Option<&str>,
    client: Option<IpAddr>,
) -> Result<TokenResponse, GrantError> {
    let now = g.issuer.now;
    let id = Some(creds.client_id.as_str())
        .filter(|c| c.len() <= MAX_CREDENTIAL_BYTES)
        .and_then(|c| Username::parse(c).ok());
    let attempt = match g.limiter.begin_login(id.as_ref(), client, now) {
        Ok(a) => a,
        Err(retry_after) => {
            tracing::warn!(
                event = "client_credentials_throttled",
                client_id = id.as_ref().map(|n| n.as_str()),
                client = ?client,
                retry_after,
                "client_credentials throttled"
            );
            return Err(GrantError::Throttled(retry_after));
        }
    };
    let presented = creds.secret.expose_secret();
    let parsed = Some(presented)
        .filter(|s| s.len() <= MAX_CREDENTIAL_BYTES)
        .and_then(parse_secret);
    let found = match (&id, parsed) {
        (Some(id), Some((secret_id, _))) => {
            store::service_accounts::find_for_grant(g.issuer.db, id.as_str(), secret_id, now)
                .await?
        }
        _ => None,
    };
    // Exactly one verification on every path: the stored hash, or the dummy one.
    let random = parsed.map_or(presented, |(_, r)| r).to_owned();
    let verified = g
        .hasher
        .verify(random.into(), found.as_ref().map(|(_, s)| s.hash.clone()))
        .await?;
    let Some((user, secret)) = found.filter(|(u, _)| verified && !u.disabled) else {
        return Err(GrantError::InvalidClient(BAD_CLIENT));
    };
    g.limiter.login_succeeded(attempt);
    let scope = granted_scope(scope, &user.scopes)?;
    let tenant = tenant_of(g.issuer.db, user.id, tenant).await?;
    let not_after = secret.expires_at.unwrap_or(i64::MAX);
    let sid = format!("{SID_PREFIX}{}", secret.id);
    let access_token = access_token_until(
        &g.issuer,
        &user,
        &scope,
        user.token_generation,
        &sid,
        &tenant,
        not_after,
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: g.issuer.lifetimes.access.min(not_after - now),
        refresh_token: None,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_into_their_row_id_and_random_part() {
        assert_eq!(parse_secret("wsec_12.abc-_x"), Some((12, "abc-_x")));
        for bad in [
            "",
            "wsec_",
            "wsec_.abc",
            "wsec_x.abc",
            "wsec_12abc",
            "sec_12.abc",
            "wsec_-1.abc",
            "wsec_+1.abc",
            "wsec_99999999999999999999.abc",
        ] {
            assert_eq!(parse_secret(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_new_secret_is_256_random_bits_and_verifies_only_against_its_hash() {
        let hasher = Hasher::new(1).await.expect("hasher");
        let s = NewSecret::generate(&hasher).await.expect("secret");
        let shown = s.reveal(7);
        let (id, random) = parse_secret(shown.expose_secret()).expect("shape");
        assert_eq!(id, 7);
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(random)
            .expect("base64url");
        assert_eq!(bytes.len(), 32);
        assert!(!s.hash.contains(random));
        assert!(!format!("{s:?}").contains(random));
        let ok = hasher.verify(random.to_owned().into(), Some(s.hash.clone()));
        assert!(ok.await.expect("verify"));
        let other = NewSecret::generate(&hasher).await.expect("secret");
        let wrong = hasher.verify(random.to_owned().into(), Some(other.hash));
        assert!(!wrong.await.expect("verify"));
    }

    #[test]
    fn basic_credentials_are_form_urldecoded_after_base64() {
        let basic = |raw: &str| format!("Basic {}", STANDARD.encode(raw));
        let c = ClientCredentials::from_basic(&basic("svc-1:a%3Ab+c%25"))
            .expect("basic")
            .expect("valid");
        assert_eq!(c.client_id, "svc-1");
        assert_eq!(c.secret.expose_secret(), "a:b c%");
        let c = ClientCredentials::from_basic(&basic("svc-1:x:y"))
            .expect("basic")
            .expect("valid");
        assert_eq!(c.secret.expose_secret(), "x:y", "split at the first colon");
        assert!(!format!("{c:?}").contains("x:y"));
        assert!(ClientCredentials::from_basic("Bearer abc").is_none());
        for bad in [
            "Basic !!!".to_owned(),
            basic("no-colon"),
            basic("svc-1:%zz"),
            basic("svc-1:%e9"),
            format!("Basic {}", "A".repeat(2000)),
        ] {
            assert!(
                matches!(
                    ClientCredentials::from_basic(&bad),
                    Some(Err(GrantError::InvalidClient(_)))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn client_ids_are_valid_usernames_so_logins_throttle_them() {
        let id = new_client_id().expect("id");
        assert!(id.starts_with(CLIENT_ID_PREFIX) && id.len() == 36, "{id}");
        assert!(Username::parse(&id).is_ok());
        assert_ne!(id, new_client_id().expect("id"));
    }
}
