//! Driving headless Chromium as a person would: chromedriver on a free
//! loopback port, a browser per member, the page's controls found by their
//! ids, waits bounded by WAIT (WebDriver has no event to wait on, so the
//! page is polled), the screen's size and colour scheme set through the
//! DevTools protocol, axe-core (from npm: tests/browser/package-lock.json)
//! injected to check WCAG 2.1 A/AA, and screenshots saved into docs/.

use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::util::{free_port, Proc, WAIT};

/// `chromedriver` on a free loopback port, ready when it says so.
pub fn chromedriver() -> (Proc, u16) {
    let port = free_port();
    let mut cmd = std::process::Command::new("chromedriver");
    cmd.arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1");
    let mut p = Proc::spawn(cmd);
    p.stdout.expect("started successfully");
    (p, port)
}

/// A headless Chromium whose window is `width` × `height`.
pub async fn browser(port: u16, width: u32, height: u32) -> Client {
    browser_with(port, width, height, &[]).await
}

/// The same, with more of Chromium's switches (a test certificate's).
pub async fn browser_with(port: u16, width: u32, height: u32, more: &[&str]) -> Client {
    // The WebDriver client's TLS stack (unused on loopback HTTP) needs one provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    caps.insert("goog:chromeOptions".into(), json!({ "args": args }));
    let c = ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect to chromedriver");
    screen(&c, width, height).await;
    c
}

/// A DevTools command through chromedriver (`goog/cdp/execute`).
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or("")
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"cmd": self.0, "params": self.1}).to_string();
        (axum::http::Method::POST, Some(body))
    }
}

async fn cdp(c: &Client, cmd: &'static str, params: Value) {
    c.issue_cmd(Cdp(cmd, params))
        .await
        .unwrap_or_else(|e| panic!("DevTools {cmd}: {e}"));
}

/// The page's viewport is exactly `width` × `height` CSS pixels (a phone's
/// when narrow: touch, mobile layout).
pub async fn screen(c: &Client, width: u32, height: u32) {
    let mobile = width < 600;
    cdp(
        c,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
    )
    .await;
    cdp(
        c,
        "Emulation.setTouchEmulationEnabled",
        json!({"enabled": mobile}),
    )
    .await;
}

/// `prefers-color-scheme` as the page sees it: "light" or "dark".
pub async fn scheme(c: &Client, scheme: &str) {
    cdp(
        c,
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
    )
    .await;
}

/// One media feature as the page sees it (`prefers-reduced-motion`: "reduce"),
/// the others unset.
pub async fn media(c: &Client, name: &str, value: &str) {
    cdp(
        c,
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": name, "value": value}]}),
    )
    .await;
}

/// Run a script in the page; what it returned.
pub async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args).await.unwrap()
}

/// Fill the login in and join (`rooms` may be empty); waits for the chat.
pub async fn join_page(c: &Client, url: &str, name: &str, rooms: &str) {
    c.goto(url).await.unwrap();
    type_into(c, "name", name).await;
    if !rooms.is_empty() {
        type_into(c, "rooms", rooms).await;
    }
    click(c, "#login button").await;
    wait_text(c, "You joined").await;
}

pub async fn type_into(c: &Client, id: &str, text: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Type a line in the message box and press Send, as a person does.
pub async fn say(c: &Client, line: &str) {
    type_into(c, "text", line).await;
    click(c, "#say button").await;
}

/// Poll the page (bounded by WAIT) until `look` sees what `done` wants;
/// what it saw.
pub async fn poll_page<T: std::fmt::Debug>(
    what: &str,
    mut look: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = look().await;
        if done(&seen) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never showed {what}; it shows:\n{seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of the element with `id` ("" while it has none or is hidden).
pub async fn text_of(c: &Client, id: &str) -> String {
    let v = js(
        c,
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
        vec![json!(id)],
    )
    .await;
    v.as_str().unwrap_or_default().to_string()
}

/// The text of the element with `id`, shown or not (`textContent`).
pub async fn text_of_all(c: &Client, id: &str) -> String {
    let v = js(
        c,
        "const e = document.getElementById(arguments[0]); return e ? e.textContent : '';",
        vec![json!(id)],
    )
    .await;
    v.as_str().unwrap_or_default().to_string()
}

/// Wait until the element `id` shows `text`; its text.
pub async fn wait_in(c: &Client, id: &str, text: &str) -> String {
    poll_page(
        &format!("{text:?} in #{id}"),
        async || text_of(c, id).await,
        |t| t.contains(text),
    )
    .await
}

/// Wait until the lines on screen hold `text`; the lines' text.
pub async fn wait_text(c: &Client, text: &str) -> String {
    wait_in(c, "lines", text).await
}

/// The labels of the conversation buttons (rooms, then direct messages).
pub async fn conv_labels(c: &Client) -> Vec<String> {
    let v = js(
        c,
        "return [...document.querySelectorAll('#room-list .conv, #dm-list .conv')]
            .map((b) => b.innerText.replace(/\\s+/g, ' ').trim());",
        vec![],
    )
    .await;
    serde_json::from_value(v).unwrap()
}

/// Show conversation `name` by clicking its button in the list.
pub async fn open_conv(c: &Client, name: &str) {
    let clicked = js(
        c,
        "const b = [...document.querySelectorAll('.conv')]
             .find((b) => b.querySelector('.conv-name').innerText.trim() === arguments[0]);
         if (b) b.click();
         return !!b;",
        vec![json!(name)],
    )
    .await;
    assert_eq!(clicked, json!(true), "no conversation button for {name}");
    wait_in(c, "room-name", name).await;
}

/// axe-core's WCAG 2.1 A and AA rules on the page as it is: the violations
/// (rule, impact, the first element and its message), none expected.
pub async fn axe(c: &Client) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/node_modules/axe-core/axe.min.js"
    );
    // Installed once from the lock file, as `cargo test` alone must run the
    // suite on a fresh clone (README: npm is a prerequisite).
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if !std::path::Path::new(path).exists() {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
            let ran = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(dir)
                .status();
            assert!(
                ran.is_ok_and(|s| s.success()),
                "npm ci in {dir} failed: npm (Debian: apt-get install npm) installs axe-core for the page's check"
            );
        }
    });
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e} (install it: cd tests/browser && npm ci; .ci/run does)")
    });
    js(c, &source, vec![]).await;
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
               .then((r) => done(r.passes.length < 10 ? [`axe checked almost nothing (${r.passes.length} rules passed)`] : r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} elements, e.g. ${v.nodes[0].target.join(' ')}: ${v.nodes[0].failureSummary}`)))
               .catch((e) => done([`axe failed: ${e}`]));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// Save the page as `docs/NAME` (README shows these) at the screen's size.
pub async fn save_screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::write(path, &png).unwrap();
}

/// The width and height of a PNG (its IHDR).
pub fn png_size(png: &[u8]) -> (u32, u32) {
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}
