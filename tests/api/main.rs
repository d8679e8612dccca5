//! Integration tests over the real router, each on a fresh temporary SQLite database.

mod admin;
mod auth;
mod authz;
mod canonical;
mod cli;
mod errors;
mod etag;
mod helpers;
mod matrices;
mod openapi;
mod server;
mod tokens;
