//! Producers and their API keys: the `/v1/producers` API, the key store, and the
//! [`tributary_core::KeyVerifier`] the principal middleware uses in `keys` mode.
//!
//! - A producer has a name, an owning team and a description. Admins and members of the
//!   owning team create it, issue, rotate and revoke its keys and set its grants.
//! - A key is `trb_` and 64 hex digits (32 random bytes). It is shown once, in the answer
//!   that issues it; only its SHA-256 is stored, with its first 12 characters (`trb_` and 8
//!   more) as the prefix people use to tell keys apart.
//! - Grants are event-type names or globs whose dot-separated segments may be `*`
//!   (`orders.*`). A producer key publishes only to event types some grant matches.
//! - Verified keys are cached for [`ProducerOptions::cache_ttl`] (default 10 s), so
//!   publishing does not query SQL per request. A revocation or grant change made on this
//!   instance clears the cache at once; other instances see it within the TTL.
//! - Rotation issues a new key and revokes the old one at once, or after `grace_seconds`
//!   (at most a week) when asked, so a fleet can roll the new key out.

mod error;
mod http;
mod store;

pub use error::ProducerError;
pub use http::producer_routes;
pub use store::{
    IssuedKey, KeyView, NewProducer, ProducerOptions, ProducerView, Producers, admin_principal,
};
