//! `--oidc-config FILE`: the trusted issuers, parsed and validated once at start.
//!
//! The file is a YAML list; each entry names one issuer and how its claims map onto a Warden
//! subject. Unknown keys are refused (a misspelled `audience` must not silently accept every
//! audience), and so are algorithms that cannot be safe here: `none` and the HMAC family (an
//! HMAC "verified" with an issuer's public key is the classic key-confusion forgery).

use std::collections::BTreeMap;

use serde::Deserialize;

/// Longest clock skew an issuer may be given, in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// Default [`IssuerConfig::max_token_age_secs`]: an hour.
pub const DEFAULT_MAX_TOKEN_AGE_SECS: i64 = 3600;

/// One trusted issuer as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    alias: String,
    issuer: String,
    audiences: Vec<String>,
    #[serde(default = "default_algorithms")]
    algorithms: Vec<String>,
    #[serde(default = "default_subject_claim")]
    subject_claim: String,
    #[serde(default)]
    roles_claim: Option<String>,
    #[serde(default)]
    role_map: BTreeMap<String, String>,
    #[serde(default = "default_scopes_claim")]
    scopes_claim: String,
    #[serde(default)]
    attribute_claims: BTreeMap<String, RawAttribute>,
    #[serde(default)]
    tenant_claim: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    provision: Provision,
    #[serde(default = "default_max_age")]
    max_token_age_secs: i64,
    #[serde(default = "default_skew")]
    clock_skew_secs: i64,
    #[serde(default = "default_refresh")]
    refresh_interval_secs: u64,
    #[serde(default = "default_min_refresh")]
    min_refresh_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribute {
    claim: String,
    #[serde(rename = "type")]
    kind: AttributeType,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_subject_claim() -> String {
    "sub".into()
}
fn default_scopes_claim() -> String {
    "scope".into()
}
fn default_max_age() -> i64 {
    DEFAULT_MAX_TOKEN_AGE_SECS
}
fn default_skew() -> i64 {
    30
}
fn default_refresh() -> u64 {
    300
}
fn default_min_refresh() -> u64 {
    10
}

/// The type an attribute claim must have; a value of another type leaves the attribute
/// absent (a condition on it cannot be evaluated, so it grants nothing), never coerced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    /// A JSON string.
    String,
    /// A JSON integer that fits 32 bits.
    Number,
    /// A JSON boolean.
    Bool,
    /// A JSON array of strings.
    List,
}

/// What happens the first time a subject of this issuer is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provision {
    /// Nothing: the token carries everything.
    #[default]
    None,
    /// A local account is created and linked, so admins can add roles and attributes.
    Link,
}

/// A signature algorithm an issuer may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            "none" => Err("`none` is never accepted: an unsigned token proves nothing".into()),
            s if s.starts_with("HS") => Err(format!(
                "`{s}` is never accepted: an HMAC keyed with an issuer's public key can be \
                 forged by anyone"
            )),
            s => Err(format!("`{s}` is not supported (RS256, ES256 or EdDSA)")),
        }
    }

    /// The `jsonwebtoken` algorithm.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// One attribute taken from a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeClaim {
    /// Dotted claim path (`department`, `https://example.com/clearance` is one key).
    pub claim: String,
    /// The type the value must have.
    pub kind: AttributeType,
}

/// Where a federated principal's tenant comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSource {
    /// No tenant.
    None,
    /// A claim (`org_id`).
    Claim(String),
    /// The same tenant for every subject of the issuer.
    Fixed(String),
}

/// A validated trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// Short name: the namespace of its subjects (`user:<alias>:<sub>`) and its metrics label.
    pub alias: String,
    /// The `iss` its tokens carry, compared byte for byte; discovery is read under it.
    pub issuer: String,
    /// Accepted `aud` values (any one).
    pub audiences: Vec<String>,
    /// Accepted signature algorithms.
    pub algorithms: Vec<Alg>,
    /// The claim naming the subject.
    pub subject_claim: String,
    /// The claim listing roles, if any.
    pub roles_claim: Option<String>,
    /// Claim value -> policy role name (values not in it are used as they are).
    pub role_map: BTreeMap<String, String>,
    /// The claim listing scopes.
    pub scopes_claim: String,
    /// Attribute name -> claim.
    pub attribute_claims: BTreeMap<String, AttributeClaim>,
    /// The tenant.
    pub tenant: TenantSource,
    /// First-use behaviour.
    pub provision: Provision,
    /// Tokens issued longer ago than this are refused, whatever their `exp`.
    pub max_token_age_secs: i64,
    /// Tolerated clock difference on `exp`, `nbf` and `iat`.
    pub clock_skew_secs: i64,
    /// How often the JWKS is read again.
    pub refresh_interval_secs: u64,
    /// The least time between two reads of the JWKS (an unknown `kid` asks for one).
    pub min_refresh_interval_secs: u64,
}

/// Why the OIDC configuration was refused: the message names the issuer and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FederationConfigError(pub String);

/// Claim names Warden sets itself on every subject: an attribute may not take them.
const RESERVED_ATTRIBUTES: &[&str] = &["kind", "name", "principal", "scopes", "resource"];

fn valid_alias(a: &str) -> bool {
    (1..=32).contains(&a.len())
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether an issuer URL may be used: `https://`, or `http://` to a loopback host (a
/// development or test provider). Anything else would fetch keys over a network an attacker
/// can write to.
pub fn acceptable_issuer_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    if u.query().is_some() || u.fragment().is_some() || u.host_str().is_none() {
        return false;
    }
    match u.scheme() {
        "https" => true,
        "http" => u.host_str().is_some_and(|h| {
            h == "localhost"
                || h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }),
        _ => false,
    }
}

/// Parses and validates the file's text. `own_issuer` is Warden's own `iss`, which no
/// trusted issuer may claim.
pub fn parse(text: &str, own_issuer: &str) -> Result<Vec<IssuerConfig>, FederationConfigError> {
    let raw: Vec<RawIssuer> =
        serde_yaml_ng::from_str(text).map_err(|e| FederationConfigError(e.to_string()))?;
    let mut out: Vec<IssuerConfig> = Vec::with_capacity(raw.len());
    for r in raw {
        let issuer = validate(r, own_issuer)?;
        if out.iter().any(|o| o.alias == issuer.alias) {
            return Err(FederationConfigError(format!(
                "alias `{}` is given twice",
                issuer.alias
            )));
        }
        if out.iter().any(|o| o.issuer == issuer.issuer) {
            return Err(FederationConfigError(format!(
                "issuer `{}` is given twice",
                issuer.issuer
            )));
        }
        out.push(issuer);
    }
    Ok(out)
}

fn validate(r: RawIssuer, own_issuer: &str) -> Result<IssuerConfig, FederationConfigError> {
    let err = |what: String| FederationConfigError(format!("issuer `{}`: {what}", r.alias));
    if !valid_alias(&r.alias) {
        return Err(err(
            "alias must be 1-32 characters of a-z, 0-9, '-' and '_'".into(),
        ));
    }
    if !acceptable_issuer_url(&r.issuer) {
        return Err(err(format!(
            "issuer `{}` must be an https:// URL (http:// only to a loopback host), without \
             query or fragment",
            r.issuer
        )));
    }
    if r.issuer == own_issuer {
        return Err(err(
            "issuer is Warden's own --issuer: a trusted issuer must be another service".into(),
        ));
    }
    if r.audiences.is_empty() || r.audiences.iter().any(|a| a.trim().is_empty()) {
        return Err(err(
            "audiences must list at least one non-empty audience".into()
        ));
    }
    if r.algorithms.is_empty() {
        return Err(err("algorithms must list at least one algorithm".into()));
    }
    let algorithms = r
        .algorithms
        .iter()
        .map(|a| Alg::parse(a).map_err(|e| err(format!("algorithms: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    for (key, claim) in [
        ("subject_claim", Some(&r.subject_claim)),
        ("roles_claim", r.roles_claim.as_ref()),
        ("scopes_claim", Some(&r.scopes_claim)),
        ("tenant_claim", r.tenant_claim.as_ref()),
    ] {
        if claim.is_some_and(|c| !valid_claim_path(c)) {
            return Err(err(format!("{key} must be a claim name or dotted path")));
        }
    }
    let mut attribute_claims = BTreeMap::new();
    for (name, a) in r.attribute_claims {
        let ident = (1..=64).contains(&name.len())
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if RESERVED_ATTRIBUTES.contains(&name.as_str()) || !ident {
            return Err(err(format!(
                "attribute_claims: `{name}` is reserved or not an identifier (what a condition \
                 reads as r.sub.<name>)"
            )));
        }
        if !valid_claim_path(&a.claim) {
            return Err(err(format!(
                "attribute_claims.{name}.claim must be a claim name or dotted path"
            )));
        }
        attribute_claims.insert(
            name,
            AttributeClaim {
                claim: a.claim,
                kind: a.kind,
            },
        );
    }
    let tenant = match (r.tenant_claim, r.tenant) {
        (Some(_), Some(_)) => {
            return Err(err("give tenant_claim or a fixed tenant, not both".into()));
        }
        (Some(c), None) => TenantSource::Claim(c),
        (None, Some(t)) if !t.trim().is_empty() => TenantSource::Fixed(t),
        (None, Some(_)) => return Err(err("tenant must not be empty".into())),
        (None, None) => TenantSource::None,
    };
    if !(60..=30 * 86_400).contains(&r.max_token_age_secs) {
        return Err(err(
            "max_token_age_secs must be between 60 and 2592000".into()
        ));
    }
    if !(0..=MAX_CLOCK_SKEW_SECS).contains(&r.clock_skew_secs) {
        return Err(err(format!(
            "clock_skew_secs must be between 0 and {MAX_CLOCK_SKEW_SECS}"
        )));
    }
    if !(1..=86_400).contains(&r.refresh_interval_secs) {
        return Err(err(
            "refresh_interval_secs must be between 1 and 86400".into()
        ));
    }
    if r.min_refresh_interval_secs > r.refresh_interval_secs {
        return Err(err(
            "min_refresh_interval_secs must not exceed refresh_interval_secs".into(),
        ));
    }
    Ok(IssuerConfig {
        alias: r.alias,
        issuer: r.issuer,
        audiences: r.audiences,
        algorithms,
        subject_claim: r.subject_claim,
        roles_claim: r.roles_claim,
        role_map: r.role_map,
        scopes_claim: r.scopes_claim,
        attribute_claims,
        tenant,
        provision: r.provision,
        max_token_age_secs: r.max_token_age_secs,
        clock_skew_secs: r.clock_skew_secs,
        refresh_interval_secs: r.refresh_interval_secs,
        min_refresh_interval_secs: r.min_refresh_interval_secs,
    })
}

fn valid_claim_path(p: &str) -> bool {
    !p.is_empty() && p.len() <= 256 && p.split('.').all(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
- alias: corp
  issuer: https://idp.example.com/realms/corp
  audiences: [warden]
  algorithms: [RS256, ES256]
  roles_claim: realm_access.roles
  attribute_claims:
    department: {claim: department, type: string}
    clearance: {claim: clearance, type: number}
  tenant_claim: org_id
";

    fn refused(text: &str) -> String {
        parse(text, "warden").expect_err("refused").0
    }

    #[test]
    fn a_complete_issuer_parses_with_its_defaults() {
        let list = parse(GOOD, "warden").expect("valid");
        assert_eq!(list.len(), 1);
        let i = &list[0];
        assert_eq!(i.algorithms, vec![Alg::Rs256, Alg::Es256]);
        assert_eq!(i.subject_claim, "sub");
        assert_eq!(i.scopes_claim, "scope");
        assert_eq!(i.provision, Provision::None);
        assert_eq!(i.max_token_age_secs, DEFAULT_MAX_TOKEN_AGE_SECS);
        assert_eq!(i.tenant, TenantSource::Claim("org_id".into()));
        assert_eq!(i.attribute_claims["clearance"].kind, AttributeType::Number);
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let e = refused(&GOOD.replace("audiences:", "audience:"));
        assert!(e.contains("audience"), "{e}");
        let e = refused(&GOOD.replace("type: string", "type: string, default: x"));
        assert!(e.contains("default"), "{e}");
    }

    #[test]
    fn none_and_hmac_algorithms_are_refused_at_start() {
        for alg in ["none", "HS256", "HS512", "PS999"] {
            let e = refused(&GOOD.replace("[RS256, ES256]", &format!("[{alg}]")));
            assert!(e.contains(alg), "{alg}: {e}");
        }
    }

    #[test]
    fn issuer_urls_must_be_https_or_loopback_http() {
        for (url, ok) in [
            ("https://idp.example.com", true),
            ("http://127.0.0.1:8080/x", true),
            ("http://localhost:9000", true),
            ("http://[::1]:9000", true),
            ("http://idp.example.com", false),
            ("ftp://idp.example.com", false),
            ("https://idp.example.com/?a=b", false),
            ("not a url", false),
        ] {
            assert_eq!(acceptable_issuer_url(url), ok, "{url}");
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_issuer_and_key() {
        for (from, to, key) in [
            ("audiences: [warden]", "audiences: []", "audiences"),
            ("alias: corp", "alias: Corp!", "alias"),
            (
                "tenant_claim: org_id",
                "tenant_claim: org_id\n  tenant: t1",
                "tenant",
            ),
            ("department: {", "kind: {", "reserved"),
            (
                "issuer: https://idp.example.com/realms/corp",
                "issuer: warden",
                "issuer",
            ),
        ] {
            let e = refused(&GOOD.replace(from, to));
            assert!(e.contains(key), "{to}: {e}");
        }
        let twice = format!("{GOOD}{}", GOOD.replace("alias: corp", "alias: other"));
        assert!(refused(&twice).contains("twice"));
        assert!(
            parse(
                &GOOD.replace("https://idp.example.com/realms/corp", "https://w"),
                "https://w"
            )
            .is_err(),
            "Warden's own issuer cannot be trusted as an external one"
        );
    }
}
