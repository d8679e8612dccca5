//! Integration tests over the real router, each on a fresh temporary SQLite database.

mod admin;
mod auth;
mod authz;
mod canonical;
mod cli;
mod errors;
mod helpers;
mod matrices;
mod server;
mod tokens;
