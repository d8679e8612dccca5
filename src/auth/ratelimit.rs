//! Login and registration throttling (OWASP ASVS V6.3: make guessing expensive without
//! letting an attacker lock the real user out).
//!
//! - **Per (account, client)**: each pair may fail [`LoginLimits::free_failures`] times; every
//!   further failure doubles a wait (30 s, 60 s, 120 s, ... up to
//!   [`LoginLimits::backoff_max_secs`]) before that pair may try again. A success clears the
//!   pair. Failures from client X therefore never delay a login of the same account from
//!   client Y: the victim of a guessing attack still logs in.
//! - **Per client**: at most [`LoginLimits::failures_per_client`] failed logins per window,
//!   whatever the names (stops one client spraying many accounts). A client that spent its
//!   budget gets 429 for every login, a correct password included, until the window ends:
//!   checking the password would turn the 429 into a guessing oracle.
//!
//! A client is its address ([`address_key`]); behind a reverse proxy, the address the proxy
//! reports (see [`super::client`]). Guessing one account from many addresses is bounded per
//! address by the backoff and by the cost of argon2, not by a global per-account lock, which
//! would hand every attacker a lock-out.
//!
//! One mutex, held only for map work, never across an await. An attempt is counted when it
//! starts, under the same lock that checks the limits, and a successful login gives it back,
//! so a burst of parallel attempts cannot all pass the check before the first failure lands.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use crate::policy::username::Username;

/// Login rate-limit settings (`--login-*`; see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failures one (account, client) pair may have before it backs off.
    pub free_failures: u32,
    /// Longest back-off of a pair, in seconds.
    pub backoff_max_secs: i64,
    /// Failures per client address per window, across all names.
    pub failures_per_client: u32,
    /// Window length in seconds (the client budget's, and how long a quiet pair is kept).
    pub window_secs: i64,
}

/// Registration rate-limit settings.
#[derive(Debug, Clone, Copy)]
pub struct RegisterLimits {
    /// Registration attempts (successful or not) per client address per window.
    pub attempts_per_ip: u32,
    /// Window length in seconds.
    pub window_secs: i64,
}

/// Most keys one table tracks. A full table first drops its expired entries, then its oldest
/// live ones, so memory stays bounded whatever names or addresses clients send.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// First wait once a pair has used its free failures; each further failure doubles it.
pub const BACKOFF_BASE_SECS: i64 = 30;

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

    fn make_room(&mut self, window: i64, now: i64) {
        make_room(
            &mut self.map,
            self.cap,
            |w| w.started,
            |w| now < w.started + window,
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Makes room for one more key in a table of at most `cap`: drops dead entries and, if the
/// table is still full, the oldest eighth of it by `stamp` in one pass (so a flood of new
/// keys costs O(1) each on average).
fn make_room<V>(
    map: &mut HashMap<String, V>,
    cap: usize,
    stamp: impl Fn(&V) -> i64,
    live: impl Fn(&V) -> bool,
) {
    if map.len() < cap {
        return;
    }
    map.retain(|_, v| live(v));
    if map.len() < cap {
        return;
    }
    let evict = (cap / 8).max(1);
    let mut stamps: Vec<i64> = map.values().map(&stamp).collect();
    let (_, &mut cutoff, _) = stamps.select_nth_unstable(evict - 1);
    // Entries stamped before `cutoff` all go; of those stamped at `cutoff`, just enough.
    let mut at_cutoff = evict - stamps[..evict].iter().filter(|&&s| s < cutoff).count();
    map.retain(|_, v| {
        let s = stamp(v);
        if s < cutoff {
            false
        } else if s == cutoff && at_cutoff > 0 {
            at_cutoff -= 1;
            false
        } else {
            true
        }
    });
}

/// Failures of one (account, client) pair.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// Failures (and attempts in flight) since the pair's last success.
    failures: u32,
    /// Time of the last counted attempt.
    last: i64,
    /// No attempt before this time.
    blocked_until: i64,
}

/// The per (account, client) table, at most `cap` pairs.
#[derive(Debug)]
struct Pairs {
    map: HashMap<String, Pair>,
    cap: usize,
}

impl Pairs {
    /// Wait after the `failures`-th failure of a pair (0 while the free failures last).
    fn backoff(l: &LoginLimits, failures: u32) -> i64 {
        if failures < l.free_failures {
            return 0;
        }
        let doublings = (failures - l.free_failures).min(30);
        BACKOFF_BASE_SECS
            .saturating_mul(1_i64 << doublings)
            .min(l.backoff_max_secs)
    }

    /// A pair is forgotten once it has stayed quiet for a window after its wait ended.
    fn live(l: &LoginLimits, p: &Pair, now: i64) -> bool {
        now < p.blocked_until + l.window_secs
    }

    /// `Err(secs)` if the pair must wait; nothing is counted then.
    fn check(&mut self, key: &str, l: &LoginLimits, now: i64) -> Result<(), u64> {
        if let Some(p) = self.map.get(key) {
            if !Self::live(l, p, now) {
                self.map.remove(key);
            } else if p.blocked_until > now {
                return Err(u64::try_from(p.blocked_until - now).unwrap_or(1));
            }
        }
        Ok(())
    }

    /// Counts an attempt as a failure of the pair (a success gives it back with `clear`).
    fn hit(&mut self, key: &str, l: &LoginLimits, now: i64) {
        if !self.map.contains_key(key) {
            make_room(
                &mut self.map,
                self.cap,
                |p| p.last,
                |p| Self::live(l, p, now),
            );
        }
        let p = self.map.entry(key.to_owned()).or_insert(Pair {
            failures: 0,
            last: now,
            blocked_until: now,
        });
        p.failures = p.failures.saturating_add(1);
        p.last = now;
        p.blocked_until = now + Self::backoff(l, p.failures);
    }

    /// A success from this pair: its failures are forgiven.
    fn clear(&mut self, key: &str) {
        self.map.remove(key);
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
    login_pairs: Pairs,
    login_clients: Counters,
    registrations: Counters,
}

/// The rate limiter shared by the auth routes.
#[derive(Debug)]
pub struct RateLimiter {
    login: LoginLimits,
    register: RegisterLimits,
    tables: Mutex<Tables>,
}

/// A login attempt, counted as a failure of its (account, client) pair and its client until
/// [`RateLimiter::login_succeeded`] gives it back.
#[derive(Debug)]
#[must_use = "a successful login must give its attempt back"]
pub struct LoginAttempt {
    pair_key: Option<String>,
    client_key: String,
    at: i64,
}

/// The pair table's key: the account's lower-cased name and the client key, separated by a
/// character neither can hold.
fn pair_key(user: &Username, client: &str) -> String {
    format!("{}\u{0}{client}", user.key())
}

impl RateLimiter {
    /// A limiter with the given limits, tracking at most [`MAX_TRACKED_KEYS`] keys per table.
    pub fn new(login: LoginLimits, register: RegisterLimits) -> Self {
        Self::with_capacity(login, register, MAX_TRACKED_KEYS)
    }

    /// A limiter tracking at most `cap` keys per table.
    pub fn with_capacity(login: LoginLimits, register: RegisterLimits, cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            login,
            register,
            tables: Mutex::new(Tables {
                login_pairs: Pairs {
                    map: HashMap::new(),
                    cap,
                },
                login_clients: Counters::new(cap),
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
    /// so it gets no pair entry (no entry keyed on arbitrary client input), while the
    /// client budget still applies.
    pub fn begin_login(
        &self,
        username: Option<&Username>,
        addr: Option<IpAddr>,
        now: i64,
    ) -> Result<LoginAttempt, u64> {
        let l = self.login;
        let client_key = address_key(addr);
        let pair_key = username.map(|u| pair_key(u, &client_key));
        let mut t = self.tables();
        if let Some(key) = &pair_key {
            t.login_pairs.check(key, &l, now)?;
        }
        t.login_clients
            .try_hit(&client_key, l.failures_per_client, l.window_secs, now)?;
        if let Some(key) = &pair_key {
            t.login_pairs.hit(key, &l, now);
        }
        Ok(LoginAttempt {
            pair_key,
            client_key,
            at: now,
        })
    }

    /// The attempt logged in: it is no failure of its client, and its pair starts afresh.
    pub fn login_succeeded(&self, attempt: LoginAttempt) {
        let mut t = self.tables();
        t.login_clients
            .refund(&attempt.client_key, self.login.window_secs, attempt.at);
        if let Some(key) = &attempt.pair_key {
            t.login_pairs.clear(key);
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
            free_failures: 3,
            backoff_max_secs: 120,
            failures_per_client: 5,
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

    fn fail(l: &RateLimiter, user: &str, client: u8, now: i64) -> Result<(), u64> {
        l.begin_login(name(user).as_ref(), ip(client), now)
            .map(|_| ())
    }

    #[test]
    fn a_pair_backs_off_doubling_after_its_free_failures_up_to_the_cap() {
        let l = limiter();
        for _ in 0..3 {
            assert_eq!(fail(&l, "bob", 1, 0), Ok(()));
        }
        assert_eq!(fail(&l, "bob", 1, 0), Err(30));
        assert_eq!(fail(&l, "bob", 1, 29), Err(1));
        assert_eq!(fail(&l, "bob", 1, 30), Ok(()), "the wait is over");
        assert_eq!(fail(&l, "bob", 1, 31), Err(59), "then twice as long");
        assert_eq!(fail(&l, "bob", 1, 90), Ok(()));
        assert_eq!(fail(&l, "bob", 1, 90), Err(120), "capped at the maximum");
    }

    #[test]
    fn failures_from_one_client_never_delay_the_same_account_from_another() {
        let l = RateLimiter::new(
            LoginLimits {
                failures_per_client: 1_000,
                ..limits()
            },
            register_limits(),
        );
        for _ in 0..50 {
            let _ = fail(&l, "carol", 1, 0);
        }
        assert!(fail(&l, "carol", 1, 1).is_err(), "the attacker waits");
        let carol = l
            .begin_login(name("carol").as_ref(), ip(2), 1)
            .expect("carol's own client is not throttled");
        l.login_succeeded(carol);
    }

    #[test]
    fn a_success_clears_its_pair() {
        let l = limiter();
        for _ in 0..2 {
            assert_eq!(fail(&l, "bob", 1, 0), Ok(()));
        }
        let ok = l
            .begin_login(name("bob").as_ref(), ip(1), 0)
            .expect("third");
        l.login_succeeded(ok);
        for _ in 0..3 {
            assert_eq!(fail(&l, "bob", 1, 1), Ok(()), "three free failures again");
        }
        assert!(fail(&l, "bob", 1, 1).is_err());
    }

    #[test]
    fn a_client_has_a_failure_budget_across_every_name() {
        let l = limiter();
        for i in 0..5 {
            assert_eq!(fail(&l, &format!("u{i}x"), 1, 0), Ok(()));
        }
        assert_eq!(fail(&l, "other", 1, 1), Err(59));
        assert_eq!(
            fail(&l, "other", 2, 1),
            Ok(()),
            "another client is not affected"
        );
        assert_eq!(fail(&l, "other", 1, 60), Ok(()), "a new window");
    }

    #[test]
    fn a_throttled_pair_does_not_spend_its_clients_budget() {
        let l = limiter();
        for _ in 0..3 {
            assert_eq!(fail(&l, "bob", 1, 0), Ok(()));
        }
        for _ in 0..10 {
            assert!(fail(&l, "bob", 1, 0).is_err());
        }
        assert_eq!(fail(&l, "alice", 1, 0), Ok(()), "4 of 5 spent, not 13");
    }

    #[test]
    fn attempts_count_when_they_start_so_parallel_ones_cannot_pass_the_limit() {
        let l = limiter();
        // Three attempts in flight, none finished: the fourth is refused already.
        let in_flight: Vec<_> = (0..3)
            .map(|_| {
                l.begin_login(name("bob").as_ref(), ip(1), 0)
                    .expect("allowed")
            })
            .collect();
        assert!(fail(&l, "bob", 1, 0).is_err());
        drop(in_flight);
    }

    #[test]
    fn successful_logins_spend_no_budget() {
        let l = limiter();
        for _ in 0..20 {
            let attempt = l.begin_login(name("bob").as_ref(), ip(1), 0);
            l.login_succeeded(attempt.expect("successful logins are not failures"));
        }
        for i in 0..5 {
            assert_eq!(fail(&l, &format!("u{i}x"), 1, 0), Ok(()));
        }
        assert!(fail(&l, "bob", 1, 0).is_err());
    }

    #[test]
    fn a_refund_from_an_earlier_window_does_not_credit_the_current_one() {
        let l = limiter();
        let old = l
            .begin_login(name("bob").as_ref(), ip(1), 0)
            .expect("allowed");
        for i in 0..5 {
            assert_eq!(fail(&l, &format!("u{i}x"), 1, 100), Ok(()));
        }
        l.login_succeeded(old);
        assert!(fail(&l, "zed", 1, 100).is_err());
    }

    #[test]
    fn usernames_share_a_pair_whatever_their_case() {
        let l = limiter();
        for n in ["Bob", "BOB", "bob"] {
            assert_eq!(fail(&l, n, 1, 0), Ok(()));
        }
        assert!(fail(&l, "bOb", 1, 0).is_err());
    }

    #[test]
    fn an_invalid_username_creates_no_pair_but_counts_against_the_client() {
        let l = limiter();
        for _ in 0..5 {
            assert!(l.begin_login(None, ip(1), 0).is_ok());
        }
        assert_eq!(l.tables().login_pairs.map.len(), 0);
        assert!(l.begin_login(None, ip(1), 0).is_err());
    }

    #[test]
    fn a_quiet_pair_is_forgotten_a_window_after_its_wait() {
        let l = limiter();
        for _ in 0..3 {
            let _ = fail(&l, "bob", 1, 0);
        }
        assert!(fail(&l, "bob", 1, 20).is_err());
        assert_eq!(
            fail(&l, "bob", 1, 91),
            Ok(()),
            "quiet for a window after the wait"
        );
        assert_eq!(l.tables().login_pairs.map["bob\u{0}192.0.2.1"].failures, 1);
    }

    #[test]
    fn the_tables_never_grow_past_their_cap() {
        let l = RateLimiter::with_capacity(limits(), register_limits(), 16);
        for i in 0..1_000u32 {
            let n = format!("user{i}");
            let _ = l.begin_login(name(&n).as_ref(), Some(IpAddr::from(i.to_be_bytes())), 0);
            let t = l.tables();
            assert!(t.login_pairs.map.len() <= 16 && t.login_clients.len() <= 16);
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
    fn ipv6_addresses_in_one_64_share_the_client_budget() {
        let l = limiter();
        for i in 0..5u16 {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 7, i, i, i, i);
            assert!(l.begin_login(None, Some(addr.into()), 0).is_ok());
        }
        let next = Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 9, 9, 9, 9);
        assert!(l.begin_login(None, Some(next.into()), 0).is_err());
    }
}
