//! The Confluent-compatible REST API, in process (`tower::ServiceExt::oneshot` on the
//! router), with one suite instantiated on SQLite and on PostgreSQL.

mod harness;

mod basics;
mod concurrency;
mod deletes;
mod evolution;
mod inputs;
mod modes;
mod references;

macro_rules! registry_suite {
    ($backend:ident, $fresh:path $(, #[$meta:meta])*) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($module:ident :: $name:ident) => {
                    $(#[$meta])*
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        $module::$name($fresh().await).await;
                    }
                };
            }

            case!(basics::service_routes_and_unknown_paths);
            case!(basics::register_read_and_list);
            case!(basics::lookup_by_schema);
            case!(basics::validator_cache_serves_compiled_schemas);
            case!(evolution::compatibility_levels_and_checks);
            case!(evolution::transitive_levels_check_every_version);
            case!(evolution::config_endpoints);
            case!(evolution::normalize_registers_equivalent_schemas_once);
            case!(deletes::soft_and_permanent_version_deletes);
            case!(deletes::soft_and_permanent_subject_deletes);
            case!(references::avro_named_type_references);
            case!(references::json_schema_references);
            case!(references::stored_reference_cycle_is_an_error);
            case!(modes::readonly_refuses_writes);
            case!(modes::import_keeps_ids_and_versions);
            case!(inputs::bad_bodies_answer_confluent_errors);
            case!(inputs::bad_schemas_answer_42201_quickly);
            case!(concurrency::instances_register_concurrently);
        }
    };
}

registry_suite!(sqlite, harness::fresh_sqlite);
registry_suite!(
    postgres,
    harness::fresh_postgres,
    #[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
);
