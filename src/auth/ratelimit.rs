//! Fixed-window limits: login failures per username, login attempts per client address and
//! registrations per client address.
//! One mutex, held only for map work, never across an await.
//!
//! An attempt is counted when it starts, under the same lock that checks the limit, and a
//! successful login gives its count back. Counting after the password check instead would let
//! a burst of parallel attempts all pass the check before the first failure is recorded.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use super::domain::Username;
use crate::config::{LoginLimits, RegisterLimits};

/// Most keys one table tracks. A full table first drops its expired windows, then its oldest
/// live ones, so memory stays bounded whatever names or addresses clients send.
pub const MAX_TRACKED_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    count: u32,
}

/// One table of fixed windows, at most `cap` keys.
#[derive(Debug)]
struct Counters {
    map: HashMap<String, Window>,
    cap: usize,
}

impl Counters {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// Counts an attempt for `key`, unless the key already used `limit` attempts in its
    /// current window: then nothing is counted and `Err` says how many seconds remain.
    fn try_hit(&mut self, key: &str, limit: u32, window: i64, now: i64) -> Result<(), u64> {
        if let Some(w) = self.map.get_mut(key) {
            let ends = w.started + window;
            if now >= ends {
                *w = Window {
                    started: now,
                    count: 1,
                };
            } else if w.count >= limit {
                return Err(u64::try_from(ends - now).unwrap_or(1));
            } else {
                w.count = w.count.saturating_add(1);
            }
            return Ok(());
        }
        if limit == 0 {
            return Err(u64::try_from(window).unwrap_or(1));
        }
        self.make_room(window, now);
        self.map.insert(
            key.to_owned(),
            Window {
                started: now,
                count: 1,
            },
        );
        Ok(())
    }

    /// Gives back one attempt counted at `at`, if that attempt's window is still current.
    fn refund(&mut self, key: &str, window: i64, at: i64) {
        if let Some(w) = self.map.get_mut(key)
            && w.started <= at
            && at < w.started + window
        {
            w.count = w.count.saturating_sub(1);
        }
    }

    /// Makes room for one more key: drops expired windows and, if the table is still full,
    /// the oldest eighth of it in one pass (so a flood of new keys costs O(1) each on average).
    fn make_room(&mut self, window: i64, now: i64) {
        if self.map.len() < self.cap {
            return;
        }
        self.map.retain(|_, w| now < w.started + window);
        if self.map.len() < self.cap {
            return;
        }
        let evict = (self.cap / 8).max(1);
        let mut starts: Vec<i64> = self.map.values().map(|w| w.started).collect();
        let (_, &mut cutoff, _) = starts.select_nth_unstable(evict - 1);
        // Entries started before `cutoff` all go; of those started at `cutoff`, just enough.
        let mut at_cutoff = evict - starts[..evict].iter().filter(|&&s| s < cutoff).count();
        self.map.retain(|_, w| {
            if w.started < cutoff {
                false
            } else if w.started == cutoff && at_cutoff > 0 {
                at_cutoff -= 1;
                false
            } else {
                true
            }
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// The limiter's key for a client address. IPv4 as is; IPv6 by its /64, because one
/// subscriber usually holds a whole /64 and could otherwise rotate through 2^64 buckets;
/// IPv4-mapped IPv6 as the IPv4 address; an unknown address shares one bucket.
pub fn address_key(addr: Option<IpAddr>) -> String {
    match addr.map(|a| a.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !(u128::from(u64::MAX));
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

#[derive(Debug)]
struct Tables {
    login_users: Counters,
    login_addrs: Counters,
    registrations: Counters,
}

/// The rate limiter shared by the auth routes.
#[derive(Debug)]
pub struct RateLimiter {
    login: LoginLimits,
    register: RegisterLimits,
    tables: Mutex<Tables>,
}

/// A login attempt, counted as a failure of its username unless
/// [`RateLimiter::login_succeeded`] gives it back.
#[derive(Debug)]
#[must_use = "a successful login must give its attempt back"]
pub struct LoginAttempt {
    user_key: Option<String>,
    at: i64,
}

impl RateLimiter {
    /// A limiter with the given limits, tracking at most [`MAX_TRACKED_KEYS`] keys per table.
    pub fn new(login: LoginLimits, register: RegisterLimits) -> Self {
        Self::with_capacity(login, register, MAX_TRACKED_KEYS)
    }

    /// A limiter tracking at most `cap` keys per table.
    pub fn with_capacity(login: LoginLimits, register: RegisterLimits, cap: usize) -> Self {
        Self {
            login,
            register,
            tables: Mutex::new(Tables {
                login_users: Counters::new(cap),
                login_addrs: Counters::new(cap),
                registrations: Counters::new(cap),
            }),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock leaves the counters usable: keep going.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a login attempt from `addr` for `username` before any password is checked;
    /// `Err(secs)` = 429. `None` is a name that is not a valid username: it has no account,
    /// so it gets no per-name bucket (no entry keyed on arbitrary client input), while the
    /// address limit still applies.
    pub fn begin_login(
        &self,
        username: Option<&Username>,
        addr: Option<IpAddr>,
        now: i64,
    ) -> Result<LoginAttempt, u64> {
        let l = self.login;
        let mut t = self.tables();
        t.login_addrs
            .try_hit(&address_key(addr), l.attempts_per_ip, l.window_secs, now)?;
        let user_key = username.map(Username::key);
        if let Some(key) = &user_key {
            t.login_users
                .try_hit(key, l.failures_per_user, l.window_secs, now)?;
        }
        Ok(LoginAttempt { user_key, at: now })
    }

    /// The attempt logged in: it is not a failure of its username.
    pub fn login_succeeded(&self, attempt: LoginAttempt) {
        if let Some(key) = &attempt.user_key {
            self.tables()
                .login_users
                .refund(key, self.login.window_secs, attempt.at);
        }
    }

    /// Counts a registration attempt from `addr`, whatever its outcome (each valid one costs
    /// a hash, and every answer says whether a name is taken); `Err(secs)` = 429.
    pub fn begin_registration(&self, addr: Option<IpAddr>, now: i64) -> Result<(), u64> {
        let r = self.register;
        self.tables().registrations.try_hit(
            &address_key(addr),
            r.attempts_per_ip,
            r.window_secs,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits {
            failures_per_user: 3,
            attempts_per_ip: 5,
            window_secs: 60,
        }
    }

    fn register_limits() -> RegisterLimits {
        RegisterLimits {
            attempts_per_ip: 2,
            window_secs: 600,
        }
    }

    fn limiter() -> RateLimiter {
        RateLimiter::new(limits(), register_limits())
    }

    fn name(s: &str) -> Option<Username> {
        Some(Username::parse(s).expect("valid username"))
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    #[test]
    fn a_username_is_blocked_after_its_failures_until_the_window_ends() {
        let l = limiter();
        for _ in 0..3 {
            assert!(l.begin_login(name("bob").as_ref(), ip(1), 100).is_ok());
        }
        assert_eq!(
            l.begin_login(name("bob").as_ref(), ip(2), 110).map(|_| ()),
            Err(50)
        );
        assert!(l.begin_login(name("alice").as_ref(), ip(2), 110).is_ok());
        assert!(l.begin_login(name("bob").as_ref(), ip(3), 160).is_ok());
    }

    #[test]
    fn an_address_is_blocked_after_its_attempts_whatever_the_username() {
        let l = limiter();
        for i in 0..5 {
            assert!(
                l.begin_login(name(&format!("u{i}x")).as_ref(), ip(1), 0)
                    .is_ok()
            );
        }
        assert_eq!(
            l.begin_login(name("other").as_ref(), ip(1), 1).map(|_| ()),
            Err(59)
        );
        assert!(l.begin_login(name("other").as_ref(), ip(2), 1).is_ok());
    }

    #[test]
    fn attempts_count_when_they_start_so_parallel_ones_cannot_pass_the_limit() {
        let l = limiter();
        // Three attempts in flight, none finished: the fourth is refused already.
        let in_flight: Vec<_> = (0..3)
            .map(|i| {
                l.begin_login(name("bob").as_ref(), ip(i), 0)
                    .expect("allowed")
            })
            .collect();
        assert!(l.begin_login(name("bob").as_ref(), ip(9), 0).is_err());
        drop(in_flight);
    }

    #[test]
    fn a_successful_login_gives_its_attempt_back() {
        let l = limiter();
        for i in 0..10 {
            let attempt = l.begin_login(name("bob").as_ref(), ip(i), 0);
            l.login_succeeded(attempt.expect("successful logins are not failures"));
        }
        for i in 20..23 {
            assert!(l.begin_login(name("bob").as_ref(), ip(i), 0).is_ok());
        }
        assert!(l.begin_login(name("bob").as_ref(), ip(30), 0).is_err());
    }

    #[test]
    fn a_refund_from_an_earlier_window_does_not_credit_the_current_one() {
        let l = limiter();
        let old = l
            .begin_login(name("bob").as_ref(), ip(1), 0)
            .expect("allowed");
        for _ in 0..3 {
            assert!(l.begin_login(name("bob").as_ref(), ip(2), 100).is_ok());
        }
        l.login_succeeded(old);
        assert!(l.begin_login(name("bob").as_ref(), ip(3), 100).is_err());
    }

    #[test]
    fn usernames_share_a_bucket_whatever_their_case() {
        let l = limiter();
        for n in ["Bob", "BOB", "bob"] {
            assert!(l.begin_login(name(n).as_ref(), ip(1), 0).is_ok());
        }
        assert!(l.begin_login(name("bOb").as_ref(), ip(1), 0).is_err());
    }

    #[test]
    fn an_invalid_username_creates_no_entry_but_counts_against_the_address() {
        let l = limiter();
        for _ in 0..5 {
            assert!(l.begin_login(None, ip(1), 0).is_ok());
        }
        assert_eq!(l.tables().login_users.len(), 0);
        assert!(l.begin_login(None, ip(1), 0).is_err());
    }

    #[test]
    fn the_tables_never_grow_past_their_cap() {
        let l = RateLimiter::with_capacity(limits(), register_limits(), 16);
        for i in 0..1_000u32 {
            let n = format!("user{i}");
            let _ = l.begin_login(name(&n).as_ref(), Some(IpAddr::from(i.to_be_bytes())), 0);
            let t = l.tables();
            assert!(t.login_users.len() <= 16 && t.login_addrs.len() <= 16);
        }
    }

    #[test]
    fn a_full_table_drops_expired_windows_before_live_ones() {
        let mut c = Counters::new(4);
        for (key, at) in [("old1", 0), ("old2", 0), ("live1", 50), ("live2", 50)] {
            c.try_hit(key, 3, 60, at).expect("allowed");
        }
        c.try_hit("new", 3, 60, 70).expect("allowed");
        let mut keys: Vec<_> = c.map.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["live1", "live2", "new"]);
    }

    #[test]
    fn a_table_full_of_live_windows_evicts_the_oldest() {
        let mut c = Counters::new(8);
        for i in 0..8 {
            c.try_hit(&format!("k{i}"), 3, 60, i).expect("allowed");
        }
        c.try_hit("new", 3, 60, 10).expect("allowed");
        assert_eq!(c.len(), 8);
        assert!(!c.map.contains_key("k0"));
        assert!(c.map.contains_key("k1") && c.map.contains_key("new"));
    }

    #[test]
    fn registrations_are_limited_per_address_apart_from_logins() {
        let l = limiter();
        assert!(l.begin_registration(ip(1), 0).is_ok());
        assert!(l.begin_registration(ip(1), 10).is_ok());
        assert_eq!(l.begin_registration(ip(1), 20), Err(580));
        assert!(l.begin_registration(ip(2), 20).is_ok());
        assert!(
            l.begin_login(None, ip(1), 20).is_ok(),
            "logins have their own limit"
        );
        assert!(l.begin_registration(ip(1), 600).is_ok());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(Some(a)), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_ne!(address_key(Some(a)), address_key(Some(other)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(address_key(Some(mapped)), "192.0.2.7");
        assert_eq!(address_key(None), "unknown");
    }

    #[test]
    fn ipv6_addresses_in_one_64_share_the_login_limit() {
        let l = limiter();
        for i in 0..5u16 {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 7, i, i, i, i);
            assert!(l.begin_login(None, Some(addr.into()), 0).is_ok());
        }
        let next = Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 9, 9, 9, 9);
        assert!(l.begin_login(None, Some(next.into()), 0).is_err());
    }
}
