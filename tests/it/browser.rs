//! The page in a real browser: headless Chromium from Debian's packages
//! (`chromium`, `chromium-driver`; `.ci/run` installs them) driven over
//! WebDriver (fantoccini). Two browser members and one `tcpplay join`
//! member chat across two rooms and a direct message; markup and bidi
//! controls in a line are shown as text; a page from another origin
//! cannot open the socket. The test saves a screenshot
//! (`target/screenshots/web.png`; README's picture is one of these).

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::util::{free_port, Proc, Server, WAIT};

/// `chromedriver` on a free loopback port, ready when it says so.
fn chromedriver() -> (Proc, u16) {
    let port = free_port();
    let mut cmd = std::process::Command::new("chromedriver");
    cmd.arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1");
    let mut p = Proc::spawn(cmd);
    p.stdout.expect("started successfully");
    (p, port)
}

async fn browser(port: u16) -> Client {
    // The WebDriver client's TLS stack (unused on loopback HTTP) needs one provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,700"]}),
    );
    ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect to chromedriver")
}

async fn join_page(c: &Client, url: &str, name: &str, rooms: &str) {
    c.goto(url).await.unwrap();
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    c.find(Locator::Id("rooms"))
        .await
        .unwrap()
        .send_keys(rooms)
        .await
        .unwrap();
    c.find(Locator::Css("#login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "you joined").await;
}

async fn say(c: &Client, line: &str) {
    let input = c.find(Locator::Id("text")).await.unwrap();
    input.send_keys(line).await.unwrap();
    c.find(Locator::Css("#say button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Wait (bounded) until the shown lines hold `text`; the lines' text.
async fn wait_text(c: &Client, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let shown = c
            .find(Locator::Id("lines"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap_or_default();
        if shown.contains(text) {
            return shown;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never showed {text:?}; it shows:\n{shown}"
        );
        // Polling the page, bounded by the deadline; nothing to wait on.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browser_members_and_a_terminal_member_chat_across_rooms_and_a_direct_message() {
    let mut server = Server::start(&["--no-history", "--web", "127.0.0.1:0"]);
    let line = server.proc.stdout.expect("open in a browser: ");
    let url = line.rsplit(' ').next().unwrap().to_string();
    let (_driver, port) = tokio::task::block_in_place(chromedriver);
    let alice = browser(port).await;
    let bob = browser(port).await;
    join_page(&alice, &url, "alice", "#a #b").await;
    join_page(&bob, &url, "bob", "#a").await;
    let mut carol = tokio::task::block_in_place(|| {
        let mut p = server.join(&["--name", "carol", "--no-tls", "--room", "#a", "--listen"]);
        p.stderr.expect("Authenticated as carol");
        p
    });

    // Markup and a bidi override are text, never HTML or reordering.
    let hostile = "<img src=x onerror=alert(1)> \u{202e}evil";
    // alice's current room is #b (her last join); switch to #a.
    alice
        .find(Locator::XPath(
            "//nav[@id='rooms-list']/button[starts-with(normalize-space(.), '#a')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    say(&alice, hostile).await;
    let shown = wait_text(&bob, "alice: <img src=x onerror=alert(1)>").await;
    // The override is shown as an escape: "evil" is not turned into "live".
    assert!(shown.contains("\\u{202e}evil"), "{shown}");
    assert!(
        bob.find_all(Locator::Css("#lines img"))
            .await
            .unwrap()
            .is_empty(),
        "a line's markup became an element"
    );
    tokio::task::block_in_place(|| carol.stdout.expect("alice: <img src=x onerror=alert(1)>"));

    tokio::task::block_in_place(|| carol.send_line("hello from a terminal"));
    wait_text(&alice, "carol: hello from a terminal").await;
    wait_text(&bob, "carol: hello from a terminal").await;

    say(&bob, "/msg alice just between us").await;
    wait_text(&alice, "[dm from bob] just between us").await;

    // A page of another origin cannot open the socket (the browser sends
    // its Origin; the server refuses the upgrade).
    let ws = url.replace("http://", "ws://") + "ws";
    alice.goto("data:text/html,<p>elsewhere</p>").await.unwrap();
    let outcome = alice
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const s = new WebSocket(arguments[0]);
             s.onopen = () => done('opened');
             s.onclose = (e) => done('closed ' + e.code);",
            vec![json!(ws)],
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        json!("closed 1006"),
        "another origin's page opened the socket"
    );

    let png = bob.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("web.png"), &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}
