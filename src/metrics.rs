//! Prometheus metrics: one [`Metrics`] per server, rendered by `GET /metrics`
//! ([`crate::http::metrics`]).
//!
//! Built on `prometheus-client` (the Prometheus project's own Rust client): metrics live in a
//! registry owned by the [`crate::AppState`], not in a process-wide recorder, so two servers in
//! one process (the integration tests run hundreds) never count into each other's series.
//!
//! Every label has a bounded set of values: routes are axum's route *templates*
//! (`/api/documents/{id}`, or [`UNMATCHED_ROUTE`]), never raw paths; methods outside the
//! standard ones are `other`. So the number of series does not grow with traffic, rules or
//! users, and a scrape costs the same with 10 rules or 10,000.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `route` label of a request no route matched (a 404 of the fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// `warden_http_requests_total` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Standard method name, or `other`.
    pub method: &'static str,
    /// Route template or [`UNMATCHED_ROUTE`].
    pub route: &'static str,
    /// Status code.
    pub status: u16,
}

/// `warden_http_request_duration_seconds` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Standard method name, or `other`.
    pub method: &'static str,
    /// Route template or [`UNMATCHED_ROUTE`].
    pub route: &'static str,
}

/// Most distinct route labels; past it (a router with more templates than this) every new
/// one is counted as [`UNMATCHED_ROUTE`]. Route labels are templates, so the router bounds them.
const MAX_ROUTE_LABELS: usize = 1024;

/// The route label for `route` as a `&'static str`: templates are interned once, so counting
/// a request allocates nothing.
fn route_label(route: &str) -> &'static str {
    static LABELS: std::sync::RwLock<Option<std::collections::HashSet<&'static str>>> =
        std::sync::RwLock::new(None);
    if route == UNMATCHED_ROUTE {
        return UNMATCHED_ROUTE;
    }
    if let Some(found) = LABELS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|set| set.get(route).copied())
    {
        return found;
    }
    let mut labels = LABELS.write().unwrap_or_else(|p| p.into_inner());
    let set = labels.get_or_insert_with(Default::default);
    if let Some(found) = set.get(route) {
        return found;
    }
    if set.len() >= MAX_ROUTE_LABELS {
        return UNMATCHED_ROUTE;
    }
    let interned: &'static str = Box::leak(route.to_owned().into_boxed_str());
    set.insert(interned);
    interned
}

/// `warden_decisions_total` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Where the decision was made: `route` (the guard), `object` (a handler), `check`.
    pub point: &'static str,
    /// Route template of the request that asked.
    pub route: &'static str,
    /// `allow`, `deny` or `error` (a deny because something could not be evaluated).
    pub result: &'static str,
}

/// `warden_decision_duration_seconds` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PointLabels {
    /// `route`, `object` or `check`.
    pub point: &'static str,
}

/// A label with one fixed set of values (`result`, `outcome`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The outcome.
    pub outcome: &'static str,
}

/// `warden_federated_tokens_total` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssuerLabels {
    /// The trusted issuer's alias (`--oidc-config`: a bounded set).
    pub issuer: String,
    /// `accepted` or `refused`.
    pub result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s: a cached decision route takes well under a millisecond, a login
    // (argon2id) tens of milliseconds, a matrix run up to its 10 s limit.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 16,
    ))
}

fn decision_histogram() -> Histogram {
    // 1 µs .. ~33 ms: a decision is microseconds; tens of milliseconds means a slow condition.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_001, 2.0, 16,
    ))
}

/// Every series Warden exports, and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    decisions: Family<DecisionLabels, Counter>,
    decision_duration: HistogramFamily<PointLabels>,
    logins: Family<OutcomeLabels, Counter>,
    rate_limited: Family<RouteLabels, Counter>,
    store_errors: Counter,
    decision_log_dropped: Counter,
    federated_tokens: Family<IssuerLabels, Counter>,
    /// Open client connections of the main listener (`serve` increments and decrements it).
    pub connections: Gauge,
    policy_version: Gauge,
    policy_rules: Gauge,
}

impl Metrics {
    /// A fresh registry. `reloads` is the engine's own reload counter (by `outcome`), which it
    /// counts without knowing about HTTP.
    pub fn new(reloads: Family<OutcomeLabels, Counter>) -> Self {
        let mut registry = Registry::with_prefix("warden");
        let m = Self {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            decisions: Family::default(),
            decision_duration: Family::new_with_constructor(decision_histogram),
            logins: Family::default(),
            rate_limited: Family::default(),
            store_errors: Counter::default(),
            decision_log_dropped: Counter::default(),
            federated_tokens: Family::default(),
            connections: Gauge::default(),
            policy_version: Gauge::default(),
            policy_rules: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by method and route template",
            m.http_duration.clone(),
        );
        registry.register(
            "decisions",
            "Policy decisions by decision point, route template and result (allow, deny, error)",
            m.decisions.clone(),
        );
        registry.register(
            "decision_duration_seconds",
            "Time one policy decision took, by decision point",
            m.decision_duration.clone(),
        );
        registry.register(
            "policy_reloads",
            "Policy loads from the database after a version change, by outcome (ok, failed)",
            reloads,
        );
        registry.register(
            "logins",
            "Password-grant logins by outcome (success, failure, throttled)",
            m.logins.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused with 429 by a rate limit, by method and route template",
            m.rate_limited.clone(),
        );
        registry.register(
            "store_errors",
            "Requests that failed because the database failed (answered 500 or 503)",
            m.store_errors.clone(),
        );
        registry.register(
            "decision_log_dropped",
            "Decision-log records dropped because the writer fell behind",
            m.decision_log_dropped.clone(),
        );
        registry.register(
            "federated_tokens",
            "Bearer tokens of trusted external issuers, by issuer alias and result (accepted, refused)",
            m.federated_tokens.clone(),
        );
        registry.register(
            "connections",
            "Client connections open on the main listener",
            m.connections.clone(),
        );
        registry.register(
            "policy_version",
            "Policy version this instance decides with (-1 when none is loaded)",
            m.policy_version.clone(),
        );
        registry.register(
            "policy_rules",
            "Rules in the policy this instance decides with",
            m.policy_rules.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts one token claiming the trusted issuer `issuer` (its alias).
    pub fn federated_token(&self, issuer: &str, accepted: bool) {
        self.federated_tokens
            .get_or_create(&IssuerLabels {
                issuer: issuer.to_owned(),
                result: if accepted { "accepted" } else { "refused" },
            })
            .inc();
    }

    /// Counts one answered request and its latency.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        let route = route_label(route);
        self.http_requests
            .get_or_create(&HttpLabels {
                method,
                route,
                status,
            })
            .inc();
        let route = RouteLabels { method, route };
        self.http_duration.get_or_create(&route).observe(seconds);
        if status == 429 {
            self.rate_limited.get_or_create(&route).inc();
        }
    }

    /// Counts one decision.
    pub fn decision(&self, point: &'static str, route: &str, result: &'static str, seconds: f64) {
        self.decisions
            .get_or_create(&DecisionLabels {
                point,
                route: route_label(route),
                result,
            })
            .inc();
        self.decision_duration
            .get_or_create(&PointLabels { point })
            .observe(seconds);
    }

    /// Counts one password-grant login: `success`, `failure` or `throttled`.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Counts one request failed by the database.
    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    /// Counts one decision-log record dropped.
    pub fn decision_log_dropped(&self) {
        self.decision_log_dropped.inc();
    }

    /// The Prometheus text exposition (format 0.0.4) of every series, with the policy gauges
    /// set to `policy` ((version, rule count), None when no policy is loaded).
    pub fn render(&self, policy: Option<(i64, usize)>) -> String {
        let (version, rules) = policy.unwrap_or((-1, 0));
        self.policy_version.set(version);
        self.policy_rules
            .set(i64::try_from(rules).unwrap_or(i64::MAX));
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A bounded method label: the standard methods by name, anything else `other`.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PROPFIND"), "other");
        assert_eq!(method_label("get"), "other");
    }

    #[test]
    fn a_render_names_every_family_with_the_warden_prefix() {
        let m = Metrics::new(Family::default());
        m.http_request("GET", "/api/documents/{id}", 200, 0.001);
        m.decision("route", "/api/documents/{id}", "deny", 0.000_01);
        let text = m.render(Some((7, 42)));
        for needle in [
            "warden_http_requests_total{method=\"GET\",route=\"/api/documents/{id}\",status=\"200\"} 1",
            "warden_http_request_duration_seconds_bucket",
            "warden_decisions_total{point=\"route\",route=\"/api/documents/{id}\",result=\"deny\"} 1",
            "warden_decision_duration_seconds_count{point=\"route\"} 1",
            "warden_policy_version 7",
            "warden_policy_rules 42",
            "warden_connections 0",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
