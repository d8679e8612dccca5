//! Automatic batching: concurrent [`Authed::check`] calls with the same token (and minimum
//! version) are queued for [`Options::batch_window`](crate::Options::batch_window), then sent
//! as `/v1/check` requests of up to [`Options::batch_size`](crate::Options::batch_size) checks;
//! a full batch is sent at once.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::{Authed, Check, Decided, Error, Result};

type Waiter = (Check, oneshot::Sender<Result<Decided>>);
/// Checks are batched per token and minimum version.
type Key = (std::sync::Arc<str>, Option<i64>);

/// Queues by (token, minimum version).
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    queues: Mutex<HashMap<Key, Vec<Waiter>>>,
}

impl Batcher {
    /// Queues `check` and waits for its answer.
    pub(crate) async fn ask(who: &Authed, check: Check) -> Result<Decided> {
        let inner = &who.client.inner;
        let size = inner.options.batch_size.clamp(1, 100);
        let key = (who.token.clone(), who.min_version);
        let (tx, rx) = oneshot::channel();
        let (first, full) = {
            let mut queues = inner
                .batcher
                .queues
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let queue = queues.entry(key.clone()).or_default();
            queue.push((check, tx));
            let first = queue.len() == 1;
            let full = (queue.len() >= size).then(|| std::mem::take(queue));
            if full.is_some() {
                queues.remove(&key);
            }
            (first, full)
        };
        if let Some(batch) = full {
            tokio::spawn(send(who.clone(), batch));
        } else if first {
            let who = who.clone();
            let window = inner.options.batch_window;
            tokio::spawn(async move {
                tokio::time::sleep(window).await;
                let batch = who
                    .client
                    .inner
                    .batcher
                    .queues
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&key);
                if let Some(batch) = batch {
                    send(who, batch).await;
                }
            });
        }
        rx.await
            .map_err(|_| Error::Unexpected("the batch was dropped".into()))?
    }
}

/// Sends one batch and hands each waiter its answer (or the batch's error).
async fn send(who: Authed, batch: Vec<Waiter>) {
    let (checks, waiters): (Vec<Check>, Vec<_>) = batch.into_iter().unzip();
    match who.post_checks(&checks).await {
        Ok(response) => {
            for (result, tx) in response.results.into_iter().zip(waiters) {
                let _ = tx.send(Ok(Decided {
                    result,
                    policy_version: response.policy_version,
                }));
            }
        }
        Err(e) => {
            for tx in waiters {
                let _ = tx.send(Err(e.duplicate()));
            }
        }
    }
}
