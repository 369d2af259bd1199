//! End to end: the web UI under `/ui` through the real binary.
//!
//! The first tests read the HTML over plain HTTP (every page answers, carries the security
//! headers, escapes hostile text, refuses cross-site and non-owner changes, survives hostile
//! queries). The `browser` tests drive a real headless Chromium through chromedriver: a typo
//! search from the home page finds an event type by a word of a field doc, the event page
//! shows a two-version diff and a quality chart, an XSS payload in a description and a field
//! name renders as text (and never runs), an owner edits the description through the
//! form, and the replay page follows a running job to its end. Screenshots land in `target/test-artifacts/ui/` (or `$TRIBUTARY_TEST_ARTIFACTS/ui`).

// Synchronous tests (no async runtime to block), so std::thread::sleep is fine here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{Browser, Server, answer, post_json as post};
use serde_json::json;

const TYPE: &str = "orders.order_placed";
/// A payload that would run if any page put the text into HTML unescaped.
const XSS: &str = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">";

/// A server whose quality history is flushed every 200 ms, in a directory that lives as long
/// as it does.
fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[],
        &[("TRIBUTARY_QUALITY__FLUSH_INTERVAL", "200ms")],
    );
    (dir, server)
}

/// An event type with a hostile description, two schema versions (the second adds a field
/// whose doc says "receipt", and one whose name is an XSS payload), and some good and bad
/// events; returns once the history shows them.
fn seed(server: &Server) {
    let (status, body) = post(
        server,
        "/v1/event-types",
        &json!({"name": TYPE, "owner": "orders", "tags": ["orders", "tier-1"],
                "description": format!("# Order placed\n\nOne per **checkout**. {XSS}\n\n[a link](javascript:alert(3))")}),
    );
    assert_eq!(status, 201, "{body}");
    let v1 = json!({"type": "object", "required": ["order_id"], "properties": {
        "order_id": {"type": "string", "description": "Unique id of the order"},
        "amount": {"type": "number", "description": "Total in cents"}}});
    let mut v2 = v1.clone();
    v2["properties"]["customer_email"] =
        json!({"type": "string", "description": "Where the receipt is mailed"});
    v2["properties"][XSS] = json!({"type": "string", "description": XSS});
    for schema in [v1, v2] {
        let (status, body) = post(
            server,
            &format!("/v1/event-types/{TYPE}/schemas"),
            &json!({"schemaType": "JSON", "schema": schema.to_string()}),
        );
        assert_eq!(status, 201, "{body}");
    }
    let reply = answer(
        server
            .request(reqwest::Method::POST, &format!("/v1/events/{TYPE}"))
            .header("content-type", "application/json")
            .header("tributary-principal", "producer:checkout-web")
            .body(json!([{"order_id": XSS, "amount": 5}, {"order_id": 42}]).to_string()),
    );
    assert_eq!(reply.status, 207, "{}", reply.body);
    // The chart needs the history flushed; the search needs the index updated; the sample
    // (whose order_id is the payload) the catalog's flush.
    until(server, &format!("/ui/types/{TYPE}"), "class=\"dot-score\"");
    until(
        server,
        &format!("/ui/types/{TYPE}"),
        "&quot;order_id&quot;: &quot;&lt;script&gt;window.__xss = 1",
    );
    until(server, "/ui/search?q=recept", TYPE);
}

/// Polls `path` until its HTML contains `needle` (at most 20 s).
fn until(server: &Server, path: &str, needle: &str) {
    let started = Instant::now();
    loop {
        let (status, html) = page(server, path);
        if status == 200 && html.contains(needle) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} never showed {needle:?}; last answer {status}:\n{html}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn page(server: &Server, path: &str) -> (u16, String) {
    let response = server.get(path);
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn pages_answer_with_security_headers_and_escape_hostile_text() {
    let (_dir, server) = start();
    seed(&server);
    for path in [
        "/ui",
        "/ui/search?q=order",
        "/ui/search",
        &format!("/ui/types/{TYPE}"),
        &format!("/ui/types/{TYPE}?range=7d&from=1&to=2"),
        &format!("/ui/types/{TYPE}/edit"),
        "/ui/producers",
    ] {
        let response = server.get(path);
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().unwrap();
        assert!(html.contains("<title>") && html.contains("<main"), "{path}");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{path} has markup from data:\n{html}"
        );
    }
    let (_, html) = page(&server, &format!("/ui/types/{TYPE}"));
    assert!(
        html.contains("&lt;script&gt;window.__xss = 1&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    // Both versions side by side, the added field on the right.
    assert!(
        html.contains("Version 1") && html.contains("Version 2"),
        "{html}"
    );
    assert!(html.contains("customer_email"), "{html}");
    // The stylesheet is served here (the policy allows nothing else).
    let css = server.get("/ui/assets/app.css");
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[test]
fn unknown_pages_and_bad_input_get_clear_answers() {
    let (_dir, server) = start();
    seed(&server);
    let (status, html) = page(&server, "/ui/types/no.such_type");
    assert_eq!(status, 404);
    assert!(html.contains("No such event type"), "{html}");
    let (status, html) = page(&server, "/ui/nowhere");
    assert_eq!(status, 404);
    assert!(html.contains("There is no page"), "{html}");
    let (status, html) = page(&server, "/ui/search?quality=excellent");
    assert_eq!(status, 400);
    assert!(html.contains("good, fair or poor"), "{html}");
    // Query syntax, a 10 KB query, odd Unicode: answered, and repeated back escaped.
    for q in [
        "title:(a OR b) AND -c~2 \"unclosed",
        &"x".repeat(10 * 1024),
        "\u{202e}gnp.exe \u{0000} 🙂 <b>bold</b>",
    ] {
        let response = server
            .request(reqwest::Method::GET, "/ui/search")
            .query(&[("q", q)])
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{q:.40}");
        let html = response.text().unwrap();
        assert!(html.contains("role=\"status\""), "{html}");
        assert!(!html.contains("<b>bold"), "{html}");
    }
}

#[test]
fn only_owners_edit_and_only_from_this_origin() {
    let (_dir, server) = start();
    seed(&server);
    // Redirects are checked, not followed.
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let edit = |principal: &str, site: Option<&str>, description: &str, revision: &str| {
        let mut request = client
            .post(server.url(&format!("/ui/types/{TYPE}/edit")))
            .header("tributary-principal", principal)
            .form(&[
                ("description", description),
                ("tags", "orders, checkout , orders"),
                ("revision", revision),
            ]);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location)
    };
    let revision = |server: &Server| {
        let reply =
            answer(server.request(reqwest::Method::GET, &format!("/v1/event-types/{TYPE}")));
        reply.body["revision"].as_i64().unwrap().to_string()
    };
    let current = revision(&server);
    // Another team, or a page of another site: refused, nothing changed.
    assert_eq!(edit("team:payments", None, "taken over", &current).0, 403);
    assert_eq!(
        edit("team:orders", Some("cross-site"), "forged", &current).0,
        403
    );
    let (status, html) = page(&server, &format!("/ui/types/{TYPE}"));
    assert_eq!(status, 200);
    assert!(!html.contains("taken over") && !html.contains("forged"));
    // A stale form: 409 with the text kept.
    let stale = (current.parse::<i64>().unwrap() + 1_000).to_string();
    let (status, _) = edit("team:orders", Some("same-origin"), "stale text", &stale);
    assert_eq!(status, 409);
    // The owner, from the page: saved, tags cleaned, back to the page.
    let (status, location) = edit(
        "team:orders",
        Some("same-origin"),
        "Now **edited**.",
        &current,
    );
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some(&*format!("/ui/types/{TYPE}")));
    let reply = answer(server.request(reqwest::Method::GET, &format!("/v1/event-types/{TYPE}")));
    assert_eq!(reply.body["description"], "Now **edited**.");
    assert_eq!(reply.body["tags"], json!(["checkout", "orders"]));
    let (_, html) = page(&server, &format!("/ui/types/{TYPE}"));
    assert!(html.contains("<strong>edited</strong>"), "{html}");
    // PII marks from the same form: the field is marked, and samples show it redacted.
    let response = client
        .post(server.url(&format!("/ui/types/{TYPE}/edit")))
        .header("tributary-principal", "team:orders")
        .form(&[
            ("description", "Now **edited**."),
            ("tags", "orders"),
            ("pii_form", "1"),
            ("pii", "/customer_email"),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), 303);
    let marks =
        answer(server.request(reqwest::Method::GET, &format!("/v1/event-types/{TYPE}/pii")));
    assert_eq!(
        marks.body["pointers"][0]["pointer"], "/customer_email",
        "{}",
        marks.body
    );
    let reply = answer(
        server
            .request(reqwest::Method::POST, &format!("/v1/events/{TYPE}"))
            .header("content-type", "application/json")
            .body(json!({"order_id": "o-9", "customer_email": "alice@example.com"}).to_string()),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    until(&server, &format!("/ui/types/{TYPE}"), "[redacted]");
    let (_, html) = page(&server, &format!("/ui/types/{TYPE}"));
    assert!(!html.contains("alice@example.com"), "{html}");
    assert!(html.contains("class=\"badge band-poor\">PII"), "{html}");
    // The dead-letter reasons of the seed's bad event, with its violation.
    assert!(html.contains("schema_violation"), "{html}");
    assert!(html.contains("/order_id"), "{html}");
    // The change is audited under the owner's name.
    let audit = answer(server.request(
        reqwest::Method::GET,
        &format!("/v1/event-types/{TYPE}/audit"),
    ));
    assert!(
        audit.body.to_string().contains("team:orders"),
        "{}",
        audit.body
    );
}

mod browser {
    use super::*;

    #[test]
    #[ignore = "needs Chromium: set TRIBUTARY_TEST_CHROMEDRIVER (scripts/test-full does)"]
    fn typo_search_finds_a_type_by_a_field_doc() {
        let (_dir, server) = start();
        seed(&server);
        let browser = Browser::start();
        browser.goto(&server.url("/ui"));
        assert_eq!(browser.title(), "Catalog · Tributary");
        let input = browser.find("#home-q");
        // "recept": a typo of "receipt", which only the doc of /customer_email says.
        browser.type_into(&input, "recept");
        browser.click_and_load(&browser.find(".bigsearch button[type=submit]"));
        let hit = browser.find("ol.hits li a.type-name");
        assert_eq!(browser.text(&hit), TYPE);
        let matched = browser.text(&browser.find("ol.hits li .matched"));
        assert!(matched.contains("field:/customer_email"), "{matched}");
        assert!(
            browser.title().starts_with("Search: recept"),
            "{}",
            browser.title()
        );
        browser.screenshot("search-typo");
        browser.click_and_load(&hit);
        browser.find("h1.type-name");
        assert_eq!(browser.title(), format!("{TYPE} · Tributary"));
    }

    #[test]
    #[ignore = "needs Chromium: set TRIBUTARY_TEST_CHROMEDRIVER (scripts/test-full does)"]
    fn event_page_shows_a_schema_diff_and_a_quality_chart() {
        let (_dir, server) = start();
        seed(&server);
        let browser = Browser::start();
        browser.goto(&server.url(&format!("/ui/types/{TYPE}")));
        // The diff: v1 on the left, v2 on the right, the new field among the added lines.
        let heads: Vec<String> = browser
            .find_all("table.diff thead th")
            .iter()
            .map(|h| browser.text(h))
            .collect();
        assert_eq!(heads, ["Version 1", "Version 2"]);
        let added: Vec<String> = browser
            .find_all("table.diff td.code.ins")
            .iter()
            .map(|c| browser.text(c))
            .collect();
        assert!(
            added.iter().any(|l| l.contains("\"customer_email\"")),
            "{added:?}"
        );
        assert!(browser.find_all("table.diff td.code.del").is_empty());
        // The chart: drawn, with a point per bucket and a name for screen readers.
        let drawn = browser.script(
            "const svg = document.querySelector('svg.quality-chart');
             const box = svg.getBoundingClientRect();
             return { width: box.width, height: box.height,
                      points: svg.querySelectorAll('circle.dot-score').length,
                      bars: svg.querySelectorAll('rect.bar-volume').length,
                      rejected: svg.querySelectorAll('rect.bar-rejected').length,
                      title: svg.querySelector('title').textContent };",
        );
        assert!(drawn["width"].as_f64().unwrap() > 300.0, "{drawn}");
        assert!(drawn["height"].as_f64().unwrap() > 200.0, "{drawn}");
        assert!(drawn["points"].as_u64().unwrap() >= 1, "{drawn}");
        assert!(drawn["bars"].as_u64().unwrap() >= 1, "{drawn}");
        assert!(drawn["rejected"].as_u64().unwrap() >= 1, "{drawn}");
        assert!(drawn["title"].as_str().unwrap().contains(TYPE), "{drawn}");
        browser.screenshot("event-page");
        // Another pair through the form (no script needed).
        let from = browser.find("#diff-from");
        browser.click(&from);
        browser.click(&browser.find("#diff-from option[value='2']"));
        browser.click_and_load(&browser.find(".diff-pick button"));
        let summary = browser.text(&browser.find(".diff-summary"));
        assert!(summary.contains("are the same"), "{summary}");
    }

    #[test]
    #[ignore = "needs Chromium: set TRIBUTARY_TEST_CHROMEDRIVER (scripts/test-full does)"]
    fn xss_in_a_description_renders_as_text() {
        let (_dir, server) = start();
        seed(&server);
        let browser = Browser::start();
        browser.goto(&server.url(&format!("/ui/types/{TYPE}")));
        let description = browser.text(&browser.find(".description .markdown"));
        assert!(
            description.contains("<script>window.__xss = 1</script>"),
            "{description}"
        );
        assert!(description.contains("onerror"), "{description}");
        let state = browser.script(
            "return { ran: typeof window.__xss !== 'undefined',
                      scripts: document.querySelectorAll('script').length,
                      images: document.querySelectorAll('main img').length,
                      links: [...document.querySelectorAll('.markdown a')].map(a => a.getAttribute('href')) };",
        );
        assert_eq!(state["ran"], false, "{state}");
        assert_eq!(state["scripts"], 0, "{state}");
        assert_eq!(state["images"], 0, "{state}");
        assert_eq!(state["links"], json!(["#"]), "{state}");
        // The hostile field name and doc are text in the fields table.
        let fields = browser.text(&browser.find("table.fields"));
        // (`/` in a property name is `~1` in its JSON pointer.)
        assert!(
            fields.contains("/<script>window.__xss = 1<~1script>"),
            "{fields}"
        );
        browser.screenshot("xss-as-text");
        // Also on the search page, where hits show the description's first line.
        browser.goto(&server.url("/ui/search?q=checkout"));
        browser.find("ol.hits li");
        assert_eq!(browser.script("return typeof window.__xss"), "undefined");
    }

    #[test]
    #[ignore = "needs Chromium: set TRIBUTARY_TEST_CHROMEDRIVER (scripts/test-full does)"]
    fn an_owner_edits_the_description_in_the_browser() {
        let (_dir, server) = start();
        seed(&server);
        let browser = Browser::start();
        browser.goto(&server.url(&format!("/ui/types/{TYPE}")));
        // Auth is off and the browser sends no principal: it acts as the local admin.
        browser.click_and_load(&browser.find("a.button[href$='/edit']"));
        let text = browser.find("#description");
        browser.type_into(&text, "Placed at **checkout**; see the runbook.");
        browser.type_into(&browser.find("#tags"), "orders, gold");
        let email = browser.find("input[name=pii][value='/customer_email']");
        browser.click(&email);
        browser.click_and_load(&browser.find("form.edit button[type=submit]"));
        let rendered = browser.find(".description .markdown strong");
        assert_eq!(browser.text(&rendered), "checkout");
        let tags: Vec<String> = browser
            .find_all("ul.tags a")
            .iter()
            .map(|t| browser.text(t))
            .collect();
        assert_eq!(tags, ["gold", "orders"]);
        let marked: Vec<String> = browser
            .find_all("table.fields tbody tr")
            .iter()
            .map(|row| browser.text(row))
            .filter(|row| row.contains("PII"))
            .collect();
        assert_eq!(marked.len(), 1, "{marked:?}");
        assert!(marked[0].starts_with("/customer_email"), "{marked:?}");
        browser.screenshot("edited");
    }

    /// The replay jobs page follows a running job without any script: the job's page reloads
    /// itself while the job runs, and shows it completed once it has.
    #[test]
    #[ignore = "needs Chromium: set TRIBUTARY_TEST_CHROMEDRIVER (scripts/test-full does)"]
    fn the_replay_page_follows_a_running_job() {
        let (_dir, server) = start();
        seed(&server);
        let events: Vec<serde_json::Value> = (0..12)
            .map(|n| json!({"order_id": format!("r{n}"), "amount": n}))
            .collect();
        let reply = answer(
            server
                .request(reqwest::Method::POST, &format!("/v1/events/{TYPE}"))
                .header("content-type", "application/json")
                .body(serde_json::Value::from(events).to_string()),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        // Three events a second: the job runs for a few seconds.
        let (status, job) = post(
            &server,
            "/v1/replays",
            &json!({"event_types": [TYPE], "from": "-1h", "rate": 3}),
        );
        assert_eq!(status, 201, "{job}");
        let id = job["id"].as_str().unwrap();
        let browser = Browser::start();
        browser.goto(&server.url(&format!("/ui/replays/{id}")));
        let title = browser.title();
        assert!(
            title.starts_with(&format!("Replay {}", &id[..12])),
            "{title}"
        );
        let state = || browser.text_of("dl.facts dd .badge");
        let first = state();
        assert!(first == "pending" || first == "running", "{first}");
        let started = Instant::now();
        let mut saw_progress = false;
        while state() != "completed" {
            saw_progress |= !browser.find_all("progress").is_empty();
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the page never showed the job completed (last: {})",
                state()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        assert!(saw_progress, "a progress bar while it ran");
        browser.screenshot("replay-job");
        // The list shows it too, and links to it.
        browser.goto(&server.url("/ui/replays"));
        let link = browser.find(&format!("a[href='/ui/replays/{id}']"));
        browser.click_and_load(&link);
        assert_eq!(state(), "completed");
    }
}
