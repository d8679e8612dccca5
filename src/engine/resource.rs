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
//!   own routes gets that route's parameter canonicalisation too.
//!
//! Pure: no axum, no database.

use crate::auth::domain::Username;

/// Warden's own routes that take path parameters, in the router's syntax. A test checks this
/// table against the OpenAPI document, so a new route cannot be forgotten here.
pub const PARAM_ROUTES: &[&str] = &[
    "/api/documents/{id}",
    "/v1/admin/rules/{id}",
    "/v1/admin/users/{name}",
    "/v1/admin/users/{name}/roles",
    "/v1/admin/policy/versions/{version}/diff",
    "/v1/admin/policy/versions/{version}/compare",
    "/v1/admin/matrices/{matrix}",
    "/v1/admin/matrices/{matrix}/grid",
    "/v1/admin/matrices/{matrix}/why",
];

/// Longest path accepted.
pub const MAX_PATH_LEN: usize = 1024;

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
fn normalise_segment(seg: &str, out: &mut String) -> Result<(), ResourceError> {
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
                out.push(char::from(d));
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
            out.push(char::from(c));
            i += 1;
        } else {
            return Err(ResourceError::BadPath(
                "may hold only printable ASCII without `?`, `#` or `\\`",
            ));
        }
    }
    Ok(())
}

/// The canonical form of a free path; see the module documentation.
pub fn canonical_path(path: &str) -> Result<String, ResourceError> {
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
        normalise_segment(raw, &mut seg)?;
        if seg.is_empty() {
            return Err(ResourceError::BadPath(
                "has an empty segment (`//` or a trailing `/`)",
            ));
        }
        if seg == "." || seg == ".." {
            return Err(ResourceError::BadPath("has a `.` or `..` segment"));
        }
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
            assert_eq!(canonical_path(input), Ok(want.to_owned()), "{input}");
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
            assert!(canonical_path(input).is_err(), "{input:?} was accepted");
        }
        assert!(canonical_path(&format!("/{}", "a".repeat(MAX_PATH_LEN))).is_err());
    }
}
