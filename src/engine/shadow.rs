//! `serve --shadow-casbin RATE`: re-decide a sample of live decisions with casbin-rs (the
//! oracle) on a blocking thread, off the request path, and log every disagreement.
//!
//! casbin-rs costs milliseconds per decision at 10k rules, so at most [`MAX_IN_FLIGHT`]
//! shadow evaluations run at once; a sampled decision that finds them busy is skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{Decision, Object, Snapshot, Subject};

/// Shadow evaluations running at once, at most.
pub const MAX_IN_FLIGHT: usize = 2;

/// Which decisions to shadow: every `period`-th one (0 = none).
#[derive(Debug, Default)]
pub struct Shadow {
    period: AtomicU64,
    counter: AtomicU64,
    in_flight: Arc<AtomicUsize>,
}

impl Shadow {
    /// Shadows a fraction `rate` (0 to 1) of decisions; 0 turns shadowing off.
    pub fn set_rate(&self, rate: f64) {
        let period = if rate > 0.0 && rate.is_finite() {
            // 1/rate, rounded; the rate is validated to lie in (0, 1] by the config.
            (1.0 / rate.min(1.0)).round().max(1.0) as u64
        } else {
            0
        };
        self.period.store(period, Ordering::Relaxed);
    }

    /// Whether this decision is one of the sample.
    pub fn sampled(&self) -> bool {
        let period = self.period.load(Ordering::Relaxed);
        period != 0
            && self
                .counter
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(period)
    }

    /// Re-decides with casbin-rs on a blocking thread and logs a disagreement. Does nothing
    /// outside a tokio runtime or when [`MAX_IN_FLIGHT`] evaluations are already running.
    pub fn spawn(
        &self,
        snap: Arc<Snapshot>,
        sub: &Subject,
        obj: &Object,
        act: &str,
        fast: &Decision,
    ) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let in_flight = self.in_flight.clone();
        let (sub, obj, act, fast) = (sub.clone(), obj.clone(), act.to_owned(), fast.clone());
        handle.clone().spawn_blocking(move || {
            if let Some(why) = handle.block_on(disagreement(&snap, &sub, &obj, &act, &fast)) {
                tracing::error!(
                    principal = %sub.principal,
                    resource = %obj.resource,
                    action = %act,
                    policy_version = snap.version(),
                    "{why}"
                );
            }
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// How the compiled engine's decision differs from casbin-rs's, if it does.
pub async fn disagreement(
    snap: &Snapshot,
    sub: &Subject,
    obj: &Object,
    act: &str,
    fast: &Decision,
) -> Option<String> {
    let reference = snap.casbin_decide(sub, obj, act).await;
    let unevaluated = |d: &Decision| d.unevaluated.iter().map(|u| u.rule_id).collect::<Vec<_>>();
    let key = |d: &Decision| {
        (
            d.allowed,
            d.matched_rules.clone(),
            unevaluated(d),
            d.error.is_some(),
        )
    };
    (key(fast) != key(&reference)).then(|| {
        format!(
            "shadow casbin disagrees: compiled engine allowed={} matched={:?} unevaluated={:?} error={:?}; casbin allowed={} matched={:?} unevaluated={:?} error={:?}",
            fast.allowed,
            fast.matched_rules,
            unevaluated(fast),
            fast.error,
            reference.allowed,
            reference.matched_rules,
            unevaluated(&reference),
            reference.error
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::rule::RuleSet;
    use crate::policy::seed::{SEED_POLICY, parse_policy};

    #[test]
    fn a_rate_samples_every_nth_decision_and_zero_samples_none() {
        let shadow = Shadow::default();
        assert!(!(0..100).any(|_| shadow.sampled()));
        shadow.set_rate(0.25);
        let hits = (0..100).filter(|_| shadow.sampled()).count();
        assert_eq!(hits, 25);
        shadow.set_rate(1.0);
        assert!((0..10).all(|_| shadow.sampled()));
    }

    #[tokio::test]
    async fn a_decision_casbin_would_not_make_is_reported_and_an_equal_one_is_not() {
        let seed = parse_policy(SEED_POLICY).unwrap();
        let loaded = RuleSet {
            version: 1,
            rules: seed.rules,
            assignments: seed.assignments,
            matrices: Vec::new(),
        };
        let snap = Snapshot::compile(loaded).unwrap();
        let sub = Subject {
            principal: "user:nobody".into(),
            name: "nobody".into(),
            scopes: vec![],
            tenant: crate::policy::rule::DEFAULT_TENANT.into(),
            attributes: Default::default(),
            roles: Vec::new(),
        };
        let obj = Object::route("/v1/admin/rules");
        let fast = snap.decide(&sub, &obj, "GET");
        assert!(!fast.allowed);
        assert_eq!(disagreement(&snap, &sub, &obj, "GET", &fast).await, None);
        let wrong = Decision {
            allowed: true,
            ..fast
        };
        let why = disagreement(&snap, &sub, &obj, "GET", &wrong)
            .await
            .unwrap();
        assert!(why.contains("compiled engine allowed=true"), "{why}");
    }
}
