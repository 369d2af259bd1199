//! The gateway benchmark's parts (driven by `bench/gateway.sh`): the shared event and schema,
//! the HTTP load generator, the bare rdkafka floor, `/proc` readings and the summary.

mod driver;
pub(crate) mod events;
pub(crate) mod floor;
pub(crate) mod http_load;
pub(crate) mod procstat;
pub(crate) mod summary;
