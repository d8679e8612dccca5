//! A browser for the console's tests: headless Chromium through ChromeDriver (WebDriver,
//! fantoccini), on a fresh profile and a free loopback port, killed with everything it started
//! when dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::Served;

/// Set to write the screenshots into `docs/console/` (the README's) instead of `target/`.
pub const REFRESH_SCREENSHOTS: &str = "WARDEN_REFRESH_SCREENSHOTS";

pub const WAIT: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    driver: std::process::Child,
    profile: tempfile::TempDir,
    base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium outlives a killed driver: end every process of this test's profile.
        let _ = std::process::Command::new("pkill")
            .arg("-f")
            .arg(self.profile.path())
            .status();
    }
}

pub fn is_stale(e: &fantoccini::error::CmdError) -> bool {
    matches!(e, fantoccini::error::CmdError::Standard(w)
        if w.error == fantoccini::error::ErrorStatus::StaleElementReference)
}

fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Headless Chromium on a fresh profile, driven through a ChromeDriver on a free loopback
/// port, pointed at `server`. None (after printing why) where Chromium is missing, except in
/// CI, where that is a failure.
pub async fn browser_or_skip(test: &str, server: &Served) -> Option<Browser> {
    let chromium = tool("WARDEN_CHROMIUM", "/usr/bin/chromium");
    let driver = tool("WARDEN_CHROMEDRIVER", "/usr/bin/chromedriver");
    if !chromium.exists() || !driver.exists() {
        let why = format!(
            "needs {} and {} (Debian packages chromium and chromium-driver; .ci/run installs them)",
            chromium.display(),
            driver.display()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{test} {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new(&driver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().expect("profile dir");
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    Some(Browser {
        client,
        driver: child,
        profile,
        base: format!("http://{}", server.addr),
    })
}

impl Browser {
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("goto");
    }

    /// Waits for an element matching `css` (the page renders after API calls).
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_text(css, "").await
    }

    /// Waits until an element matching `css` has a text containing `needle` (answers arrive
    /// after API calls, and a list re-rendered meanwhile replaces the element that was found).
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.ok(),
                Err(_) => None,
            };
            if let Some(text) = text.as_ref().filter(|t| t.contains(needle)) {
                return text.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} never said {needle:?}; it says {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets an input's value and tells the page, as typing would (for emptying a filter:
    /// WebDriver's clear does not fire `input`).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.client
            .execute(
                "const i = document.querySelector(arguments[0]); i.value = arguments[1];
                 i.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![json!(css), json!(value)],
            )
            .await
            .expect("set value");
    }

    /// Clicks the element matching `css`, finding it again if the page re-rendered it
    /// between finding and clicking.
    pub async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() < deadline && is_stale(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    /// Replaces an input's value by typing, as a user does.
    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    /// Waits until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.client.find(Locator::Css(css)).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} is still there"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self.find(css).await.attr(name).await {
                Ok(v) => return v,
                Err(e) if tokio::time::Instant::now() < deadline && is_stale(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{css} {name}: {e}"),
            }
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    /// Goes to a section through its navigation link, and waits for `ready` in the newly
    /// rendered view (the link is marked current as the old view is cleared).
    pub async fn section(&self, name: &str, ready: &str) {
        self.click(&format!("#nav-{name}")).await;
        self.find(&format!("#nav-{name}[aria-current='page']"))
            .await;
        self.find(ready).await;
    }

    /// Signs in with the keyboard only: type, Tab to the password, Enter.
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.open("/console").await;
        let user = self.find("#username").await;
        user.send_keys(username).await.expect("type");
        user.send_keys("\u{E004}").await.expect("tab");
        let focused = self.client.active_element().await.expect("focus");
        assert_eq!(
            focused.attr("id").await.expect("id").as_deref(),
            Some("password"),
            "Tab moves from the username to the password"
        );
        focused
            .send_keys(&format!("{password}\u{E007}"))
            .await
            .expect("type and Enter");
        self.wait_text("#whoami", &format!("Signed in as {username}"))
            .await;
    }

    /// Saves a screenshot: under `target/console-screenshots/` (tests never modify tracked
    /// files), or into the README's `docs/console/` when `WARDEN_REFRESH_SCREENSHOTS` is set.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = if std::env::var_os(REFRESH_SCREENSHOTS).is_some() {
            root.join("docs/console")
        } else {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| root.join("target"), PathBuf::from)
                .join("console-screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// No horizontal scrolling of the page itself (wide tables scroll in their own box).
    pub async fn assert_fits_width(&self, what: &str) {
        let fits = self
            .js("return document.documentElement.scrollWidth <= window.innerWidth + 1;")
            .await;
        assert_eq!(fits, json!(true), "{what} is wider than the window");
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        client.close().await.expect("end the session");
        let _ = self.driver.kill();
    }
}
