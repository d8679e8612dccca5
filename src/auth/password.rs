//! argon2id hashing off the async runtime, bounded so a burst of logins cannot starve
//! other requests, with a dummy hash so unknown users cost the same as known ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords on its own `permits` threads, at most `permits` at a time.
///
/// Own threads rather than tokio's blocking pool: each argon2id hash allocates 19 MiB, and
/// glibc keeps such a block in the arena of every thread that ever hashed (its mmap threshold
/// rises after the first one is freed). On the blocking pool that is any number of threads
/// (30 registrations took a server from 34 to 192 MB); here it is `permits` blocks at most.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    jobs: std::sync::mpsc::SyncSender<Job>,
    dummy_hash: Arc<str>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

type Job = Box<dyn FnOnce() + Send>;

/// How the hashing threads are scheduled against the request path (`--hashing-nice`,
/// `--hashing-idle`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Priority {
    /// How far below normal priority (a nice value, 0-19).
    pub nice: i32,
    /// Linux's `SCHED_IDLE` policy: a request-path thread that wakes up takes the core from
    /// a hash at once, where a nice value only shortens the hash's share over time.
    pub idle: bool,
}

/// Lowers the calling thread's scheduling priority as `priority` says (on Linux the nice value
/// and the policy are per thread). A failure leaves the thread at normal priority: hashing
/// stays correct.
fn lower_priority(priority: Priority) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid, setpriority and sched_setscheduler take plain integers and a
        // pointer to a parameter block that lives across the call; with PRIO_PROCESS and a
        // thread id (or pid 0: the calling thread) they change only this thread.
        unsafe {
            let tid = libc::gettid();
            if priority.nice > 0 {
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, priority.nice);
            }
            if priority.idle {
                let param = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
}

/// Starts `n` hashing threads taking jobs from one queue, each at `priority`; they end when
/// every sender is gone.
fn hashing_threads(
    n: usize,
    priority: Priority,
) -> Result<std::sync::mpsc::SyncSender<Job>, HashError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(n);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                lower_priority(priority);
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job must not take its thread (and its permit's
                        // capacity) with it; its caller sees the dropped result channel.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| HashError(e.to_string()))?;
    }
    Ok(tx)
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// Hashing failed (never the password's content in the message).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// OWASP's first argon2id row: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, HashError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

impl Hasher {
    /// Builds a hasher allowing `permits` concurrent hashes (at least 1), at normal priority.
    /// Computes the dummy hash once, so it has the same parameters as real ones.
    pub async fn new(permits: usize) -> Result<Self, HashError> {
        Self::with_priority(permits, Priority::default()).await
    }

    /// [`Hasher::new`] with hashing threads at `priority` (`--hashing-nice`,
    /// `--hashing-idle`): a burst of logins then takes CPU from the request path only when
    /// the request path leaves it.
    pub async fn with_priority(permits: usize, priority: Priority) -> Result<Self, HashError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| HashError(e.to_string()))?;
        let dummy_password = hex::encode(seed);
        let dummy_hash = tokio::task::spawn_blocking(move || hash_blocking(&dummy_password))
            .await
            .map_err(|e| HashError(e.to_string()))??;
        let permits = permits.max(1);
        Ok(Self {
            permits: Arc::new(Semaphore::new(permits)),
            jobs: hashing_threads(
                permits,
                Priority {
                    nice: priority.nice.clamp(0, 19),
                    ..priority
                },
            )?,
            dummy_hash: dummy_hash.into(),
            running: Arc::default(),
            peak: Arc::default(),
            finished: Arc::default(),
        })
    }

    /// The most hashes that ever ran at once (observability, and proof of the bound).
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// How many hashes and verifications have finished (proof that every path of a grant
    /// does the same work: tests compare it across answers).
    pub fn hashes_finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Runs one argon2 job on a hashing thread, counted against the bound.
    ///
    /// The permit is owned by the job, not by this future: a request that is cancelled
    /// (client gone, request timeout) drops this future, but a running hash cannot be
    /// stopped, so its permit must stay taken until the hash itself has finished. A job is
    /// queued only with a permit, so it always finds an idle thread.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let (running, peak) = (self.running.clone(), self.peak.clone());
        let finished = self.finished.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let out = job();
            running.fetch_sub(1, Ordering::SeqCst);
            finished.fetch_add(1, Ordering::SeqCst);
            drop(permit);
            let _ = done.send(out);
        });
        self.jobs
            .try_send(job)
            .map_err(|_| HashError("no hashing thread is free".into()))?;
        result
            .await
            .map_err(|_| HashError("the hashing thread stopped".into()))
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// A hash nobody can match: of 256 random bits that are then forgotten. It takes the same
    /// time to (fail to) verify as a real one, so a login to an account waiting for its
    /// password (created without one, or reset) confirms nothing.
    pub async fn unusable_hash(&self) -> Result<String, HashError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| HashError(e.to_string()))?;
        self.hash(hex::encode(seed)).await
    }

    /// Verifies a password against a stored hash, or against the dummy hash when there is no
    /// user, so both paths do the same work. Returns true only for a real match.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .run(move || {
                argon2()
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(real && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let h = Hasher::new(1).await.expect("hasher");
        let hash = h.hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            h.verify("correct horse".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !h.verify("wrong horse".into(), Some(hash))
                .await
                .expect("verify")
        );
    }

    /// `--hashing-nice`: the hashing threads run that far below normal priority, and the
    /// caller's threads (the async runtime's) keep theirs.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lower_priority_asked_for() {
        // SAFETY: getpriority and gettid take and return plain integers.
        let nice =
            || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        let own = nice();
        let seven = Priority {
            nice: 7,
            idle: false,
        };
        let h = Hasher::with_priority(1, seven).await.expect("hasher");
        let theirs = h.run(nice).await.expect("job");
        assert_eq!(theirs, (own + 7).min(19), "the hashing thread");
        assert_eq!(nice(), own, "the calling thread is untouched");
        let h = Hasher::new(1).await.expect("hasher");
        assert_eq!(h.run(nice).await.expect("job"), own, "0: normal priority");
    }

    /// `--hashing-idle`: the hashing threads are SCHED_IDLE, the caller's stay as they were.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_are_sched_idle_when_asked() {
        // SAFETY: sched_getscheduler(0) reads the calling thread's policy.
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let own = policy();
        let idle = Priority {
            nice: 0,
            idle: true,
        };
        let h = Hasher::with_priority(1, idle).await.expect("hasher");
        assert_eq!(h.run(policy).await.expect("job"), libc::SCHED_IDLE);
        assert_eq!(policy(), own, "the calling thread is untouched");
        let h = Hasher::new(1).await.expect("hasher");
        assert_eq!(h.run(policy).await.expect("job"), libc::SCHED_OTHER);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_hashes_never_runs_more_than_the_bound_at_once() {
        let h = Hasher::new(2).await.expect("hasher");
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.verify(format!("password-{i}").into(), None).await })
            })
            .collect();
        for j in jobs {
            j.await.expect("join").expect("verify");
        }
        let peak = h.peak_concurrency();
        assert!((1..=2).contains(&peak), "peak {peak}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_verifications_keep_their_permit_until_the_hash_finishes() {
        let h = Hasher::new(1).await.expect("hasher");
        // Each verify is abandoned long before its argon2 job (tens of milliseconds) ends,
        // as a request is when its client disconnects or the request timeout fires.
        for i in 0..4 {
            let cancelled = tokio::time::timeout(
                std::time::Duration::from_millis(2),
                h.verify(format!("password-{i}").into(), None),
            )
            .await;
            assert!(cancelled.is_err(), "verify {i} finished within 2 ms");
        }
        // Waits for the permit, so every job started above has run by the time it returns.
        h.verify("last".into(), None).await.expect("verify");
        assert_eq!(h.peak_concurrency(), 1);
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let h = Hasher::new(1).await.expect("hasher");
        assert!(!h.verify("anything".into(), None).await.expect("verify"));
    }
}
