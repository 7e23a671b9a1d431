//! A browser member and an IRC member in one room: lines both ways, each
//! in the other's list of members, and away shown on both (the page's
//! member list tags it; the IRC client with `away-notify` gets AWAY).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::driver::*;
use crate::irc::Raw;
use crate::util::Server;

/// A server with the page and the IRC listener: it, the page's URL and the
/// IRC address (each from the line `serve` prints for it).
fn web_and_irc() -> (Server, String, SocketAddr) {
    let mut s = Server::start(&[
        "--no-history",
        "--web",
        "127.0.0.1:0",
        "--irc",
        "127.0.0.1:0",
    ]);
    let (mut url, mut irc) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(15);
    while url.is_none() || irc.is_none() {
        let line = s.proc.stdout.next_until(deadline).expect("serve's lines");
        if let Some(at) = line.find("open in a browser: ") {
            url = Some(line[at..].rsplit(' ').next().unwrap().to_string());
        }
        if line.contains("irssi:   /connect ") {
            let port = line.split_whitespace().last().unwrap();
            irc = Some(format!("127.0.0.1:{port}").parse().unwrap());
        }
    }
    (s, url.unwrap(), irc.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_member_and_an_irc_member_share_a_room_and_see_each_others_away() {
    let (_server, url, addr) = tokio::task::block_in_place(web_and_irc);
    let (_driver, port) = tokio::task::block_in_place(chromedriver);
    let page = browser(port, 1280, 800).await;
    join_page(&page, &url, "Bea", "#mix").await;
    let mut irc = tokio::task::block_in_place(|| {
        let mut irc = Raw::register(addr, "ircy", "away-notify");
        irc.line("JOIN #mix");
        irc.lines.expect(" 353 ircy = #mix ");
        irc
    });
    wait_text(&page, "ircy joined").await;
    wait_in(&page, "member-list", "ircy").await;
    tokio::task::block_in_place(|| irc.line("PRIVMSG #mix :hello from irc"));
    wait_text(&page, "hello from irc").await;
    say(&page, "hello from the page").await;
    tokio::task::block_in_place(|| {
        irc.lines
            .expect(":Bea!u@tcpplay PRIVMSG #mix :hello from the page");
        irc.line("AWAY :making tea");
        irc.lines.expect(" 306 ircy ");
    });
    wait_text(&page, "ircy is away: making tea").await;
    let tagged = poll_page(
        "ircy tagged away in the member list",
        async || {
            js(
                &page,
                "return [...document.querySelectorAll('#member-list li')].map((l) => l.innerText.replace(/\\s+/g, ' ').trim());",
                vec![],
            )
            .await
        },
        |m| m.to_string().contains("ircy away"),
    )
    .await;
    assert!(tagged.to_string().contains("ircy away"), "{tagged}");
    say(&page, "/away back soon").await;
    tokio::task::block_in_place(|| irc.lines.expect(":Bea!u@tcpplay AWAY :back soon"));
    page.close().await.unwrap();
}
