//! Integration tests over the real router, each on a fresh temporary SQLite database.

mod admin;
mod architecture;
mod auth;
mod authz;
mod canonical;
mod catchup;
mod cli;
mod console;
mod errors;
mod etag;
mod forward;
mod head;
mod helpers;
mod keys;
mod lockout;
mod matrices;
mod openapi;
mod operations;
mod partition;
mod scaleout;
mod server;
mod service_accounts;
mod sessions;
mod storage;
mod tokens;
