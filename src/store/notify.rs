//! Change notifications between instances sharing one Postgres database.
//!
//! Triggers (`migrations/postgres/0004_announce_changes.sql`) announce every committed change
//! on the channel [`CHANNEL`]; a [`Subscription`] turns those into [`Change`]s. Notifications
//! are transient: any sent while the listening connection was down are lost, so a lost
//! connection is re-established and reported as [`Change::Resync`], after which the subscriber
//! must compare versions and drop cached accounts (the periodic version check is the second
//! net). SQLite has no notifications: [`Db::subscribe`] returns None there.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use super::{Backend, Db};

/// The channel the triggers notify.
pub const CHANNEL: &str = "warden_changes";
/// `application_name` of the listening connection (operators see it in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "warden-listen";
/// Wait between attempts to re-establish a lost listening connection.
const RETRY: Duration = Duration::from_secs(1);

/// One announced change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The policy version moved to this (rules, assignments or an account edit).
    Policy(i64),
    /// An account row changed or was deleted.
    Account(i64),
    /// A refresh-token family was revoked.
    Session(String),
    /// The listening connection was (re-)established: changes may have been missed.
    Resync,
}

impl Change {
    /// Parses a notification payload; None for one this version does not know.
    pub fn parse(payload: &str) -> Option<Self> {
        let (kind, arg) = payload.split_once(' ')?;
        match kind {
            "policy" => arg.parse().ok().map(Change::Policy),
            "account" => arg.parse().ok().map(Change::Account),
            "session" => Some(Change::Session(arg.to_owned())),
            _ => None,
        }
    }
}

/// A stream of [`Change`]s that survives lost connections.
#[derive(Debug)]
pub struct Subscription {
    url: std::sync::Arc<str>,
    listener: Option<PgListener>,
}

impl Db {
    /// Subscribes to the changes of every instance on this database (Postgres only). The first
    /// [`Subscription::next`] connects and answers [`Change::Resync`].
    pub fn subscribe(&self) -> Option<Subscription> {
        (self.backend() == Backend::Postgres).then(|| Subscription {
            url: self.url.clone(),
            listener: None,
        })
    }
}

impl Subscription {
    /// The next change. Never fails: a lost connection is re-established (retrying every
    /// second, with a warning each time) and reported as [`Change::Resync`].
    pub async fn next(&mut self) -> Change {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match listen(&self.url).await {
                    Ok(l) => {
                        self.listener = Some(l);
                        return Change::Resync;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for changes of other instances; retrying");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(n)) => match Change::parse(n.payload()) {
                    Some(change) => return change,
                    None => tracing::warn!(payload = n.payload(), "unknown change notification"),
                },
                // lost and already reconnected: whatever was sent meanwhile is gone
                Ok(None) => return Change::Resync,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection that listens for changes of other instances");
                    self.listener = None;
                }
            }
        }
    }
}

impl Subscription {
    /// A change already received and not yet returned, without waiting (to drain a burst).
    pub fn buffered(&mut self) -> Option<Change> {
        let listener = self.listener.as_mut()?;
        while let Some(n) = listener.next_buffered() {
            if let Some(change) = Change::parse(n.payload()) {
                return Some(change);
            }
        }
        None
    }
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name(APPLICATION_NAME))
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_and_unknown_ones_are_refused() {
        assert_eq!(Change::parse("policy 42"), Some(Change::Policy(42)));
        assert_eq!(Change::parse("account 7"), Some(Change::Account(7)));
        assert_eq!(
            Change::parse("session ab-cd"),
            Some(Change::Session("ab-cd".into()))
        );
        for bad in ["policy", "policy x", "account", "rules 1", "", "policy  1"] {
            assert_eq!(Change::parse(bad), None, "{bad}");
        }
    }
}
