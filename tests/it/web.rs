//! Browser access over a real WebSocket client (tokio-tungstenite) and raw
//! HTTP: the page's headers, the same packets as TCP one per message, a
//! browser member and a `tcpplay join` member in one room, and what bad
//! input gets (another site's Origin, a binary frame, two packets in one
//! message).

use std::io::{Read, Write};
use std::net::TcpStream;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::util::Server;

/// A server with `--web` on 127.0.0.1, and the page's address.
fn web_server() -> (Server, String) {
    crate::util::web_server(&[], &[])
}

fn get(host: &str, path: &str) -> String {
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(host: &str, origin: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{host}/ws").into_client_request().unwrap();
    req.headers_mut().insert("Origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(crate::util::WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).unwrap(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no packet: {other:?}"),
        }
    }
}

async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next_json(ws).await;
        if pred(&v) {
            return v;
        }
    }
}

#[test]
fn the_page_is_served_with_a_strict_policy_and_nothing_else_is() {
    let (_server, host) = web_server();
    let page = get(&host, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{page}"
    );
    assert!(lower.contains("x-content-type-options: nosniff"), "{page}");
    assert!(
        page.contains("<script src=\"/app.js\" defer></script>"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "no inline script");
    let js = get(&host, "/app.js");
    assert!(
        js.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{js}"
    );
    assert!(!js.contains("innerHTML"), "the script never inserts HTML");
    assert!(get(&host, "/etc/passwd").starts_with("HTTP/1.1 404"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_member_and_a_tcp_member_talk_in_one_room() {
    let (server, host) = web_server();
    let mut ws = open(&host, &format!("http://{host}")).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    let auth = json!({"type": "auth", "name": "webby", "proto": 3, "rooms": ["#web"]});
    ws.send(Message::Text(auth.to_string().into()))
        .await
        .unwrap();
    let ok = until(&mut ws, |v| v["type"] == "auth_result").await;
    assert_eq!(ok["client_name"], "webby", "{ok}");
    until(&mut ws, |v| v["type"] == "joined").await;

    let mut tcp = tokio::task::block_in_place(|| {
        let mut p = server.join(&["--name", "termy", "--no-tls", "--room", "#web", "--listen"]);
        p.stderr.expect("Authenticated as termy");
        p
    });
    until(&mut ws, |v| v["event"] == "join" && v["name"] == "termy").await;
    let chat = json!({"type": "chat", "text": "hello from a browser <img src=x>", "room": "#web"});
    ws.send(Message::Text(chat.to_string().into()))
        .await
        .unwrap();
    tokio::task::block_in_place(|| tcp.stdout.expect("webby: hello from a browser <img src=x>"));
    tokio::task::block_in_place(|| {
        tcp.send_line("and hello from a terminal");
    });
    let line = until(&mut ws, |v| v["type"] == "chat" && v["from"] == "termy").await;
    assert_eq!(line["text"], "and hello from a terminal");
    assert_eq!(line["room"], "#web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sites_page_binary_frames_and_packed_messages_are_refused() {
    let (_server, host) = web_server();
    // Cross-site WebSocket hijacking: a page from elsewhere cannot open it.
    match open(&host, "http://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("another origin was let in: {:?}", other.map(|_| ())),
    }
    for (msg, code) in [
        (Message::Binary(vec![1, 2, 3].into()), 1003u16),
        (
            Message::Text("{\"type\":\"ping\"}\n{\"type\":\"ping\"}".into()),
            1007,
        ),
    ] {
        let mut ws = open(&host, &format!("http://{host}")).await.unwrap();
        next_json(&mut ws).await;
        ws.send(msg).await.unwrap();
        let closed = loop {
            match tokio::time::timeout(crate::util::WAIT, ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => break f,
                Ok(Some(Ok(_))) => continue,
                other => panic!("not closed with a reason: {other:?}"),
            }
        };
        assert_eq!(u16::from(closed.code), code, "{closed:?}");
        assert!(!closed.reason.is_empty());
    }
}

/// A browser member that stops reading is dropped as too slow, as a TCP
/// one is (its socket's buffer is bounded), while the member who
/// reads gets every line; the server's memory does not grow with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_stops_reading_is_dropped_as_too_slow() {
    use std::io::{BufRead, BufReader};
    let mut server = Server::start_with(
        &["--no-history", "--web", "127.0.0.1:0"],
        &[("TCPPLAY_LIMITS__MESSAGES_PER_SECOND", "0")],
        std::sync::Arc::new(tempfile::TempDir::new().unwrap()),
    );
    let line = server.proc.stdout.expect("open in a browser: ");
    let host = line
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .trim_start_matches("http://")
        .to_string();
    let mut stalled = open(&host, &format!("http://{host}")).await.unwrap();
    next_json(&mut stalled).await;
    let auth = json!({"type": "auth", "name": "stalled", "proto": 3});
    stalled
        .send(Message::Text(auth.to_string().into()))
        .await
        .unwrap();
    until(&mut stalled, |v| v["type"] == "auth_result").await;
    // From here the browser reads nothing. 12 MB of chat: past its
    // kernel buffers, its socket's buffer and its 1 MiB allowance.
    let addr = server.addr;
    let sent = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(crate::util::WAIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        writeln!(s, "{}", json!({"type": "auth", "name": "talker"})).unwrap();
        let text = "x".repeat(3900);
        let mut echoed = 0;
        for round in 0..30 {
            for i in 0..100 {
                writeln!(
                    s,
                    "{}",
                    json!({"type": "chat", "text": format!("{round}-{i} {text}")})
                )
                .unwrap();
            }
            // Read our own lines back as they come: this member keeps up.
            while echoed < (round + 1) * 100 {
                l.clear();
                if r.read_line(&mut l).unwrap() == 0 {
                    panic!("the reading member was dropped");
                }
                if l.contains("\"type\":\"chat\"") && l.contains("\"from\":\"talker\"") {
                    echoed += 1;
                }
            }
        }
        echoed
    });
    tokio::task::block_in_place(|| server.proc.stderr.expect("client too slow"));
    assert_eq!(
        sent.await.unwrap(),
        3000,
        "the member who reads got every line"
    );
}

/// What a socket that breaks the framing rules gets: a message longer
/// than `limits.max_frame_bytes` (whole, or as a flood of fragments that
/// never ends) is closed with 1009 and the limit named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_long_messages_and_fragment_floods_are_closed_with_1009() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let (_server, host) = web_server();
    let whole = vec![Message::Text("x".repeat(70_000).into())];
    let mut fragments = vec![Message::Frame(Frame::message(
        vec![b'x'; 4096],
        OpCode::Data(Data::Text),
        false,
    ))];
    for _ in 0..20 {
        fragments.push(Message::Frame(Frame::message(
            vec![b'x'; 4096],
            OpCode::Data(Data::Continue),
            false,
        )));
    }
    for msgs in [whole, fragments] {
        let mut ws = open(&host, &format!("http://{host}")).await.unwrap();
        next_json(&mut ws).await;
        for m in msgs {
            // The server may close before the last fragment.
            if ws.send(m).await.is_err() {
                break;
            }
        }
        let closed = loop {
            match tokio::time::timeout(crate::util::WAIT, ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => break f,
                Ok(Some(Ok(_))) => continue,
                other => panic!("not closed with a reason: {other:?}"),
            }
        };
        assert_eq!(u16::from(closed.code), 1009, "{closed:?}");
        assert!(
            closed
                .reason
                .contains("65536 bytes (limits.max_frame_bytes)"),
            "{closed:?}"
        );
    }
}

/// A socket that sends pings and never reads their pongs is not read
/// further once its unread replies fill the server's buffer for it: the
/// flood cannot finish, the server's memory stays bounded, and a member
/// beside it chats as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_without_reading_the_pongs_are_held_back_and_memory_stays_bounded() {
    use std::io::{BufRead, BufReader};
    let (server, host) = web_server();
    let pid = server.proc.child.id();
    let rss = || crate::util::rss_kib(pid);
    let before = rss();
    let mut ws = open(&host, &format!("http://{host}")).await.unwrap();
    next_json(&mut ws).await;
    // 400,000 pings of 125 bytes: 52 MB on the wire, if the server read it all.
    const PINGS: usize = 400_000;
    let (mut sink, stream) = ws.split();
    let flood = tokio::spawn(async move {
        let mut sent = 0;
        for _ in 0..PINGS {
            if sink
                .feed(Message::Ping(vec![b'p'; 125].into()))
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        let _ = sink.flush().await;
        sent
    });
    // A TCP member beside it is served.
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(crate::util::WAIT)).unwrap();
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        writeln!(w, "{}", json!({"type": "auth", "name": "beside"})).unwrap();
        writeln!(w, "{}", json!({"type": "chat", "text": "still here"})).unwrap();
        loop {
            l.clear();
            assert!(
                r.read_line(&mut l).unwrap() > 0,
                "the member beside was dropped"
            );
            if l.contains("still here") {
                break;
            }
        }
    })
    .await
    .unwrap();
    // The flood is held back: it cannot have finished (the server stopped
    // reading), however long it is given.
    let held = tokio::time::timeout(std::time::Duration::from_secs(3), flood).await;
    assert!(held.is_err(), "the server read every ping: {held:?}");
    let grew = rss().saturating_sub(before);
    assert!(
        grew < 16 * 1024,
        "server memory grew by {grew} KiB under the ping flood"
    );
    drop(stream);
}
