//! Fixed-window login limits per username (failed attempts) and per client address (all
//! attempts). The mutex is held only for a map lookup, never across an await.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::LoginLimits;

/// Above this many tracked keys, expired windows are swept on insert (bounds memory).
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    count: u32,
}

#[derive(Debug, Default)]
struct Counters(HashMap<String, Window>);

impl Counters {
    /// Seconds until the key may try again, if it is over `limit` in the current window.
    fn blocked(&self, key: &str, limit: u32, window: i64, now: i64) -> Option<u64> {
        let w = self.0.get(key)?;
        let ends = w.started + window;
        (now < ends && w.count >= limit).then(|| u64::try_from(ends - now).unwrap_or(1))
    }

    fn hit(&mut self, key: &str, window: i64, now: i64) {
        if self.0.len() > SWEEP_ABOVE {
            self.0.retain(|_, w| now < w.started + window);
        }
        let w = self.0.entry(key.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now >= w.started + window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
    }
}

/// Login rate limiter.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    users: Mutex<Counters>,
    addrs: Mutex<Counters>,
}

impl LoginLimiter {
    /// A limiter with the given limits.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            users: Mutex::default(),
            addrs: Mutex::default(),
        }
    }

    /// Records an attempt from `addr` and says whether it may proceed; `Err(secs)` = 429.
    pub fn check_attempt(&self, username_key: &str, addr: &str, now: i64) -> Result<(), u64> {
        let l = self.limits;
        {
            let mut addrs = self.addrs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(wait) = addrs.blocked(addr, l.attempts_per_ip, l.window_secs, now) {
                return Err(wait);
            }
            addrs.hit(addr, l.window_secs, now);
        }
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        match users.blocked(username_key, l.failures_per_user, l.window_secs, now) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed attempt for a username.
    pub fn record_failure(&self, username_key: &str, now: i64) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.hit(username_key, self.limits.window_secs, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            failures_per_user: 3,
            attempts_per_ip: 5,
            window_secs: 60,
        })
    }

    #[test]
    fn a_username_is_blocked_after_its_failures_until_the_window_ends() {
        let l = limiter();
        for _ in 0..3 {
            assert!(l.check_attempt("bob", "ip1", 100).is_ok());
            l.record_failure("bob", 100);
        }
        assert_eq!(l.check_attempt("bob", "ip2", 110), Err(50));
        assert!(l.check_attempt("alice", "ip2", 110).is_ok());
        assert!(l.check_attempt("bob", "ip3", 160).is_ok());
    }

    #[test]
    fn an_address_is_blocked_after_its_attempts_whatever_the_username() {
        let l = limiter();
        for i in 0..5 {
            assert!(l.check_attempt(&format!("u{i}"), "ip1", 0).is_ok());
        }
        assert_eq!(l.check_attempt("other", "ip1", 1), Err(59));
        assert!(l.check_attempt("other", "ip2", 1).is_ok());
    }
}
