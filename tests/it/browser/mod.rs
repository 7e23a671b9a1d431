//! The page in a real browser: headless Chromium from Debian's packages
//! (`chromium`, `chromium-driver`; `.ci/run` installs them) driven over
//! WebDriver as a person would (`driver`). Two browser members and a
//! `tcpplay join` member: typed lines land in the room on screen; a direct
//! message opens its own conversation; `/help` lists the one table of
//! commands in `join`'s words; a taken name is said and can be changed;
//! earlier history comes on scrolling up; each line shows its own time
//! under a day separator, each sender in one colour; a dropped socket comes back and
//! nothing typed is lost; an operator locks the topic and bans from the
//! member list. On a phone's screen (390 × 844) the page is one
//! column with the input on screen and every tap target at least 44 px;
//! axe-core finds no WCAG 2.1 A/AA violation at either size in either
//! colour scheme. The test regenerates README's pictures (docs/web.png,
//! docs/web-phone.png) and prints the time from page load to first line.

mod driver;
mod irc;
mod phone;
mod relay;
mod signin;

use std::sync::Arc;

use fantoccini::{Client, Locator};
use serde_json::json;
use tempfile::TempDir;

use crate::util::{free_port, Proc, Server};
use driver::*;

/// A server with a history file and a web address on ports of its own, so
/// that it can be stopped and started again where the pages left it.
struct Site {
    home: Arc<TempDir>,
    chat: String,
    web: String,
}

impl Site {
    fn new() -> Site {
        Site {
            home: Arc::new(TempDir::new().unwrap()),
            chat: free_port().to_string(),
            web: format!("127.0.0.1:{}", free_port()),
        }
    }

    /// Start the server; it and the page's address.
    fn start(&self) -> (Server, String) {
        let history = self.home.path().join("history.sqlite3");
        let args = [
            "--port",
            &self.chat,
            "--web",
            &self.web,
            "--history",
            history.to_str().unwrap(),
        ];
        // No rate limit: the terminal member's lines go as fast as it writes them.
        let env = [("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0")];
        let mut s = Server::start_with(&args, &env, self.home.clone());
        let line = s.proc.stdout.expect("open in a browser: ");
        let url = line.rsplit(' ').next().unwrap().to_string();
        (s, url)
    }
}

/// A `tcpplay join` member in `room`, printing what arrives.
fn terminal(server: &Server, name: &str, room: &str) -> Proc {
    let mut p = server.join(&["--name", name, "--no-tls", "--room", room, "--listen"]);
    p.stderr.expect(&format!("Authenticated as {name}"));
    p
}

async fn title(c: &Client) -> String {
    js(c, "return document.title;", vec![])
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn count_of(c: &Client, text: &str) -> usize {
    text_of(c, "lines").await.matches(text).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_members_and_a_terminal_member_chat_in_the_room_on_screen() {
    let site = Site::new();
    let (mut server, url) = site.start();
    let (_driver, port) = tokio::task::block_in_place(chromedriver);
    let mut carol = tokio::task::block_in_place(|| {
        let mut carol = terminal(&server, "carol", "#a");
        // Thirty long lines: more than the 20 a joiner gets, more than a screen.
        for n in 1..=30 {
            carol.send_line(&format!(
                "line {n:02} {}",
                "of the morning's notes, ".repeat(8)
            ));
        }
        carol.stdout.expect("line 30");
        carol
    });
    let alice = browser(port, 1280, 800).await;
    join_page(&alice, &url, "alice", "#a #b").await;
    let times = js(
        &alice,
        "const t = (n) => Math.round((performance.getEntriesByName(n)[0] || {}).startTime);
         return [t('connect'), t('first-line')];",
        vec![],
    )
    .await;
    println!("page load to first line shown: {} ms (from connecting: {} ms; the login typed by WebDriver between)",
        times[1], times[1].as_i64().unwrap_or(0) - times[0].as_i64().unwrap_or(0));

    // The room on screen is the first one asked for, and typed lines go there.
    wait_in(&alice, "room-name", "#a").await;
    say(&alice, "hello room a").await;
    tokio::task::block_in_place(|| carol.stdout.expect("alice: hello room a"));

    // The last 20 lines came on joining; scrolling up brings the earlier ones,
    // each once, above what was there.
    let shown = wait_text(&alice, "line 30").await;
    assert!(
        shown.contains("line 11") && !shown.contains("line 10"),
        "{shown}"
    );
    js(
        &alice,
        "document.getElementById('lines').scrollTop = 0;",
        vec![],
    )
    .await;
    wait_text(&alice, "line 01").await;
    assert_eq!(count_of(&alice, "line 11 ").await, 1);
    let order = text_of(&alice, "lines").await;
    assert!(
        order.find("line 10").unwrap() < order.find("line 11").unwrap(),
        "{order}"
    );

    // Each line shows its own time (the server's, not when it arrived) under
    // a day separator; a sender keeps one colour, and another has another.
    let seen = js(
        &alice,
        "const pk = [...document.querySelectorAll('#packets li')].map((l) => l.textContent)
           .find((t) => t.startsWith('← ') && t.includes('line 11 '));
         const li = [...document.querySelectorAll('#lines li.msg')].find((l) => l.textContent.includes('line 11 '));
         const colours = (n) => [...new Set([...document.querySelectorAll('#lines .who')]
           .filter((w) => w.textContent === n).map((w) => w.className))];
         return [new Date(JSON.parse(pk.slice(2)).ts).toISOString(), li.querySelector('time').getAttribute('datetime'),
                 document.querySelector('#lines li.day').textContent, colours('carol'), colours('alice')];",
        vec![],
    )
    .await;
    assert_eq!(seen[0], seen[1], "the line's own time: {seen}");
    assert_eq!(seen[2], json!("Today"), "{seen}");
    let (carols, alices) = (seen[3].as_array().unwrap(), seen[4].as_array().unwrap());
    assert!(
        carols.len() == 1 && alices.len() == 1 && carols[0] != alices[0],
        "one colour each: {seen}"
    );

    // A taken name: the page says what you got, and you change it.
    let bob = browser(port, 1280, 800).await;
    join_page(&bob, &url, "alice", "#a #b").await;
    let said = wait_in(&bob, "status", "was taken").await;
    assert!(
        said.contains("“alice” was taken, so you are “alice-2”"),
        "{said}"
    );
    assert_eq!(text_of(&bob, "me-name").await, "alice-2");
    click(&bob, "#nick-open").await;
    type_into(&bob, "nick-name", "bob").await;
    click(&bob, "#nick-form button").await;
    wait_in(&bob, "me-name", "bob").await;
    wait_text(&alice, "alice-2 is now bob").await;
    // /nick to a taken name is refused, with the reason on screen.
    say(&alice, "/nick carol").await;
    wait_text(&alice, "(name_taken)").await;

    // Markup and a bidi override are text, never HTML or reordering.
    say(&alice, "<img src=x onerror=alert(1)> \u{202e}evil").await;
    let seen = wait_text(&bob, "<img src=x onerror=alert(1)>").await;
    assert!(seen.contains("\\u{202e}evil"), "{seen}");
    assert!(bob
        .find_all(Locator::Css("#lines img"))
        .await
        .unwrap()
        .is_empty());

    // Another room on screen: lines go there, and the room not shown counts them.
    open_conv(&alice, "#b").await;
    say(&alice, "over in b").await;
    wait_text(&alice, "over in b").await;
    poll_page(
        "#b with 1 unread",
        async || conv_labels(&bob).await,
        |l| l.iter().any(|x| x.starts_with("#b 1")),
    )
    .await;
    assert!(!text_of(&bob, "lines").await.contains("over in b"));

    // A direct message is a conversation of its own, counted in the title.
    say(&bob, "/msg alice just between us").await;
    wait_in(&bob, "room-name", "alice").await;
    poll_page(
        "a conversation with bob",
        async || conv_labels(&alice).await,
        |l| l.iter().any(|x| x.starts_with("bob 1")),
    )
    .await;
    assert!(
        title(&alice).await.starts_with("(1) "),
        "{}",
        title(&alice).await
    );
    assert!(!text_of(&alice, "lines").await.contains("just between us"));
    open_conv(&alice, "bob").await;
    wait_text(&alice, "just between us").await;
    say(&alice, "and back").await;
    wait_text(&bob, "and back").await;

    // /help: the one table's words for every command the page knows.
    open_conv(&alice, "#a").await;
    say(&alice, "/help").await;
    wait_text(&alice, "/users").await;
    let rows = js(
        &alice,
        "const h = [...document.querySelectorAll('#lines .help')].pop();
         return [[...h.querySelectorAll('dt')].map((d) => [d.textContent, d.nextElementSibling.textContent]),
                 h.querySelector('p').textContent];",
        vec![],
    )
    .await;
    let listed: Vec<(String, String)> = serde_json::from_value(rows[0].clone()).unwrap();
    let elsewhere = rows[1].as_str().unwrap();
    let table: Vec<(String, String)> = tcpplay::commands::COMMANDS
        .iter()
        .map(|(u, h)| (u.to_string(), h.to_string()))
        .collect();
    assert!(
        listed.iter().all(|r| table.contains(r)),
        "words not in the table: {listed:?}"
    );
    for (usage, _) in &table {
        let first = usage.split(' ').next().unwrap();
        let on_page = listed.iter().any(|(u, _)| u == usage);
        assert!(
            on_page || elsewhere.contains(first),
            "{usage}: neither listed nor said to be join's"
        );
    }
    for word in ["/users", "/nick", "/join", "/part", "/msg", "/me", "/topic"] {
        assert!(
            listed
                .iter()
                .any(|(u, _)| u.split(' ').next() == Some(word)),
            "{word} missing"
        );
    }
    say(&alice, "/users").await;
    wait_text(&alice, "In #a (3): carol (operator), alice, bob.").await;
    // The lines of every kind (help, notes, errors, a mention, an escape) pass axe too.
    for s in ["light", "dark"] {
        scheme(&alice, s).await;
        let found = axe(&alice).await;
        assert!(
            found.is_empty(),
            "axe on a busy room, {s}:\n{}",
            found.join("\n")
        );
    }
    say(&alice, "/me waves").await;
    tokio::task::block_in_place(|| carol.stdout.expect("alice waves"));
    say(&alice, "/topic maths at ten").await;
    open_conv(&bob, "#a").await;
    wait_in(&bob, "topic", "maths at ten").await;
    // A mention of my name in a room not shown: a badge and the title.
    // (Her keyboard's focus is on #a's button: the redrawn list keeps it there.)
    open_conv(&alice, "#b").await;
    js(
        &alice,
        "document.querySelector('.conv[data-key=\"#a\"]').focus();",
        vec![],
    )
    .await;
    tokio::task::block_in_place(|| carol.send_line("alice, the slides?"));
    poll_page(
        "a mention on #a",
        async || conv_labels(&alice).await,
        |l| l.iter().any(|x| x.starts_with("#a 1 mentions")),
    )
    .await;
    assert!(title(&alice).await.starts_with("(1) "));
    let focused = js(
        &alice,
        "return document.activeElement.getAttribute('data-key');",
        vec![],
    )
    .await;
    assert_eq!(
        focused,
        json!("#a"),
        "the list was redrawn under the keyboard's focus"
    );

    // Join a room from the page's control, leave it with its button; /join and /part.
    click(&alice, "#join-open").await;
    type_into(&alice, "join-room", "#c").await;
    click(&alice, "#join-form button").await;
    wait_in(&alice, "room-name", "#c").await;
    // She made #c, so she is its operator: she bans bob from the page, after
    // confirming, and he is out of it.
    say(&bob, "/join #c").await;
    wait_in(&alice, "member-list", "bob").await;
    click(&alice, "#lock-box button[data-on='true']").await;
    alice.accept_alert().await.unwrap();
    wait_text(&alice, "topic").await;
    say(&bob, "/topic mine now").await;
    wait_text(&bob, "(topic_locked)").await;
    click(&alice, "#member-list button[aria-label='Ban bob']").await;
    let asked = alice.get_alert_text().await.unwrap();
    assert!(asked.contains("keep bob out of #c"), "{asked}");
    alice.accept_alert().await.unwrap();
    poll_page(
        "bob out of #c",
        async || conv_labels(&bob).await,
        |l| !l.iter().any(|x| x.starts_with("#c")),
    )
    .await;
    // /users of a room one is not in (any more).
    say(&bob, "/users #c").await;
    wait_text(&bob, "In #c (1): alice (operator).").await;
    wait_text(&alice, "bob").await;
    click(&alice, "#leave").await;
    poll_page(
        "#c gone",
        async || conv_labels(&alice).await,
        |l| !l.iter().any(|x| x.starts_with("#c")),
    )
    .await;
    say(&alice, "/join #d").await;
    wait_in(&alice, "room-name", "#d").await;
    say(&alice, "/part").await;
    poll_page(
        "#d gone",
        async || conv_labels(&alice).await,
        |l| !l.iter().any(|x| x.starts_with("#d")),
    )
    .await;

    // The socket drops (the server stops): the page says so and keeps what is
    // typed; when the server is back the page is too, and the line arrives once.
    open_conv(&alice, "#a").await;
    open_conv(&bob, "#a").await;
    drop(carol);
    server.proc.child.kill().unwrap();
    server.proc.child.wait().unwrap();
    wait_in(&alice, "status", "reconnecting").await;
    say(&alice, "typed while away").await;
    wait_in(&alice, "pending", "waiting for the connection").await;
    let (_server, _) = tokio::task::block_in_place(|| site.start());
    wait_text(&bob, "typed while away").await;
    poll_page(
        "the line sent and confirmed",
        async || text_of(&alice, "pending").await,
        |p| p.is_empty(),
    )
    .await;
    assert_eq!(text_of(&alice, "status").await, "");
    assert_eq!(count_of(&alice, "typed while away").await, 1);
    assert_eq!(count_of(&bob, "typed while away").await, 1);
    assert_eq!(text_of(&alice, "me-name").await, "alice");

    // A page of another origin cannot open the socket.
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
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}
