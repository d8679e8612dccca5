//! A verified token's claims -> who the caller is to the policy: subject, roles, scopes,
//! typed attributes and tenant, as the issuer's configuration says.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::config::{AttributeType, IssuerConfig, TenantSource};
use crate::policy::AttrValue;

/// A federated caller, as their token describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The issuer's alias.
    pub issuer: String,
    /// The issuer's URL (the token's `iss`).
    pub issuer_url: String,
    /// The subject claim's value, as the issuer spelled it.
    pub subject: String,
    /// Roles named by the roles claim, after `role_map`, as `role:<name>`. Whether the
    /// policy knows them is decided per request; unknown ones grant nothing.
    pub roles: Vec<String>,
    /// Scopes the token grants.
    pub scopes: Vec<String>,
    /// Attributes whose claims have the configured type (others are absent).
    pub attributes: BTreeMap<String, AttrValue>,
    /// The tenant, from the claim or the issuer's fixed tenant.
    pub tenant: Option<String>,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// The issuer links its subjects to local accounts (`provision: link`).
    pub link: bool,
}

impl Identity {
    /// The policy name of this caller when no local account is linked: `<alias>:<sub>`. A
    /// local username can never contain `:`, so no local account is ever this principal.
    pub fn principal_name(&self) -> String {
        format!("{}:{}", self.issuer, self.subject)
    }

    /// The name of the local account a linked subject gets: `<alias>.<sub>` when the subject
    /// is already a lower-case username (`corp.alice`), else `<alias>.<16 hex digits of the
    /// subject's SHA-256>` (an `auth0|…` or e-mail subject, or one differing only in case).
    /// Linking looks accounts up by (issuer, subject), never by this name.
    pub fn local_username(&self) -> String {
        use sha2::Digest as _;
        let plain = format!("{}.{}", self.issuer, self.subject);
        let clean = self.subject.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        if clean && plain.len() <= 64 {
            return plain;
        }
        let digest = sha2::Sha256::digest(self.subject.as_bytes());
        format!("{}.{}", self.issuer, &hex::encode(digest)[..16])
    }
}

/// The claim at a dotted path (`realm_access.roles`). A key that itself contains dots (an
/// Auth0 namespaced claim such as `https://example.com/roles`) is tried whole first.
pub fn claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut v = claims.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// A list of strings from an array of strings or a space-separated string. None when the
/// claim has another type (or an element is not a string).
fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

fn typed(v: &Value, kind: AttributeType) -> Option<AttrValue> {
    match (kind, v) {
        (AttributeType::String, Value::String(s)) => Some(AttrValue::Str(s.clone())),
        (AttributeType::Number, Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(AttrValue::Int),
        (AttributeType::Bool, Value::Bool(b)) => Some(AttrValue::Bool(*b)),
        (AttributeType::List, Value::Array(_)) => string_list(v).map(AttrValue::List),
        _ => None,
    }
}

/// Longest subject, role or scope value taken from a token.
pub const MAX_VALUE_LEN: usize = 255;
/// Most roles or scopes taken from a token.
pub const MAX_VALUES: usize = 256;

/// Maps verified claims. Err (the token is refused) when the subject claim is missing or not
/// a short string, or the roles or scopes claim has a type that is not a list of strings.
/// An attribute of the wrong type is left out, never coerced.
pub fn map(
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
    expires_at: i64,
    issued_at: i64,
) -> Result<Identity, String> {
    let subject = claim(claims, &cfg.subject_claim)
        .and_then(Value::as_str)
        .filter(|s| is_subject(s))
        .ok_or_else(|| format!("the token's `{}` claim is not a subject", cfg.subject_claim))?
        .to_owned();
    map_for(cfg, subject, claims, expires_at, issued_at)
}

/// Whether `s` can be a federated subject: 1-255 characters, no control characters.
pub fn is_subject(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_VALUE_LEN && !s.chars().any(char::is_control)
}

/// Maps the claims of `subject` (whose own claim [`map`] has read, or a caller named):
/// roles, scopes, typed attributes and the tenant, exactly as a token of the issuer carrying
/// `claims` gets them. Err when the roles or scopes claim is not a list of names.
pub fn map_for(
    cfg: &IssuerConfig,
    subject: String,
    claims: &Map<String, Value>,
    expires_at: i64,
    issued_at: i64,
) -> Result<Identity, String> {
    let list = |path: &str| -> Result<Vec<String>, String> {
        match claim(claims, path) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => string_list(v)
                .filter(|l| l.len() <= MAX_VALUES && l.iter().all(|s| s.len() <= MAX_VALUE_LEN))
                .ok_or_else(|| format!("the token's `{path}` claim is not a list of names")),
        }
    };
    let mut roles: Vec<String> = match &cfg.roles_claim {
        Some(path) => list(path)?
            .into_iter()
            .map(|r| format!("role:{}", cfg.role_map.get(&r).unwrap_or(&r)))
            .collect(),
        None => Vec::new(),
    };
    roles.sort();
    roles.dedup();
    let mut scopes = list(&cfg.scopes_claim)?;
    // `scp` (Entra ID, Okta) and `permissions` (Auth0) are the other common spellings; they
    // count only when the configured claim is absent.
    if claim(claims, &cfg.scopes_claim).is_none() {
        for alt in ["scp", "permissions"] {
            if claim(claims, alt).is_some() {
                scopes = list(alt)?;
                break;
            }
        }
    }
    scopes.sort();
    scopes.dedup();
    let mut attributes = BTreeMap::new();
    for (name, a) in &cfg.attribute_claims {
        match claim(claims, &a.claim).map(|v| (v, typed(v, a.kind))) {
            Some((_, Some(value))) => {
                attributes.insert(name.clone(), value);
            }
            Some((v, None)) => tracing::info!(
                issuer = %cfg.alias, attribute = %name, found = %json_type(v),
                "claim has the wrong type; the attribute is left out"
            ),
            None => {}
        }
    }
    let tenant = match &cfg.tenant {
        TenantSource::None => None,
        TenantSource::Fixed(t) => Some(t.clone()),
        TenantSource::Claim(path) => claim(claims, path)
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    Ok(Identity {
        link: cfg.provision == super::config::Provision::Link,
        issuer: cfg.alias.clone(),
        issuer_url: cfg.issuer.clone(),
        subject,
        roles,
        scopes,
        attributes,
        tenant,
        expires_at,
        issued_at,
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> IssuerConfig {
        super::super::config::parse(
            "
- alias: kc
  issuer: https://kc.example.com/realms/r
  audiences: [warden]
  roles_claim: realm_access.roles
  role_map: {realm-admin: admin}
  attribute_claims:
    department: {claim: department, type: string}
    clearance: {claim: clearance, type: number}
    groups: {claim: groups, type: list}
  tenant_claim: org.id
",
            "warden",
        )
        .expect("config")
        .remove(0)
    }

    fn mapped(claims: Value) -> Result<Identity, String> {
        let Value::Object(m) = claims else {
            panic!("object")
        };
        map(&cfg(), &m, 100, 0)
    }

    #[test]
    fn nested_roles_are_mapped_and_renamed() {
        let id = mapped(json!({"sub": "42", "realm_access": {"roles": ["realm-admin", "editor"]}}))
            .expect("mapped");
        assert_eq!(id.roles, vec!["role:admin", "role:editor"]);
        assert_eq!(id.principal_name(), "kc:42");
    }

    #[test]
    fn scopes_come_from_scope_then_scp_then_permissions() {
        for (claims, want) in [
            (
                json!({"sub": "1", "scope": "read write"}),
                vec!["read", "write"],
            ),
            (json!({"sub": "1", "scp": ["read"]}), vec!["read"]),
            (
                json!({"sub": "1", "permissions": ["docs:read"]}),
                vec!["docs:read"],
            ),
            (
                json!({"sub": "1", "scope": "a", "permissions": ["b"]}),
                vec!["a"],
            ),
        ] {
            assert_eq!(
                mapped(claims.clone()).expect("mapped").scopes,
                want,
                "{claims}"
            );
        }
    }

    #[test]
    fn a_string_where_a_number_is_expected_is_not_a_number() {
        let id = mapped(json!({"sub": "1", "clearance": "3", "department": 7})).expect("mapped");
        assert!(id.attributes.is_empty(), "{:?}", id.attributes);
        let id = mapped(json!({"sub": "1", "clearance": 3, "department": "eng", "groups": ["a"]}))
            .expect("mapped");
        assert_eq!(id.attributes["clearance"], AttrValue::Int(3));
        assert_eq!(id.attributes["department"], AttrValue::Str("eng".into()));
        assert_eq!(id.attributes["groups"], AttrValue::List(vec!["a".into()]));
    }

    #[test]
    fn claims_of_the_wrong_type_refuse_the_token_where_they_name_the_caller() {
        for claims in [
            json!({"sub": 42}),
            json!({}),
            json!({"sub": ""}),
            json!({"sub": "1", "realm_access": {"roles": "x"}, "scope": 5}),
            json!({"sub": "1", "realm_access": {"roles": [1, 2]}}),
        ] {
            assert!(mapped(claims.clone()).is_err(), "{claims}");
        }
    }

    #[test]
    fn a_linked_account_name_is_the_subject_when_it_is_a_username_else_its_hash() {
        let named = |sub: &str| {
            mapped(json!({"sub": sub}))
                .expect("mapped")
                .local_username()
        };
        assert_eq!(named("alice"), "kc.alice");
        for odd in ["auth0|5f1c", "Alice", "a@b.example", &"x".repeat(80)] {
            let n = named(odd);
            assert!(n.starts_with("kc.") && n.len() == 19, "{odd}: {n}");
            assert!(crate::policy::username::Username::parse(&n).is_ok(), "{n}");
        }
        assert_ne!(
            named("Alice"),
            named("alice"),
            "case is not folded into one account"
        );
    }

    #[test]
    fn the_tenant_comes_from_its_claim() {
        let id = mapped(json!({"sub": "1", "org": {"id": "acme"}})).expect("mapped");
        assert_eq!(id.tenant.as_deref(), Some("acme"));
    }
}
