//! Canonical resources: the one spelling of a path that a decision is made on.
//!
//! The router percent-decodes path parameters, ids parse as integers (`04`, `+4` and `4` are
//! the same document) and usernames are looked up case-insensitively. A rule about
//! `/api/documents/4` or `/v1/admin/users/admin` must therefore be compared with the resource
//! the handler will act on, not with the bytes the client sent. Every decision on a path goes
//! through this module:
//!
//! - [`canonical_route`] builds the resource of a routed request from the matched route
//!   template and its (already decoded) parameters, each in its canonical form: integers in
//!   plain decimal, usernames lower-cased. A parameter the handler could not parse either is
//!   refused before any decision.
//! - [`canonical_path`] normalises a free path (`/v1/check`, forward-auth): percent-encoded
//!   unreserved characters are decoded, other escapes are kept in upper-case hex, and anything
//!   a server could read in two ways is refused: empty segments (`//`), dot segments, a
//!   trailing slash, encoded `/` or `%`, control characters and non-ASCII bytes (which covers
//!   fullwidth digits and overlong or invalid UTF-8). A path that then matches one of Warden's
//!   own routes gets that route's parameter canonicalisation too. Two choices are the
//!   deployment's ([`PathMatching`]), because they depend on the upstream a gateway protects:
//!   `;` segment parameters (refused unless allowed: Tomcat and Spring strip them, so
//!   `/app/admin;x` *is* `/app/admin` there) and letter case (`case-insensitive` folds paths to
//!   lower case, as Express and ASP.NET match them; rules must then be written in lower case,
//!   see [`PathMatching::case_conflicts`]).
//! - [`route_action`] is the action a request method is decided as: HEAD is served by the GET
//!   handler (axum's and most upstreams'), so it is decided as GET.
//!
//! Pure: no axum, no database.

use crate::policy::username::Username;

/// Warden's own routes that take path parameters, in the router's syntax. A test checks this
/// table against the OpenAPI document, so a new route cannot be forgotten here.
pub const PARAM_ROUTES: &[&str] = &[
    "/api/documents/{id}",
    "/v1/admin/rules/{id}",
    "/v1/admin/users/{name}",
    "/v1/admin/users/{name}/roles",
    "/v1/admin/users/{name}/reset-password",
    "/v1/admin/service-accounts/{name}",
    "/v1/admin/service-accounts/{name}/secret",
    "/v1/admin/policy/versions/{version}/diff",
    "/v1/admin/policy/versions/{version}/compare",
    "/v1/admin/matrices/{matrix}",
    "/v1/admin/matrices/{matrix}/grid",
    "/v1/admin/matrices/{matrix}/why",
    "/v1/admin/tenants/{tenant}",
    "/v1/tenants/{tenant}/admin/members",
    "/v1/tenants/{tenant}/admin/members/{name}",
    "/v1/tenants/{tenant}/admin/rules",
    "/v1/tenants/{tenant}/admin/rules/{id}",
    "/v1/tenants/{tenant}/admin/policy/versions",
    "/v1/tenants/{tenant}/admin/policy/versions/{version}/diff",
    "/v1/tenants/{tenant}/admin/audit",
    "/v1/tenants/{tenant}/admin/policy/dry-run",
    "/v1/tenants/{tenant}/admin/matrices",
    "/v1/tenants/{tenant}/admin/matrices/{matrix}",
];

/// Longest path accepted.
pub const MAX_PATH_LEN: usize = 1024;

/// How free paths are compared with rules, for one deployment (`--path-match`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PathCase {
    /// Paths are compared byte for byte: `/app/ADMIN` is not `/app/admin`.
    #[default]
    Exact,
    /// Paths are folded to lower case before they are decided, for upstreams that match
    /// paths case-insensitively; route rules must then be lower-case.
    CaseInsensitive,
}

/// The deployment's path rules for free paths (forward-auth, `/v1/check`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathMatching {
    /// Letter case (`--path-match`).
    pub case: PathCase,
    /// Whether a segment may carry a `;` parameter (`--allow-path-params`). Off by default:
    /// Tomcat, Jetty and Spring strip `;...` from each segment (and read `..;` as `..`), so a
    /// rule about `/app/admin` would not see `/app/admin;x`, which they serve as `/app/admin`.
    pub allow_params: bool,
}

impl PathMatching {
    /// The route rules (objects that start with `/`) that this mode could never match: in
    /// `case-insensitive` mode, those with an upper-case letter. A deny among them would
    /// silently stop denying, so such a policy is refused (on write and on load).
    pub fn case_conflicts<'a>(&self, objects: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        if self.case == PathCase::Exact {
            return Vec::new();
        }
        objects
            .into_iter()
            .filter(|o| o.starts_with('/') && o.bytes().any(|b| b.is_ascii_uppercase()))
            .collect()
    }
}

/// The action an HTTP method is decided as. HEAD is answered by the GET handler (axum's,
/// and most upstreams'), so a HEAD request needs exactly what the GET needs: it is decided as
/// GET, and a rule about HEAD alone decides nothing.
pub fn route_action(method: &str) -> &str {
    if method.eq_ignore_ascii_case("HEAD") {
        "GET"
    } else {
        method
    }
}

/// Why a resource has no canonical form. Every variant is a refusal: no decision is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A route parameter the handler could not parse (so nothing it names can exist).
    #[error("`{0}` does not name an existing resource")]
    BadParam(&'static str),
    /// A free path that is not in normal form.
    #[error("the path {0}")]
    BadPath(&'static str),
}

/// How a parameter is parsed, by its name in the route template.
fn canonical_param(name: &str, value: &str) -> Result<String, ResourceError> {
    match name {
        // `Path<i64>` parses with `str::parse`, which also reads `+4` and `0004` as 4.
        "id" | "version" => value
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| ResourceError::BadParam("id")),
        // Accounts are found by the lower-cased name.
        "name" => Username::parse(value)
            .map(|u| u.key())
            .map_err(|_| ResourceError::BadParam("name")),
        // Matrix names are looked up exactly; only their own characters are allowed.
        "matrix" if is_plain_segment(value) => Ok(value.to_owned()),
        "matrix" => Err(ResourceError::BadParam("matrix")),
        // Tenant names are exact: lower-case by construction.
        "tenant" => crate::policy::rule::parse_tenant(value)
            .map(str::to_owned)
            .map_err(|_| ResourceError::BadParam("tenant")),
        // A parameter this module does not know: refuse rather than guess its spelling.
        _ => Err(ResourceError::BadParam("parameter")),
    }
}

fn is_plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s != "."
        && s != ".."
        && s.bytes().all(crate::policy::rule::is_name_char)
}

/// The canonical resource of a routed request: `template` (`/api/documents/{id}`) with each
/// `{param}` replaced by the canonical form of its decoded value.
pub fn canonical_route<'a>(
    template: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, ResourceError> {
    if !template.contains('{') {
        return Ok(template.to_owned());
    }
    let params: Vec<(&str, &str)> = params.into_iter().collect();
    let mut out = String::with_capacity(template.len() + 16);
    for (i, seg) in template.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let value = params
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| *v)
                    .ok_or(ResourceError::BadParam("parameter"))?;
                out.push_str(&canonical_param(name, value)?);
            }
            None => out.push_str(seg),
        }
    }
    Ok(out)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one segment's escapes of unreserved characters, keeps other (printable ASCII)
/// escapes in upper-case hex, and refuses what could be read in two ways.
fn normalise_segment(seg: &str, fold: bool, out: &mut String) -> Result<(), ResourceError> {
    let lit = |c: u8| char::from(if fold { c.to_ascii_lowercase() } else { c });
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(ResourceError::BadPath("has a malformed percent-escape"));
            };
            let d = h * 16 + l;
            if is_unreserved(d) {
                out.push(lit(d));
            } else if d == b'/' || d == b'%' || d == b'\\' {
                return Err(ResourceError::BadPath("encodes `/`, `\\` or `%`"));
            } else if !(0x21..0x7f).contains(&d) {
                return Err(ResourceError::BadPath(
                    "encodes a control character or a non-ASCII byte",
                ));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(h)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(l)]));
            }
            i += 3;
        } else if (0x21..0x7f).contains(&c) && !matches!(c, b'?' | b'#' | b'\\') {
            out.push(lit(c));
            i += 1;
        } else {
            return Err(ResourceError::BadPath(
                "may hold only printable ASCII without `?`, `#` or `\\`",
            ));
        }
    }
    Ok(())
}

/// Refuses a `;` segment parameter unless the deployment allows them; even then a segment
/// whose name before the `;` is empty, `.` or `..` is refused (`..;` is `..` to Tomcat).
fn check_params(seg: &str, matching: PathMatching) -> Result<(), ResourceError> {
    let Some((name, _)) = seg.split_once(';') else {
        return Ok(());
    };
    if !matching.allow_params {
        return Err(ResourceError::BadPath(
            "has a `;` segment parameter, which servers such as Tomcat and Spring strip",
        ));
    }
    if matches!(name, "" | "." | "..") {
        return Err(ResourceError::BadPath(
            "has an empty, `.` or `..` segment before `;`",
        ));
    }
    Ok(())
}

/// The canonical form of a free path under the deployment's [`PathMatching`]; see the module
/// documentation.
pub fn canonical_path(path: &str, matching: PathMatching) -> Result<String, ResourceError> {
    if path.len() > MAX_PATH_LEN {
        return Err(ResourceError::BadPath("is longer than 1024 bytes"));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(ResourceError::BadPath("must start with `/`"));
    };
    if rest.is_empty() {
        return Ok("/".to_owned());
    }
    let mut segments = Vec::new();
    for raw in rest.split('/') {
        let mut seg = String::with_capacity(raw.len());
        normalise_segment(raw, matching.case == PathCase::CaseInsensitive, &mut seg)?;
        if seg.is_empty() {
            return Err(ResourceError::BadPath(
                "has an empty segment (`//` or a trailing `/`)",
            ));
        }
        if seg == "." || seg == ".." {
            return Err(ResourceError::BadPath("has a `.` or `..` segment"));
        }
        check_params(&seg, matching)?;
        segments.push(seg);
    }
    // One of Warden's own routes: its parameters get the handler's spelling.
    for template in PARAM_ROUTES {
        let t: Vec<&str> = template[1..].split('/').collect();
        if t.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = t.iter().zip(&segments).all(|(ts, s)| {
            match ts.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                Some(name) => {
                    params.push((name, s.as_str()));
                    true
                }
                None => ts == s,
            }
        });
        if matched {
            return canonical_route(template, params);
        }
    }
    Ok(format!("/{}", segments.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ids_are_read_the_way_the_router_reads_them() {
        for spelling in ["4", "04", "0004", "+4", "+004"] {
            assert_eq!(
                canonical_route("/api/documents/{id}", [("id", spelling)]),
                Ok("/api/documents/4".to_owned()),
                "{spelling}"
            );
        }
    }

    #[test]
    fn ids_the_handler_cannot_parse_are_refused() {
        for spelling in ["", "４", "4.0", "0x4", "4 ", "99999999999999999999", "four"] {
            assert!(
                canonical_route("/api/documents/{id}", [("id", spelling)]).is_err(),
                "{spelling:?}"
            );
        }
    }

    #[test]
    fn usernames_are_lower_cased_and_invalid_ones_refused() {
        for spelling in ["admin", "ADMIN", "Admin", "aDmIn"] {
            assert_eq!(
                canonical_route("/v1/admin/users/{name}/roles", [("name", spelling)]),
                Ok("/v1/admin/users/admin/roles".to_owned())
            );
        }
        for spelling in ["ad min", "admin/", "ａdmin", "a", "admin\0"] {
            assert!(canonical_route("/v1/admin/users/{name}", [("name", spelling)]).is_err());
        }
    }

    #[test]
    fn a_template_without_parameters_is_its_own_resource() {
        assert_eq!(
            canonical_route("/v1/admin/rules", []),
            Ok("/v1/admin/rules".to_owned())
        );
    }

    #[test]
    fn free_paths_decode_unreserved_escapes_and_keep_others_upper_case() {
        let table = [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/%61/%7e", "/a/~"),
            ("/files/a%2cb", "/files/a%2Cb"),
            ("/api/documents/%34", "/api/documents/4"),
            ("/api/documents/0004", "/api/documents/4"),
            ("/api/%64ocuments/+4", "/api/documents/4"),
            ("/v1/admin/users/%41DMIN", "/v1/admin/users/admin"),
            ("/app/Thing", "/app/Thing"),
        ];
        for (input, want) in table {
            assert_eq!(
                canonical_path(input, PathMatching::default()),
                Ok(want.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn free_paths_that_could_be_read_two_ways_are_refused() {
        let table = [
            "",
            "api/documents/4",
            "//api/documents/4",
            "/api//documents/4",
            "/api/documents/4/",
            "/api/./documents/4",
            "/api/x/../documents/4",
            "/api/%2e%2e/documents",
            "/api/documents%2F4",
            "/api/documents/%",
            "/api/documents/%3",
            "/api/documents/%zz",
            "/api/documents/%C0%B4",
            "/api/documents/%EF%BC%94",
            "/api/documents/%FF",
            "/api/documents/%00",
            "/api/documents/4?x=1",
            "/api/documents/4#x",
            "/api\\documents/4",
            "/api/documents/４",
            "/api/documents/abc",
            "/v1/admin/users/a%20b",
        ];
        for input in table {
            assert!(
                canonical_path(input, PathMatching::default()).is_err(),
                "{input:?} was accepted"
            );
        }
        assert!(
            canonical_path(
                &format!("/{}", "a".repeat(MAX_PATH_LEN)),
                PathMatching::default()
            )
            .is_err()
        );
    }

    const PARAMS_ALLOWED: PathMatching = PathMatching {
        case: PathCase::Exact,
        allow_params: true,
    };
    const FOLDED: PathMatching = PathMatching {
        case: PathCase::CaseInsensitive,
        allow_params: false,
    };

    #[test]
    fn segment_parameters_are_refused_unless_the_deployment_allows_them() {
        let spellings = [
            "/app/admin;x",
            "/app/admin;jsessionid=1",
            "/app/x/..;/admin",
            "/app/..;/app/admin",
            "/app/.;/admin",
            "/app/;/admin",
            "/app;x/admin",
        ];
        for input in spellings {
            assert!(
                canonical_path(input, PathMatching::default()).is_err(),
                "{input:?} was accepted"
            );
        }
        // Allowed: a parameter stays part of its segment, but a dot segment in disguise does not.
        assert_eq!(
            canonical_path("/app/admin;x", PARAMS_ALLOWED),
            Ok("/app/admin;x".to_owned())
        );
        for input in [
            "/app/x/..;/admin",
            "/app/..;/app/admin",
            "/app/.;/admin",
            "/app/;x",
        ] {
            assert!(canonical_path(input, PARAMS_ALLOWED).is_err(), "{input:?}");
        }
        // An escaped `;` is a character of the name, not a parameter, to every server.
        assert_eq!(
            canonical_path("/app/a%3Bb", PathMatching::default()),
            Ok("/app/a%3Bb".to_owned())
        );
    }

    #[test]
    fn case_insensitive_matching_folds_letters_but_not_escapes() {
        let table = [
            ("/app/ADMIN", "/app/admin"),
            ("/App/Admin/Pages", "/app/admin/pages"),
            ("/app/%41DMIN", "/app/admin"),
            ("/app/a%2Cb", "/app/a%2Cb"),
            ("/V1/ADMIN/USERS/ADMIN", "/v1/admin/users/admin"),
        ];
        for (input, want) in table {
            assert_eq!(
                canonical_path(input, FOLDED),
                Ok(want.to_owned()),
                "{input}"
            );
            assert_eq!(
                canonical_path(&input.to_ascii_lowercase(), FOLDED),
                Ok(want.to_owned())
            );
        }
        assert_eq!(
            canonical_path("/app/ADMIN", PathMatching::default()),
            Ok("/app/ADMIN".to_owned())
        );
    }

    #[test]
    fn in_case_insensitive_mode_upper_case_route_rules_are_conflicts() {
        let objects = [
            "/app/Admin",
            "/app/admin",
            "document",
            "Report",
            "*",
            "/v1/x/:Id",
        ];
        assert_eq!(
            FOLDED.case_conflicts(objects),
            vec!["/app/Admin", "/v1/x/:Id"]
        );
        assert!(PathMatching::default().case_conflicts(objects).is_empty());
    }

    #[test]
    fn head_is_decided_as_get_and_nothing_else_changes() {
        for (method, want) in [
            ("HEAD", "GET"),
            ("head", "GET"),
            ("GET", "GET"),
            ("POST", "POST"),
            ("OPTIONS", "OPTIONS"),
            ("read", "read"),
        ] {
            assert_eq!(route_action(method), want);
        }
    }
}
