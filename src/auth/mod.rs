//! Authentication: accounts, passwords, tokens and the `/v1/auth` routes.

pub mod client;
pub mod domain;
pub mod keys;
pub mod password;
pub mod principal;
pub mod ratelimit;
pub mod routes;
pub mod tokens;

pub use routes::{protected_router, public_router};
