//! `tributary migrate [--check]`.

use tributary_core::Database;

use crate::cli::Failure;
use crate::config::Config;

pub(crate) async fn run(config: &Config, check: bool) -> Result<(), Failure> {
    if config.database_url.starts_with("sqlite:") {
        crate::serve::prepare_data_dir(&config.data_dir)?;
    }
    let db = connect(config).await?;
    let result = if check {
        let report = db.migration_report().await.map_err(Failure::runtime)?;
        print!("{report}");
        if report.is_current() {
            println!("database {} is current", config.database_url_redacted());
            Ok(())
        } else {
            Err(Failure::runtime(format!(
                "database {} is not current: run `tributary migrate` (or start the server) to apply pending migrations",
                config.database_url_redacted()
            )))
        }
    } else {
        let report = db.migrate().await.map_err(Failure::runtime)?;
        print!("{report}");
        println!("database {} is current", config.database_url_redacted());
        Ok(())
    };
    db.close().await;
    result
}

/// Opens the metadata database, with a message naming it on failure.
pub(crate) async fn connect(config: &Config) -> Result<Database, Failure> {
    Database::connect(&config.database_url, config.database_connect_timeout)
        .await
        .map_err(|e| {
            Failure::runtime(format!(
                "cannot open the metadata database {}: {e}",
                config.database_url_redacted()
            ))
        })
}
