//! `tributary catalog search`: the catalog's search from the command line.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::Failure;
use super::schema::client::{CliError, RegistryClient};

/// The catalog of a running server.
#[derive(Debug, clap::Args)]
pub(crate) struct CatalogArgs {
    #[command(flatten)]
    global: super::server_args::ServerArgs,

    #[command(subcommand)]
    command: CatalogCommand,
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Search event types by name, description, field paths and docs, tags, owners and
    /// producers (typos tolerated; no query syntax). Prints one line per hit, then the facets.
    Search {
        /// Words to look for; none lists every event type.
        words: Vec<String>,
        /// Only this team's event types.
        #[arg(long)]
        owner: Option<String>,
        /// Only event types with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only this quality band: good, fair or poor.
        #[arg(long)]
        quality: Option<String>,
        /// Most hits to print (1–100).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

pub(crate) async fn run(args: CatalogArgs) -> Result<(), Failure> {
    let fail = |error: CliError| Failure {
        message: super::schema::message(&error),
        exit_code: error.exit_code(),
    };
    let client = RegistryClient::new(&args.global.server, args.global.timeout).map_err(fail)?;
    let CatalogCommand::Search {
        words,
        owner,
        tag,
        quality,
        limit,
    } = &args.command;
    let q = words.join(" ");
    let limit = limit.to_string();
    let query = [
        ("q", q.as_str()),
        ("owner", owner.as_deref().unwrap_or("")),
        ("tag", tag.as_deref().unwrap_or("")),
        ("quality", quality.as_deref().unwrap_or("")),
        ("limit", limit.as_str()),
    ];
    let results: Value = client
        .v1(Method::GET, &["search"], &query, None)
        .await
        .map_err(fail)?;
    if args.global.json {
        println!("{results}");
    } else {
        print!("{}", render(&results));
    }
    Ok(())
}

/// One line per hit (name, owner, the first line of the description, what matched), then
/// the total and the facets.
fn render(results: &Value) -> String {
    use std::fmt::Write;

    let mut out = String::new();
    let hits = results["hits"].as_array().cloned().unwrap_or_default();
    for hit in &hits {
        let description = hit["description"].as_str().unwrap_or("");
        let first: String = description
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(80)
            .collect();
        let matched: Vec<&str> = hit["matched"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  ({})  {first}{}",
            hit["name"].as_str().unwrap_or("?"),
            hit["owner"].as_str().unwrap_or("?"),
            if matched.is_empty() {
                String::new()
            } else {
                format!("  [matched: {}]", matched.join(", "))
            }
        );
    }
    let total = results["total"].as_u64().unwrap_or(0);
    let _ = writeln!(out, "{total} event type(s) match; {} shown", hits.len());
    for (facet, label) in [
        ("owners", "owners"),
        ("tags", "tags"),
        ("quality", "quality"),
    ] {
        let counts: Vec<String> = results["facets"][facet]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .map(|p| format!("{} {}", p[0].as_str().unwrap_or("?"), p[1]))
                    .collect()
            })
            .unwrap_or_default();
        if !counts.is_empty() {
            let _ = writeln!(out, "  {label}: {}", counts.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_then_facets() {
        let results = serde_json::json!({
            "total": 2,
            "hits": [
                {"name": "orders.placed", "owner": "orders", "description": "An order.\nMore.", "score": 3.0, "matched": ["name"]},
                {"name": "orders.shipped", "owner": "logistics", "description": "", "score": 1.0, "matched": []}
            ],
            "facets": {"owners": [["orders", 1], ["logistics", 1]], "tags": [], "quality": [["good", 2]]}
        });
        assert_eq!(
            render(&results),
            "orders.placed  (orders)  An order.  [matched: name]\n\
             orders.shipped  (logistics)  \n\
             2 event type(s) match; 2 shown\n  owners: orders 1, logistics 1\n  quality: good 2\n"
        );
    }
}
