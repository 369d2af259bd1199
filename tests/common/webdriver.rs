//! A small W3C WebDriver client for the browser tests: chromedriver started on a free
//! loopback port, one headless Chromium session, and the handful of commands the tests use
//! (navigate, find, type, click, read text, run a script, screenshot). Speaking the protocol
//! directly keeps a browser-automation stack out of the build; its JSON is all there is.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C WebDriver wraps element references in.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The chromedriver to run: `TRIBUTARY_TEST_CHROMEDRIVER`, which scripts/test-full sets.
pub(crate) fn chromedriver_path() -> PathBuf {
    std::env::var_os("TRIBUTARY_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .expect("set TRIBUTARY_TEST_CHROMEDRIVER to chromedriver's path (scripts/test-full does)")
}

/// Where screenshots go: `TRIBUTARY_TEST_ARTIFACTS` (CI keeps it), else
/// `target/test-artifacts`.
pub(crate) fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("TRIBUTARY_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts"));
    let dir = dir.join("ui");
    std::fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}

/// A chromedriver process and one browser session; both end on drop.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A found element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium (1280×1600).
    pub(crate) fn start() -> Browser {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = Command::new(chromedriver_path())
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer on {base} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--hide-scrollbars"]
        });
        if let Some(binary) = std::env::var_os("TRIBUTARY_TEST_CHROMIUM") {
            options["binary"] = json!(binary.to_string_lossy());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "unhandledPromptBehavior": "ignore",
        }}});
        let reply: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .expect("create a session")
            .json()
            .expect("session reply");
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            http,
        }
    }

    fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|(error, message)| panic!("{path}: {error}: {message}"))
    }

    /// A WebDriver command; `Err((error, message))` when the driver refused it.
    fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, (String, Value)> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request
            .send()
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .json()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        match reply["value"]["error"].as_str() {
            Some(error) => Err((error.to_owned(), reply["value"]["message"].clone())),
            None => Ok(reply["value"].clone()),
        }
    }

    pub(crate) fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    pub(crate) fn title(&self) -> String {
        self.command(reqwest::Method::GET, "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element matching the CSS selector (possibly none).
    pub(crate) fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.command(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching the CSS selector, waiting up to 10 s for it to appear.
    pub(crate) fn find(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Some(found) = self.find_all(css).into_iter().next() {
                return found;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nothing matches {css:?} on {}",
                self.title()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the first element matching `css` on a page that redraws itself (a live
    /// view polling the server): the element found can be replaced before its text is read,
    /// so a stale one is looked up again, for up to 10 s.
    pub(crate) fn text_of(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let element = self.find(css);
            let path = format!("/element/{}/text", element.0);
            match self.try_command(reqwest::Method::GET, &path, None) {
                Ok(text) => return text.as_str().unwrap_or_default().to_owned(),
                Err((error, _))
                    if error == "stale element reference"
                        && started.elapsed() < Duration::from_secs(10) => {}
                Err((error, message)) => panic!("{path}: {error}: {message}"),
            }
        }
    }

    pub(crate) fn text(&self, element: &Element) -> String {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub(crate) fn type_into(&self, element: &Element, text: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        );
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    pub(crate) fn click(&self, element: &Element) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        );
    }

    /// Clicks `element` (a link or a form's button) and waits, up to 10 s, until the page it
    /// leads to has replaced the current one. Without the wait, a `find` right after the click
    /// can match an element of the old page, which goes stale as the new one loads.
    pub(crate) fn click_and_load(&self, element: &Element) {
        let before = self.find("html");
        self.click(element);
        let started = Instant::now();
        while self.find_all("html").first() == Some(&before) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the click did not load another page (still {})",
                self.title()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` in the page (its `return` value comes back).
    pub(crate) fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Saves a PNG of the viewport as `{artifacts}/ui/{name}.png`; its path.
    pub(crate) fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.command(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }
}
