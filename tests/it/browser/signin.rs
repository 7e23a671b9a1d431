//! An account on the page without its password: the holder, logged in with
//! `tcpplay join`, makes a one-time link (`/weblink`); the page opened with
//! it logs in to the account (the token leaves the address bar at once);
//! the same link a second time, or a guest under the account's name, is
//! refused with the reason shown; a guest cannot make a link. A signed-in
//! page whose socket drops comes back signed in, to the same account, and
//! sends what was typed meanwhile; after a server restart (which forgets
//! every token) it says what to do, keeps what was typed, and a new link
//! opened in the same tab brings it back.

use serde_json::json;
use tempfile::TempDir;

use super::driver::*;
use super::relay::Relay;
use crate::accounts::{gen_account, join, serve};
use crate::util::{make_cert, CertFiles, Peer, Proc, Server};

/// The holder `Ines`, logged in on a terminal, makes a link; the terminal
/// (still logged in) and the link's `#signin=…` fragment.
fn weblink(server: &Server, cert: &CertFiles) -> (Proc, String) {
    let mut ines = join(server, cert, "Ines", Some("ines-password"), &["--listen"]);
    ines.stderr.expect("Authenticated as Ines");
    let fragment = another_link(&mut ines);
    (ines, fragment)
}

/// `/weblink` again on the holder's terminal: the new link's fragment.
fn another_link(ines: &mut Proc) -> String {
    ines.send_line("/weblink");
    let said = ines.stdout.expect("#signin=");
    let at = said.find("#signin=").unwrap();
    said[at..].split_whitespace().next().unwrap().to_string()
}

/// The web address `server` printed.
fn web_addr(server: &mut Server) -> std::net::SocketAddr {
    let line = server.proc.stdout.expect("open in a browser: ");
    let url = line.rsplit(' ').next().unwrap();
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_signs_in_on_the_page_with_a_one_time_link_never_its_password() {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    gen_account(
        dir.path(),
        &dir.path().join("accounts.sqlite3"),
        "Ines",
        "ines-password",
    );
    let config = "[serve]\nregistration = \"open\"\n";
    let mut server = serve(&cert, dir.path(), config, &["--web", "127.0.0.1:0"]);
    let line = server.proc.stdout.expect("open in a browser: ");
    let url = line.rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("https://"), "{url}");

    // A guest cannot make a link.
    let mut guest = Peer::connect_tls(server.addr, &cert.cert);
    assert_eq!(guest.recv()["type"], "hello");
    guest.send(json!({"type": "auth", "name": "guest", "proto": 3}));
    guest.recv_type("auth_result");
    guest.send(json!({"type": "account", "op": "signin"}));
    assert_eq!(guest.recv_type("error")["code"], "not_logged_in");

    // The holder, logged in on a terminal, makes one.
    let (_ines, fragment) = tokio::task::block_in_place(|| weblink(&server, &cert));
    assert!(!fragment.contains("ines-password"));

    let (_driver, port) = tokio::task::block_in_place(chromedriver);
    let insecure = ["--ignore-certificate-errors"];
    let page = browser_with(port, 1280, 800, &insecure).await;
    page.goto(&format!("{url}{fragment}")).await.unwrap();
    assert_eq!(
        js(&page, "return location.hash;", vec![]).await,
        json!(""),
        "the token left the address bar"
    );
    assert_eq!(
        js(
            &page,
            "return document.getElementById('name').value;",
            vec![]
        )
        .await,
        json!("Ines")
    );
    assert_eq!(
        js(
            &page,
            "return document.querySelectorAll('input[type=password]').length;",
            vec![]
        )
        .await,
        json!(0)
    );
    click(&page, "#login button").await;
    wait_text(&page, "You joined").await;
    // (The holder is still on the terminal under the name: the page's session
    // of the same account gets the next one, and says so.)
    assert_eq!(text_of(&page, "me-name").await, "Ines-2");
    wait_in(&page, "status", "you are “Ines-2”").await;
    let members = poll_page("both sessions as the account", async || {
        js(&page, "return [...document.querySelectorAll('#member-list li')].map((l) => l.innerText.replace(/\\s+/g, ' ').trim());", vec![]).await
    }, |m| m.as_array().is_some_and(|a| a.len() == 3)).await;
    assert_eq!(
        members,
        json!(["G guest", "I Ines account", "I Ines-2 (you) account"])
    );

    // The wire panel shows the packets, not the tokens (the one used, and the
    // fresh one the page keeps for a reconnect).
    let wire = poll_page(
        "the page's fresh token",
        async || text_of_all(&page, "packets").await,
        |w| w.contains("\"op\":\"done\""),
    )
    .await;
    let token = fragment
        .trim_start_matches("#signin=")
        .split('&')
        .next()
        .unwrap();
    assert!(
        !wire.contains(token)
            && wire.contains("\"signin\":\"(hidden)\"")
            && wire.contains("\"token\":\"(hidden)\""),
        "{wire}"
    );

    // The same link again, and a guest under the account's name: refused, said.
    let again = browser_with(port, 1280, 800, &insecure).await;
    again.goto(&format!("{url}{fragment}")).await.unwrap();
    click(&again, "#login button").await;
    wait_in(
        &again,
        "notice",
        "this sign-in link does not log in to Ines",
    )
    .await;
    again.goto(&url).await.unwrap();
    type_into(&again, "name", "Ines").await;
    click(&again, "#login button").await;
    let said = wait_in(&again, "notice", "is registered").await;
    assert!(
        said.contains("signs in with a one-time link")
            && said.contains("/weblink NAME at its console"),
        "{said}"
    );
    page.close().await.unwrap();
    again.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_page_comes_back_signed_in_after_a_drop_and_after_a_restart_asks_for_a_new_link(
) {
    let cert = make_cert();
    let dir = TempDir::new().unwrap();
    gen_account(
        dir.path(),
        &dir.path().join("accounts.sqlite3"),
        "Ines",
        "ines-password",
    );
    let config = "[serve]\nregistration = \"open\"\n";
    let web = ["--web", "127.0.0.1:0"];
    let mut server = serve(&cert, dir.path(), config, &web);
    let relay = Relay::new(web_addr(&mut server)).await;
    let url = format!("https://{}/", relay.addr);
    let (mut ines, fragment) = tokio::task::block_in_place(|| weblink(&server, &cert));

    let (_driver, port) = tokio::task::block_in_place(chromedriver);
    let page = browser_with(port, 1280, 800, &["--ignore-certificate-errors"]).await;
    page.goto(&format!("{url}{fragment}")).await.unwrap();
    click(&page, "#login button").await;
    wait_text(&page, "You joined").await;
    // The holder is on the terminal as Ines: the page is the account's second session.
    assert_eq!(text_of(&page, "me-name").await, "Ines-2");
    poll_page(
        "the page's fresh token",
        async || text_of_all(&page, "packets").await,
        |w| w.contains("\"op\":\"done\""),
    )
    .await;

    // The network drops (the server runs on): the page says so, keeps what is
    // typed, and comes back as the account, not as a guest refused its name.
    relay.cut();
    wait_in(&page, "status", "reconnecting").await;
    say(&page, "typed while the network was away").await;
    tokio::task::block_in_place(|| {
        ines.stdout
            .expect("Ines-2: typed while the network was away")
    });
    poll_page(
        "the line sent and confirmed",
        async || text_of(&page, "pending").await,
        |p| p.is_empty(),
    )
    .await;
    assert_eq!(text_of(&page, "status").await, "");
    assert_eq!(text_of(&page, "me-name").await, "Ines-2");
    let members = js(
        &page,
        "return [...document.querySelectorAll('#member-list li')].map((l) => l.innerText.replace(/\\s+/g, ' ').trim());",
        vec![],
    )
    .await;
    assert!(
        members.to_string().contains("Ines-2 (you) account"),
        "{members}"
    );

    // The server restarts and forgets every token: the page stops knocking,
    // says what to do, and keeps what is typed.
    drop(ines);
    server.proc.child.kill().unwrap();
    server.proc.child.wait().unwrap();
    let mut server = serve(&cert, dir.path(), config, &web);
    relay.to(web_addr(&mut server));
    let said = wait_in(&page, "status", "/weblink").await;
    assert!(
        said.contains("signed out") && said.contains("open it in this tab"),
        "{said}"
    );
    say(&page, "typed while signed out").await;
    wait_in(&page, "pending", "typed while signed out").await;
    assert!(text_of(&page, "status").await.contains("/weblink"));

    // A new link, opened in the same tab: signed in again, the line sent once.
    let (mut ines, fragment) = tokio::task::block_in_place(|| weblink(&server, &cert));
    page.goto(&format!("{url}{fragment}")).await.unwrap();
    tokio::task::block_in_place(|| ines.stdout.expect(": typed while signed out"));
    poll_page(
        "the line sent and confirmed",
        async || text_of(&page, "pending").await,
        |p| p.is_empty(),
    )
    .await;
    assert_eq!(text_of(&page, "status").await, "");
    assert_eq!(
        js(&page, "return location.hash;", vec![]).await,
        json!(""),
        "the token left the address bar"
    );

    // A link opened in a tab that is in the chat is not taken there (a page
    // that opened the tab could switch it to an account of its own, unseen);
    // it is said, and the link still works in a new tab.
    let fragment = tokio::task::block_in_place(|| another_link(&mut ines));
    let me = text_of(&page, "me-name").await;
    page.goto(&format!("{url}{fragment}")).await.unwrap();
    wait_in(&page, "status", "open that sign-in link in a new tab").await;
    assert_eq!(text_of(&page, "me-name").await, me);
    let tab = browser_with(port, 1280, 800, &["--ignore-certificate-errors"]).await;
    tab.goto(&format!("{url}{fragment}")).await.unwrap();
    click(&tab, "#login button").await;
    wait_text(&tab, "You joined").await;
    page.close().await.unwrap();
    tab.close().await.unwrap();
}
