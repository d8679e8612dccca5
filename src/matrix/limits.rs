//! Bounded work for matrix runs.
//!
//! A matrix names its own size (subjects x domains x objects x actions), so a few kilobytes of
//! YAML can ask for billions of cells. Every run is therefore sized with checked arithmetic
//! *before* anything is allocated, and a server run additionally:
//! - is refused above [`RunLimits::max_cells`] (the API's documented limit),
//! - takes one of [`RunLimits::concurrent`] slots, or is refused at once (no queue),
//! - runs on a blocking thread, never on the async workers, with one evaluation thread,
//! - stops cooperatively at [`RunLimits::deadline`] (or when its request is dropped): the
//!   evaluation loop checks its [`Budget`] every [`CHECK_EVERY`] cells.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::MatrixError;

/// Most cells a matrix run through the admin API may have (all matrices of one request).
pub const API_MAX_CELLS: usize = 100_000;
/// Most cells `warden matrix check` evaluates per file: far more than the API, but never so
/// many that the process runs out of memory instead of answering.
pub const CLI_MAX_CELLS: usize = 5_000_000;
/// Matrix runs the API performs at once; more are refused with 503 `busy`.
pub const API_CONCURRENT_RUNS: usize = 2;
/// Longest an API matrix run may evaluate before it is stopped with 503 `timeout`.
pub const API_DEADLINE: Duration = Duration::from_secs(10);
/// Cells evaluated between two looks at the budget.
pub const CHECK_EVERY: usize = 64;

/// Limits of server-side matrix runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Most cells per request.
    pub max_cells: usize,
    /// Runs at once.
    pub concurrent: usize,
    /// Longest evaluation.
    pub deadline: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            max_cells: API_MAX_CELLS,
            concurrent: API_CONCURRENT_RUNS,
            deadline: API_DEADLINE,
        }
    }
}

/// How long a run may take and on how many threads. Cheap to check; shared by the threads of
/// one run.
#[derive(Debug)]
pub struct Budget {
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    threads: Option<usize>,
    extra_work: Option<usize>,
}

impl Budget {
    /// No deadline, every core (the CLI and tests).
    pub fn unlimited() -> Self {
        Self {
            deadline: None,
            stop: Arc::new(AtomicBool::new(false)),
            threads: None,
            extra_work: None,
        }
    }

    /// Until `deadline`, on one thread, with at most `extra_work` cell re-evaluations for
    /// optional analyses (coverage).
    pub fn until(deadline: Instant, extra_work: usize) -> Self {
        Self {
            deadline: Some(deadline),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Some(1),
            extra_work: Some(extra_work),
        }
    }

    /// Most re-evaluations optional analyses may do (None: their own default).
    pub fn extra_work(&self) -> Option<usize> {
        self.extra_work
    }

    /// Evaluation threads this run may use (None: every core).
    pub fn threads(&self) -> Option<usize> {
        self.threads
    }

    /// True once the deadline has passed or the run was cancelled; stays true.
    pub fn exhausted(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stop.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The error a run returns when it stops early.
    pub fn stopped() -> MatrixError {
        MatrixError::Stopped
    }

    /// Stops the run at its next check.
    pub fn cancel(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Why a server run was not completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// More cells than allowed (`None`: more than the machine can count).
    TooLarge {
        /// Cells asked for.
        cells: Option<usize>,
        /// The limit.
        max: usize,
    },
    /// Every run slot is taken.
    Busy,
    /// The deadline passed (or the request went away) before the run finished.
    TimedOut,
    /// The matrix cannot be run (unknown dimension, invalid policy...).
    Invalid(MatrixError),
    /// The blocking task failed (a panic): an internal error.
    Failed(String),
}

/// A reserved run slot; released when dropped (by the blocking task, so a run whose request
/// went away keeps its slot until it has actually stopped).
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Admission control for server-side matrix runs.
#[derive(Debug, Clone)]
pub struct RunGate {
    limits: RunLimits,
    slots: Arc<Semaphore>,
}

impl RunGate {
    /// A gate with these limits.
    pub fn new(limits: RunLimits) -> Self {
        Self {
            limits,
            slots: Arc::new(Semaphore::new(limits.concurrent.max(1))),
        }
    }

    /// The limits.
    pub fn limits(&self) -> RunLimits {
        self.limits
    }

    /// Refuses a run of more than [`RunLimits::max_cells`] cells (None: the count overflowed).
    pub fn size(&self, cells: Option<usize>) -> Result<(), RunError> {
        match cells {
            Some(n) if n <= self.limits.max_cells => Ok(()),
            _ => Err(RunError::TooLarge {
                cells,
                max: self.limits.max_cells,
            }),
        }
    }

    /// Admits a run of `cells` cells (None: the count overflowed): the size is checked first,
    /// then a slot is taken without waiting.
    pub fn admit(&self, cells: Option<usize>) -> Result<Slot, RunError> {
        self.size(cells)?;
        self.slots
            .clone()
            .try_acquire_owned()
            .map(|p| Slot { _permit: p })
            .map_err(|_| RunError::Busy)
    }

    /// Runs `work` on a blocking thread within the deadline. `work` gets the budget to check;
    /// it may drive async code with `Handle::block_on` (the runtime is entered). If this
    /// future is dropped, the work is told to stop.
    pub async fn run<T: Send + 'static>(
        &self,
        slot: Slot,
        work: impl FnOnce(&Budget) -> Result<T, MatrixError> + Send + 'static,
    ) -> Result<T, RunError> {
        let budget = Budget::until(Instant::now() + self.limits.deadline, self.limits.max_cells);
        let stop = StopOnDrop(budget.stop.clone());
        let handle = tokio::runtime::Handle::current();
        let joined = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _entered = handle.enter();
            let out = work(&budget);
            (out, budget.exhausted())
        })
        .await;
        drop(stop);
        // A run that finished is answered even if the deadline passed meanwhile; one that
        // failed after its budget ran out was stopped, whatever it says.
        match joined {
            Ok((Ok(v), _)) => Ok(v),
            Ok((Err(_), true)) => Err(RunError::TimedOut),
            Ok((Err(e), false)) => Err(RunError::Invalid(e)),
            Err(e) => Err(RunError::Failed(e.to_string())),
        }
    }
}

/// Cancels a run when the request waiting for it is dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_larger_than_the_limit_or_uncountable_is_refused_before_any_slot_is_taken() {
        let gate = RunGate::new(RunLimits {
            max_cells: 10,
            concurrent: 1,
            deadline: Duration::from_secs(1),
        });
        assert!(matches!(
            gate.admit(Some(11)),
            Err(RunError::TooLarge { .. })
        ));
        assert!(matches!(gate.admit(None), Err(RunError::TooLarge { .. })));
        let held = gate.admit(Some(10)).expect("fits");
        assert_eq!(gate.admit(Some(1)).err(), Some(RunError::Busy));
        drop(held);
        assert!(gate.admit(Some(1)).is_ok());
    }

    #[tokio::test]
    async fn a_run_that_checks_its_budget_stops_at_the_deadline() {
        let gate = RunGate::new(RunLimits {
            max_cells: 10,
            concurrent: 1,
            deadline: Duration::from_millis(50),
        });
        let slot = gate.admit(Some(1)).expect("slot");
        let started = Instant::now();
        let r = gate
            .run(slot, |budget| {
                while !budget.exhausted() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err::<(), _>(Budget::stopped())
            })
            .await;
        assert_eq!(r, Err(RunError::TimedOut));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
