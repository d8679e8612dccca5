//! Policy rows as validated types (pure: no storage, no HTTP). A [`Rule`] can always be evaluated: its subject, object
//! pattern, action, scope, condition and effect were checked when it was parsed, so a row
//! that would make casbin panic (bad pattern) or hang (arbitrary script) never loads.

use std::fmt;

use super::condition::{Condition, ConditionError};

/// Allow or deny.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Grants access unless a deny also matches.
    Allow,
    /// Overrides every allow.
    Deny,
}

impl Effect {
    /// The casbin text.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// Why a row was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The subject is not `role:<name>` or `user:<name>`.
    #[error(
        "subject `{0}` must be role:<name>, user:<name> (a lower-case username) or * (everyone)"
    )]
    Subject(String),
    /// The object pattern is invalid.
    #[error("object `{0}`: {1}")]
    Object(String, &'static str),
    /// The action is invalid.
    #[error("action `{0}` must be `*` or 1-32 characters of [A-Za-z0-9_:-]")]
    Action(String),
    /// The scope is invalid.
    #[error("scope `{0}` must be `*` or a valid scope")]
    Scope(String),
    /// The condition does not parse.
    #[error("condition: {0}")]
    Condition(#[from] ConditionError),
    /// The effect is neither allow nor deny.
    #[error("effect `{0}` must be allow or deny")]
    Effect(String),
    /// The tenant (domain) is not `*` or a tenant name.
    #[error("tenant `{0}` must be `*` or 1-63 characters of [a-z0-9-]")]
    Tenant(String),
}

impl RuleError {
    /// The rule column at fault (`subject`, `object`, `action`, `scope`, `condition`,
    /// `effect`), so a form can show the error at its field.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Subject(_) => "subject",
            Self::Object(..) => "object",
            Self::Action(_) => "action",
            Self::Scope(_) => "scope",
            Self::Condition(_) => "condition",
            Self::Effect(_) => "effect",
            Self::Tenant(_) => "tenant",
        }
    }

    /// What is wrong, without the field name (a condition error keeps its column).
    pub fn problem(&self) -> String {
        match self {
            Self::Condition(e) => e.to_string(),
            other => other.to_string(),
        }
    }

    /// For a condition error: the 1-based column in the condition text.
    pub fn column(&self) -> Option<usize> {
        match self {
            Self::Condition(e) => e.column(),
            _ => None,
        }
    }
}

/// A validated `p` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable id (0 for a rule not stored yet).
    pub id: i64,
    /// `role:<name>` or `user:<name>`.
    pub subject: String,
    /// Route pattern (`/api/documents/:id`, `/v1/admin/*`), resource type (`document`) or `*`.
    pub object: String,
    /// Action (`GET`, `read`, ...) or `*`.
    pub action: String,
    /// Required token scope or `*`.
    pub scope: String,
    /// Condition over `r.sub.*` / `r.obj.*`.
    pub condition: Condition,
    /// Effect.
    pub effect: Effect,
    /// The tenant (Casbin domain) the rule applies in: [`GLOBAL`] (`*`, every tenant) or a
    /// tenant name ([`parse_tenant`]).
    pub tenant: String,
}

/// The domain of a global rule or role assignment: it applies in every tenant.
pub const GLOBAL: &str = "*";

/// The tenant that today's single-tenant data lives in, and that a token without a tenant
/// is decided in.
pub const DEFAULT_TENANT: &str = "default";

/// Checks a tenant name: `[a-z0-9-]{1,63}`.
pub fn parse_tenant(s: &str) -> Result<&str, RuleError> {
    if s.is_empty()
        || s.len() > 63
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(RuleError::Tenant(s.into()));
    }
    Ok(s)
}

/// Checks a rule's or assignment's domain: [`GLOBAL`] or a tenant name.
pub fn parse_domain(s: &str) -> Result<&str, RuleError> {
    if s == GLOBAL {
        return Ok(s);
    }
    parse_tenant(s)
}

/// The domain a role assignment written before tenants existed moves into, so that it keeps
/// meaning exactly what it meant: role inheritance (`role:a -> role:b`) and the installation's
/// `role:admin` hold in every tenant; any other membership (`user:alice -> role:editor`) was a
/// role in the only tenant there was, [`DEFAULT_TENANT`]. The migrations state the same rule
/// in SQL.
pub fn legacy_domain(member: &str, role: &str) -> &'static str {
    if member.starts_with("role:") || role == "role:admin" {
        GLOBAL
    } else {
        DEFAULT_TENANT
    }
}

pub(crate) fn is_global(s: &str) -> bool {
    s == GLOBAL
}

pub(crate) fn global() -> String {
    GLOBAL.to_owned()
}

/// A rule as text: its columns as stored (the `policy_rules` row), as written into version
/// snapshots and audit entries, and as shown by the admin API. Not validated: [`Rule::from_text`]
/// is the only way to a [`Rule`]. An id of 0 means "not stored yet". The JSON field names and
/// order are a stored format (snapshots and audit rows of existing databases): do not change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RuleText {
    /// Stable id.
    #[serde(default)]
    #[schema(required = true)]
    pub id: i64,
    /// `role:<name>`, `user:<name>` or `*`.
    pub subject: String,
    /// Route pattern, resource type or `*`.
    pub object: String,
    /// Action or `*`.
    pub action: String,
    /// Required scope or `*`.
    pub scope: String,
    /// Condition text ("" = always).
    pub condition: String,
    /// `allow` or `deny` (text, so that a stored row is read before it is validated; every
    /// rule the API shows comes from a validated [`Rule`]).
    #[schema(value_type = Effect)]
    pub effect: String,
    /// The tenant the rule applies in, or `*` (every tenant; the default, and omitted from
    /// the stored form so rows written before tenants read back unchanged).
    #[serde(default = "global", skip_serializing_if = "is_global")]
    #[schema(default = "*")]
    pub tenant: String,
}

/// A character of a role, user or matrix name: `[A-Za-z0-9._-]`.
pub fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Checks `role:<name>` / `user:<name>`. A user is named by its lower-cased username, the
/// form the policy sees: `user:Alice` would never match anybody.
pub fn parse_subject(s: &str) -> Result<&str, RuleError> {
    let (name, user) = match (s.strip_prefix("role:"), s.strip_prefix("user:")) {
        (Some(n), _) => (n, false),
        (None, Some(n)) => (n, true),
        (None, None) => return Err(RuleError::Subject(s.into())),
    };
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(is_name_char)
        || (user && name.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(RuleError::Subject(s.into()));
    }
    Ok(s)
}

/// The subject of a rule that applies to every caller, whatever their roles (used for denies
/// such as "nobody below clearance 3 reads classification 3").
pub const EVERYONE: &str = "*";

/// Checks a rule's subject: [`EVERYONE`] or what [`parse_subject`] accepts.
pub fn parse_rule_subject(s: &str) -> Result<&str, RuleError> {
    if s == EVERYONE {
        return Ok(s);
    }
    parse_subject(s)
}

/// Checks an object pattern: `*`, a resource type `[a-z][a-z0-9_:-]*`, or a path of segments
/// that are literal, `:param`, or a final `*`.
pub fn parse_object(s: &str) -> Result<&str, RuleError> {
    let err = |why| Err(RuleError::Object(s.into(), why));
    if s.is_empty() || s.len() > 256 {
        return err("must be 1-256 characters");
    }
    if s == "*" {
        return Ok(s);
    }
    let Some(path) = s.strip_prefix('/') else {
        let b = s.as_bytes();
        if b[0].is_ascii_lowercase()
            && b.iter().all(|&c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b':' | b'-')
            })
        {
            return Ok(s);
        }
        return err("must be `*`, a resource type like `document`, or a path starting with `/`");
    };
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if *seg == "*" {
            if !last {
                return err("`*` is only allowed as the last segment");
            }
        } else if let Some(param) = seg.strip_prefix(':') {
            if param.is_empty()
                || !param
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return err("a `:param` segment needs a name of [A-Za-z0-9_]");
            }
        } else if !seg.bytes().all(|b| is_name_char(b) || b == b'~') || (seg.is_empty() && !last) {
            return err("path segments may contain only [A-Za-z0-9._~-]");
        }
    }
    Ok(s)
}

/// Does `value` (a request path or resource type) match `pattern`? Same results as casbin's
/// `keyMatch2` on the patterns [`parse_object`] accepts, without compiling a regex per call.
pub fn object_matches(value: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if !pattern.starts_with('/') {
        return value == pattern;
    }
    let mut v = value.split('/');
    let mut p = pattern.split('/').peekable();
    while let Some(ps) = p.next() {
        if ps == "*" && p.peek().is_none() {
            // keyMatch2 turns a trailing `/*` into `/.*`: anything, including nothing.
            return v.next().is_some();
        }
        match v.next() {
            Some(vs) if ps.starts_with(':') => {
                if vs.is_empty() {
                    return false;
                }
            }
            Some(vs) if vs == ps => {}
            _ => return false,
        }
    }
    v.next().is_none()
}

fn parse_action(s: &str) -> Result<&str, RuleError> {
    let ok = s == "*"
        || ((1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-')));
    if ok {
        Ok(s)
    } else {
        Err(RuleError::Action(s.into()))
    }
}

fn parse_scope(s: &str) -> Result<&str, RuleError> {
    if s == "*" || super::scope::Scope::parse(s).is_ok() {
        Ok(s)
    } else {
        Err(RuleError::Scope(s.into()))
    }
}

fn parse_effect(s: &str) -> Result<Effect, RuleError> {
    match s {
        "allow" => Ok(Effect::Allow),
        "deny" => Ok(Effect::Deny),
        _ => Err(RuleError::Effect(s.into())),
    }
}

impl Rule {
    /// Validates every column.
    pub fn parse(
        id: i64,
        subject: &str,
        object: &str,
        action: &str,
        scope: &str,
        condition: &str,
        effect: &str,
    ) -> Result<Self, RuleError> {
        Ok(Self {
            id,
            subject: parse_rule_subject(subject)?.to_owned(),
            object: parse_object(object)?.to_owned(),
            action: parse_action(action)?.to_owned(),
            scope: parse_scope(scope)?.to_owned(),
            condition: Condition::parse(condition)?,
            effect: parse_effect(effect)?,
            tenant: GLOBAL.to_owned(),
        })
    }

    /// This rule, applying only in `tenant` ([`GLOBAL`] for every tenant).
    pub fn in_tenant(mut self, tenant: &str) -> Result<Self, RuleError> {
        self.tenant = parse_domain(tenant)?.to_owned();
        Ok(self)
    }

    /// Validates a rule's text.
    pub fn from_text(t: &RuleText) -> Result<Self, RuleError> {
        Self::parse(
            t.id,
            &t.subject,
            &t.object,
            &t.action,
            &t.scope,
            &t.condition,
            &t.effect,
        )?
        .in_tenant(&t.tenant)
    }

    /// The text of this rule (what the store writes and the admin API shows).
    pub fn text(&self) -> RuleText {
        RuleText {
            id: self.id,
            subject: self.subject.clone(),
            object: self.object.clone(),
            action: self.action.clone(),
            scope: self.scope.clone(),
            condition: self.condition.as_str().to_owned(),
            effect: self.effect.as_str().to_owned(),
            tenant: self.tenant.clone(),
        }
    }

    /// The casbin `p` row: sub, dom, obj, act, scope, cond, eft, id.
    pub fn casbin_row(&self) -> Vec<String> {
        vec![
            self.subject.clone(),
            self.tenant.clone(),
            self.object.clone(),
            self.action.clone(),
            self.scope.clone(),
            self.condition.casbin_text().to_owned(),
            self.effect.as_str().to_owned(),
            self.id.to_string(),
        ]
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {}{} {} {} {} [{}] {}",
            self.id,
            if self.tenant == GLOBAL {
                String::new()
            } else {
                format!("@{} ", self.tenant)
            },
            self.subject,
            self.object,
            self.action,
            self.scope,
            self.condition,
            self.effect.as_str()
        )
    }
}

/// A validated `g` rule: `member` inherits `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Stable id.
    pub id: i64,
    /// `user:<name>` or `role:<name>`.
    pub member: String,
    /// `role:<name>`.
    pub role: String,
    /// The tenant the membership holds in, or [`GLOBAL`] (every tenant).
    pub domain: String,
}

impl Assignment {
    /// Validates a `g` row: `member` (`user:<name>` or `role:<name>`) inherits `role`.
    pub fn parse(id: i64, member: &str, role: &str) -> Result<Self, RuleError> {
        parse_subject(member)?;
        if !role.starts_with("role:") {
            return Err(RuleError::Subject(role.to_owned()));
        }
        parse_subject(role)?;
        Ok(Self {
            id,
            member: member.to_owned(),
            role: role.to_owned(),
            domain: GLOBAL.to_owned(),
        })
    }

    /// This assignment, holding only in `domain` (a tenant, or [`GLOBAL`]).
    pub fn in_domain(mut self, domain: &str) -> Result<Self, RuleError> {
        self.domain = parse_domain(domain)?.to_owned();
        Ok(self)
    }

    /// The casbin `g` row: member, role, domain.
    pub fn casbin_row(&self) -> Vec<String> {
        vec![self.member.clone(), self.role.clone(), self.domain.clone()]
    }
}

/// A validated policy: rules and role assignments as of a version. What the engine loads
/// from the store, compiles into a snapshot and proposes in a change; also a parsed policy
/// file (version 0), and the policy a matrix is run against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    /// The policy version the rows belong to (0: never stored, such as a file).
    pub version: i64,
    /// Validated `p` rules (ids are 0 until stored, or a file's line numbers).
    pub rules: Vec<Rule>,
    /// Validated `g` rows.
    pub assignments: Vec<Assignment>,
    /// The policy's matrices, by name (their text; the engine parses them).
    pub matrices: Vec<super::stored_matrix::MatrixText>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_patterns_match_like_key_match_2() {
        let cases = [
            ("/api/documents/5", "/api/documents/:id", true),
            ("/api/documents", "/api/documents/:id", false),
            ("/api/documents/", "/api/documents/:id", false),
            ("/api/documents/5/x", "/api/documents/:id", false),
            ("/api/documents", "/api/documents", true),
            ("/v1/admin/rules", "/v1/admin/*", true),
            ("/v1/admin/", "/v1/admin/*", true),
            ("/v1/admin/a/b", "/v1/admin/*", true),
            ("/v1/admin", "/v1/admin/*", false),
            ("/v1/adminx", "/v1/admin/*", false),
            ("document", "document", true),
            ("documents", "document", false),
            ("/anything", "*", true),
            ("document", "*", true),
            ("/v1/me", "/v1/me", true),
            ("/v1/me/", "/v1/me", false),
        ];
        for (value, pattern, expected) in cases {
            assert_eq!(
                object_matches(value, pattern),
                expected,
                "{value} vs {pattern}"
            );
        }
    }

    #[test]
    fn object_patterns_that_casbin_could_not_compile_are_refused() {
        for bad in [
            "",
            "/docs/(",
            "/a/*/b",
            "/a/:",
            "/a/b c",
            "Document",
            "/a//b",
            "doc ument",
            "/a/[x]",
        ] {
            assert!(parse_object(bad).is_err(), "{bad}");
        }
        for ok in [
            "*",
            "/",
            "/api/documents/:id",
            "/v1/admin/*",
            "document",
            "check:any",
        ] {
            assert!(parse_object(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rules_refuse_every_invalid_column() {
        let ok = [
            "role:viewer",
            "document",
            "read",
            "documents:read",
            "",
            "allow",
        ];
        assert!(Rule::parse(1, ok[0], ok[1], ok[2], ok[3], ok[4], ok[5]).is_ok());
        let bad_columns: [(usize, &str); 8] = [
            (0, "viewer"),
            (0, "role:"),
            (0, "group:x"),
            (2, "re ad"),
            (3, "a b"),
            (4, "loop {}"),
            (5, "allowed"),
            (5, ""),
        ];
        for (col, value) in bad_columns {
            let mut row = ok;
            row[col] = value;
            assert!(
                Rule::parse(1, row[0], row[1], row[2], row[3], row[4], row[5]).is_err(),
                "column {col} = {value:?}"
            );
        }
    }
}
