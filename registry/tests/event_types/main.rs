//! The event-type API (`/v1/event-types`) and the ownership guard on the Confluent write
//! routes, in process (`tower::ServiceExt::oneshot`), over a real embedded event log, with
//! one suite instantiated on SQLite and on PostgreSQL.

mod harness;

mod lifecycle;
mod ownership;
mod pii;
mod schemas;

macro_rules! event_types_suite {
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

            case!(lifecycle::create_makes_the_topic_and_answers_the_type);
            case!(lifecycle::duplicates_and_existing_topics);
            case!(lifecycle::invalid_fields_are_named);
            case!(lifecycle::bad_requests_are_problems);
            case!(lifecycle::list_filters_by_owner_and_tag);
            case!(lifecycle::patch_rules_and_audit);
            case!(lifecycle::delete_is_soft_and_audited);
            case!(lifecycle::gateway_settings_are_checked_and_kept);
            case!(ownership::patch_and_delete_need_the_owner_or_an_admin);
            case!(ownership::confluent_writes_need_the_owner);
            case!(ownership::global_settings_need_an_admin);
            case!(ownership::principal_header);
            case!(pii::pii_marks_are_owned_checked_and_audited);
            case!(schemas::register_through_the_native_api);
            case!(schemas::incompatible_schemas_list_each_break);
            case!(schemas::compatibility_is_the_subject_level);
            case!(schemas::schema_changes_are_audited_on_both_apis);
        }
    };
}

event_types_suite!(sqlite, harness::fresh_sqlite);
event_types_suite!(
    postgres,
    harness::fresh_postgres,
    #[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
);
