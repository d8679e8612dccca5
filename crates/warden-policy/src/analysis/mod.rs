//! Policy analysis: what the policy says about whole classes of requests, not one request.
//!
//! - [`plan`]: for one (subject, action, object type), the residual condition over the
//!   object's attributes that decides exactly like [`crate::decide::Policy::decide`] (a list
//!   endpoint turns it into a database filter).
//!
//! Everything here goes through the policy's public shape (`Policy::explain`, `Subject`,
//! `Object`, `Rule`), so a new dimension of the request (a tenant) is one more input.

pub mod cond;
pub mod plan;

pub use cond::{AttrType, Cmp, Cond, Schema};
pub use plan::{Plan, PlanKind, plan, residual};

#[cfg(test)]
mod tests;
