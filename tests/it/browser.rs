//! The page in a real browser: headless Chromium from Debian's packages
//! (`chromium`, `chromium-driver`; `.ci/run` installs them) driven over
//! WebDriver (fantoccini). Two browser members and one `tcpplay join`
//! member chat across two rooms and a direct message; markup and bidi
//! controls in a line are shown as text; a topic with markup is text and
//! one with a bidi override is refused with the reason shown; a room not
//! shown counts its unread lines; on a phone-sized screen the page fits
//! and the input stays on screen; a page from another origin cannot open
//! the socket. The test saves screenshots (`target/screenshots/web.png`
//! and `web-phone.png`; README's pictures are these).

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
    browser_sized(port, "1100,700").await
}

/// A headless Chromium whose window is `size` ("WIDTH,HEIGHT").
async fn browser_sized(port: u16, size: &str) -> Client {
    // The WebDriver client's TLS stack (unused on loopback HTTP) needs one provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", format!("--window-size={size}")]}),
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

/// Poll the page (bounded by WAIT; WebDriver has no event to wait on)
/// until `look` sees what `done` wants; what it saw.
async fn poll_page<T: std::fmt::Debug>(
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

/// The text of the element with `id` ("" while it has none).
async fn text_of(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default()
}

/// Wait (bounded) until the shown lines hold `text`; the lines' text.
async fn wait_text(c: &Client, text: &str) -> String {
    poll_page(
        text,
        async || text_of(c, "lines").await,
        |l| l.contains(text),
    )
    .await
}

/// Wait (bounded) until the room's topic shows `text`; the topic.
async fn wait_topic(c: &Client, text: &str) -> String {
    poll_page(
        text,
        async || text_of(c, "topic").await,
        |t| t.contains(text),
    )
    .await
}

/// Wait (bounded) until a room button reads `label`.
async fn wait_button(c: &Client, label: &str) {
    let labels = async || {
        let mut labels = Vec::new();
        for b in c
            .find_all(Locator::Css("#rooms-list button"))
            .await
            .unwrap()
        {
            labels.push(b.text().await.unwrap_or_default().trim().to_string());
        }
        labels
    };
    poll_page(label, labels, |ls| ls.iter().any(|l| l == label)).await;
}

/// Show room `room` (its button in the room list). Clicked from the page's
/// own script: the list is redrawn as lines arrive, so a button found by
/// WebDriver may be gone by the time it would be clicked.
async fn click_room(c: &Client, room: &str) {
    let clicked = c
        .execute(
            "const b = [...document.querySelectorAll('#rooms-list button')]
                 .find((b) => b.textContent.trim().split(' ')[0] === arguments[0]);
             if (b) b.click();
             return !!b;",
            vec![json!(room)],
        )
        .await
        .unwrap();
    assert_eq!(clicked, json!(true), "no button for {room}");
}

/// Save the page as `target/screenshots/NAME` (README shows these).
async fn save_screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), &png).unwrap();
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
    click_room(&alice, "#a").await;
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

    // A topic with a bidi override is refused, and the page says why; one
    // with markup is text, shown to the room's members.
    say(&bob, "/topic reversed \u{202e}").await;
    wait_text(&bob, "a topic cannot hold control or formatting characters").await;
    say(&bob, "/topic <b>not bold</b>").await;
    wait_topic(&alice, "<b>not bold</b>").await;
    assert!(
        alice
            .find_all(Locator::Css("#topic b"))
            .await
            .unwrap()
            .is_empty(),
        "the topic's markup became an element"
    );

    // Lines in a room not shown are counted on its button.
    click_room(&alice, "#b").await;
    tokio::task::block_in_place(|| {
        carol.send_line("one while you look away");
        carol.send_line("and two");
    });
    wait_text(&bob, "carol: and two").await;
    wait_button(&alice, "#a (2)").await;

    // On a phone-sized screen the page fits its width and the line to type
    // in stays on screen.
    let phone = browser_sized(port, "390,844").await;
    join_page(&phone, &url, "dana", "#a").await;
    say(&phone, "hello from a phone").await;
    wait_text(&bob, "dana: hello from a phone").await;
    let fits = phone
        .execute(
            "const t = document.getElementById('text').getBoundingClientRect();
             const lines = document.getElementById('lines').getBoundingClientRect();
             const d = document.documentElement;
             return [d.scrollWidth <= window.innerWidth && d.scrollHeight <= window.innerHeight,
                     t.left >= 0 && t.right <= window.innerWidth && t.bottom <= window.innerHeight,
                     lines.height >= window.innerHeight * 0.4];",
            vec![],
        )
        .await
        .unwrap();
    let sizes = phone
        .execute(
            "const d = document.documentElement; return [d.scrollWidth, d.scrollHeight, window.innerWidth, window.innerHeight];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        fits,
        json!([true, true, true]),
        "on a phone's screen: [fits without scrolling, the input on screen, the lines get the height] \
         (page and window sizes {sizes})"
    );
    save_screenshot(&phone, "web-phone.png").await;
    phone.close().await.unwrap();

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

    save_screenshot(&bob, "web.png").await;
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}
