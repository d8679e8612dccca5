//! Integration tests over the real router, each on a fresh temporary SQLite database.

mod admin;
mod auth;
mod authz;
mod cli;
mod errors;
mod helpers;
mod keys;
mod lockout;
mod matrices;
mod server;
mod sessions;
mod storage;
mod tokens;
