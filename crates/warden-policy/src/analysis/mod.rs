//! Policy analysis: what the policy says about whole classes of requests, not one request.
//!
//! - [`plan`]: for one (subject, action, object type), the residual condition over the
//!   object's attributes that decides exactly like [`crate::decide::Policy::decide`] (a list
//!   endpoint turns it into a database filter).
//! - [`reverse`]: who may do an action on an object (with the rules and role chains that
//!   grant it) and what a subject may do (per object pattern and action, with conditions).
//! - [`review`]: every account's effective permissions, and who gained or lost what between
//!   two policies.
//!
//! Everything here goes through the policy's public shape (`Policy::explain`, `Subject`,
//! `Object`, `Rule`), so a new dimension of the request (a tenant) is one more input.

pub mod cond;
pub mod plan;
pub mod property;
pub mod reverse;
pub mod review;

pub use cond::{AttrType, Cmp, Cond, Schema};
pub use plan::{Plan, PlanKind, plan, residual};
pub use property::{Counterexample, ProofError, Property, prove};
pub use reverse::{Capability, GrantingRule, Grants, granting_rules, role_chain, what_can};
pub use review::{ReviewDiff, ReviewRow, csv, diff, diff_csv, review};

#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;
