//! Authentication: accounts, passwords, tokens, sessions and rate limits (the `/v1/auth`
//! routes are in `http::auth`).

pub mod accounts;
pub mod client;
pub mod clients;
pub mod domain;
pub mod federation;
pub mod keys;
pub mod lifecycle;
pub mod password;
pub mod principal;
pub mod ratelimit;
pub mod sessions;
pub mod tokens;
