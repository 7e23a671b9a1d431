//! `serve --irc`: IRC clients written by others (Python's `irc` package,
//! `sic`) and raw IRC lines, beside `tcpplay join` members, in the same
//! rooms. Each test starts its own server on port 0.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::util::{Lines, Proc, Server};

/// A server with `--irc` on 127.0.0.1 (`extra` appended), and the IRC address.
pub(crate) fn irc_server(extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = vec!["--irc", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut server = Server::start(&args);
    let line = server.proc.stdout.expect("irssi:   /connect");
    let mut words = line.split_whitespace().rev();
    let port = words.next().unwrap();
    let host = words.next().unwrap();
    (server, format!("{host}:{port}").parse().unwrap())
}

/// Python with the `irc` package (python3-irc, as `.ci/run` installs it).
fn python_irc() -> &'static str {
    for py in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(py)
            .args(["-c", "import irc.client"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return py;
        }
    }
    panic!("no python3 with the irc package: install python3-irc (.ci/run does)");
}

fn python_client(addr: SocketAddr, nick: &str) -> Proc {
    let mut cmd = Command::new(python_irc());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/irc_client.py"
    ))
    .args([&addr.ip().to_string(), &addr.port().to_string(), nick]);
    Proc::spawn(cmd)
}

/// A raw IRC connection: lines out, lines in (with a reader thread).
pub(crate) struct Raw {
    s: TcpStream,
    pub(crate) lines: Lines,
}

impl Raw {
    pub(crate) fn connect(addr: SocketAddr) -> Raw {
        Raw::connect_from(addr, None)
    }

    /// From a chosen loopback source address (e.g. 127.0.0.7).
    pub(crate) fn connect_from(addr: SocketAddr, from: Option<std::net::IpAddr>) -> Raw {
        let s = match from {
            None => TcpStream::connect(addr).unwrap(),
            Some(ip) => {
                let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                sock.bind(&SocketAddr::new(ip, 0).into())
                    .expect("bind source address");
                sock.connect(&addr.into()).expect("connect");
                sock.into()
            }
        };
        let lines = Lines::spawn(BufReader::new(s.try_clone().unwrap()), "irc");
        Raw { s, lines }
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    pub(crate) fn line(&mut self, l: &str) {
        self.send(format!("{l}\r\n").as_bytes());
    }

    pub(crate) fn register(addr: SocketAddr, nick: &str, caps: &str) -> Raw {
        Raw::register_from(addr, nick, caps, None)
    }

    pub(crate) fn register_from(
        addr: SocketAddr,
        nick: &str,
        caps: &str,
        from: Option<std::net::IpAddr>,
    ) -> Raw {
        let mut r = Raw::connect_from(addr, from);
        if !caps.is_empty() {
            r.line("CAP LS 302");
            r.line(&format!("CAP REQ :{caps}"));
        }
        r.line(&format!("NICK {nick}"));
        r.line(&format!("USER {nick} 0 * :{nick}"));
        if !caps.is_empty() {
            r.lines.expect(" ACK ");
            r.line("CAP END");
        }
        r.lines.expect(" 001 ");
        r
    }
}

#[test]
fn a_python_irc_client_and_tcpplay_members_chat_act_rename_set_topics_and_dm_both_ways() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls"]);
    tom.stdout.expect("Tom joined");
    let mut ann = server.join(&["--name", "Ann (teacher)", "--no-tls"]);
    ann.stdout.expect("Ann (teacher) joined");
    let mut py = python_client(addr, "pybot");
    py.stdout.expect("welcome tcpplay pybot");
    let names = py.stdout.expect("namreply");
    let derived = names
        .split_whitespace()
        .find(|w| w.starts_with("Ann_teacher|"))
        .unwrap_or_else(|| panic!("no derived nick for Ann (teacher) in {names}"))
        .to_string();
    tom.stdout.expect("pybot joined");
    // A channel conversation, both ways, and /me.
    tom.send_line("hello irc");
    py.stdout.expect("pubmsg Tom #lobby hello irc");
    py.send_line("PRIVMSG #lobby :hello tcpplay");
    tom.stdout.expect("pybot: hello tcpplay");
    py.send_line("PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
    tom.stdout.expect("pybot waves");
    ann.send_line("/me smiles");
    py.stdout.expect(&format!("action {derived} #lobby smiles"));
    // DMs both ways, to a derived nick too.
    tom.send_line("/msg pybot psst");
    py.stdout.expect("privmsg Tom pybot psst");
    py.send_line(&format!("PRIVMSG {derived} :for the teacher"));
    ann.stdout.expect("for the teacher");
    // A rename and a topic, as the others see them.
    py.send_line("NICK pybot2");
    py.stdout.expect("nick pybot pybot2");
    tom.stdout.expect("pybot is now pybot2");
    py.send_line("TOPIC #lobby :irc was here");
    tom.stdout.expect("irc was here");
    tom.send_line("/nick Thomas");
    py.stdout.expect("nick Tom Thomas");
    // WHOIS gives the real name behind a derived nick; nobody is 401.
    py.send_line(&format!("WHOIS {derived}"));
    let who = py.stdout.expect("whoisuser");
    assert!(
        who.ends_with(&format!("{derived} u tcpplay * Ann (teacher)")),
        "{who}"
    );
    py.send_line("WHOIS nobody");
    py.stdout.expect("nosuchnick");
    // QUIT with a reason: the others read it.
    py.send_line("QUIT :gone fishing");
    tom.stdout.expect("pybot2 left (gone fishing)");
}

#[test]
fn history_on_join_reaches_an_irc_client_with_its_times_in_a_chathistory_batch() {
    let (server, addr) = irc_server(&[]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls"]);
    tom.stdout.expect("Tom joined");
    for n in 1..=3 {
        tom.send_line(&format!("line {n}"));
        tom.stdout.expect(&format!("Tom: line {n}"));
    }
    let mut irc = Raw::register(addr, "late", "server-time batch message-tags");
    let start = irc.lines.expect("BATCH +");
    assert!(start.contains("chathistory #lobby"), "{start}");
    let id = start
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_start_matches('+')
        .to_string();
    let mut ids = Vec::new();
    for n in 1..=3 {
        let l = irc.lines.expect(&format!("PRIVMSG #lobby :line {n}"));
        assert!(l.starts_with(&format!("@batch={id};time=20")), "{l}");
        assert!(l.contains(":Tom!"), "{l}");
        let msgid: u64 = l
            .split("msgid=")
            .nth(1)
            .unwrap()
            .split([' ', ';'])
            .next()
            .unwrap()
            .parse()
            .unwrap();
        ids.push(msgid);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in order: {ids:?}");
    irc.lines.expect(&format!("BATCH -{id}"));
    // A live line after the replay carries no batch.
    tom.send_line("live now");
    let live = irc.lines.expect("live now");
    assert!(!live.contains("batch="), "{live}");
}

#[test]
fn sic_a_minimal_client_joins_and_talks_with_a_tcpplay_member() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls", "--room", "#sic"]);
    tom.stdout.expect("Tom joined");
    let mut cmd = Command::new("sic");
    cmd.args([
        "-h",
        &addr.ip().to_string(),
        "-p",
        &addr.port().to_string(),
        "-n",
        "sicko",
    ]);
    let mut sic = Proc::spawn(cmd);
    sic.stdout.expect("Welcome to the tcpplay network");
    sic.send_line(":j #sic");
    tom.stdout.expect("sicko joined");
    sic.send_line(":m #sic hi from sic");
    tom.stdout.expect("sicko: hi from sic");
    tom.send_line("hi sic");
    sic.stdout.expect("<Tom> hi sic");
}

#[test]
fn a_secure_room_refuses_irc_clients_saying_why_and_what_to_use() {
    let home = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let pw = home.path().join("pw");
    std::fs::write(&pw, "correct horse battery").unwrap();
    let cert = crate::util::make_cert();
    let mut server = Server::start_with(
        &[
            "--secure",
            "--cert",
            cert.cert.to_str().unwrap(),
            "--key",
            cert.key.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
            "--irc",
            "127.0.0.1:0",
            "--no-history",
        ],
        &[],
        home,
    );
    let line = server.proc.stdout.expect("IRC on ");
    assert!(line.contains("refused"), "{line}");
    let addr: SocketAddr = line
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches(':')
        .parse()
        .unwrap();
    let cfg = tcpplay::tls::client_config(&tcpplay::tls::Trust::File(cert.cert.clone())).unwrap();
    let name = tcpplay::tls::server_name("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
    tls.write_all(b"NICK x\r\nUSER x 0 * :x\r\n").unwrap();
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut tls, &mut text);
    assert!(
        text.contains("NOTICE x :this tcpplay server is a secure room"),
        "{text}"
    );
    assert!(
        text.contains(" 465 x :") && text.contains("tcpplay join"),
        "{text}"
    );
    assert!(text.contains("ERROR :Closing link"), "{text}");
    assert!(!text.contains(" 001 "), "{text}");
}

#[test]
fn bad_irc_lines_are_refused_each_with_its_reason_and_the_client_goes_on() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls"]);
    tom.stdout.expect("Tom joined");
    let mut irc = Raw::register(addr, "bad", "");
    let long = format!("PRIVMSG #lobby :{}\r\n", "x".repeat(600));
    irc.send(long.as_bytes());
    irc.lines.expect(" 417 bad :Input line was too long");
    irc.send(b"PRIVMSG #lobby :a\rb\r\n");
    irc.lines.expect("carriage return");
    irc.send(b"PRIVMSG #lobby :a\0b\r\n");
    irc.lines.expect("holds a NUL");
    irc.send(b"PRIVMSG #lobby :\xff\xfeoops\r\n");
    irc.lines.expect("not UTF-8");
    irc.line("FROB x");
    irc.lines.expect(" 421 bad FROB ");
    irc.line("JOIN");
    irc.lines.expect(" 461 bad JOIN ");
    // A refused NAMES does not make the next WHO's answer a NAMES.
    irc.line("NAMES #nosuch");
    irc.lines.expect(" 403 bad #nosuch ");
    irc.line("WHO #lobby");
    irc.lines
        .expect(" 352 bad #lobby u tcpplay tcpplay Tom H :0 Tom");
    irc.lines.expect(" 315 bad #lobby ");
    // A bare LF ends a line too, and nothing refused reached the room.
    irc.send(b"PRIVMSG #lobby :still here\n");
    tom.stdout.expect("bad: still here");
    assert!(
        !tom.stdout
            .seen()
            .iter()
            .any(|l| l.contains("oops") || l.contains("xxxx")),
        "{:?}",
        tom.stdout.seen()
    );
    // Colour codes and bidi overrides reach tcpplay members as they render
    // every control character: escaped.
    irc.line("PRIVMSG #lobby :\u{3}4red\u{3} \u{202e}evil");
    tom.stdout.expect("bad: \\u{3}4red\\u{3} \\u{202e}evil");
    // A tcpplay member's control characters cannot forge CTCP.
    tom.send_line("/me \u{1}DCC SEND x\u{1}");
    let l = irc.lines.expect("DCC SEND x");
    assert_eq!(
        l.matches('\u{1}').count(),
        2,
        "only the ACTION's own: {l:?}"
    );
}

#[test]
fn join_and_ping_floods_stay_bounded_and_registration_that_never_ends_is_closed() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut irc = Raw::register(addr, "flood", "");
    // 10,000 channels asked at once: a line holds at most ~250; each over
    // limits.max_rooms_per_member gets 405, the others meet the room rules.
    let chans: Vec<String> = (0..90).map(|i| format!("#c{i}")).collect();
    irc.line(&format!("JOIN {}", chans.join(",")));
    irc.lines.expect(" 405 flood #c16 ");
    // Pings without reading the answers: the server stops reading, then goes on.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"NICK pinger\r\nUSER p 0 * :p\r\n").unwrap();
    let pings = "PING :x\r\n".repeat(2000);
    for _ in 0..50 {
        if s.write_all(pings.as_bytes()).is_err() {
            break;
        }
    }
    irc.line("PING :alive");
    irc.lines.expect("PONG tcpplay alive");
    drop(s);
    // NICK and no USER: closed at the handshake deadline (limits.handshake_timeout).
    let slow = Server::start_with(
        &["--irc", "127.0.0.1:0", "--no-history"],
        &[("TCPPLAY_LIMITS__HANDSHAKE_TIMEOUT", "1")],
        std::sync::Arc::new(tempfile::TempDir::new().unwrap()),
    );
    let mut slow = slow;
    let line = slow.proc.stdout.expect("irssi:   /connect");
    let port = line.split_whitespace().last().unwrap();
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    s.write_all(b"NICK never\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = String::new();
    for l in BufReader::new(s).lines() {
        match l {
            Ok(l) => all.push_str(&l),
            Err(_) => break,
        }
    }
    assert!(all.contains("ERROR :Closing link"), "{all}");
    drop(server);
}

#[test]
fn a_nick_a_tcpplay_member_holds_gets_433_and_another_nick_registers() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls"]);
    tom.stdout.expect("Tom joined");
    let mut irc = Raw::connect(addr);
    irc.line("NICK tom");
    irc.line("USER t 0 * :t");
    irc.lines.expect(" 433 * tom :Nickname is already in use");
    irc.line("NICK tom_");
    irc.lines.expect(" 001 tom_ ");
    tom.stdout.expect("tom_ joined");
}

#[test]
fn under_tls_the_irc_address_speaks_irc_over_tls_with_the_same_certificate() {
    let cert = crate::util::make_cert();
    let mut server = Server::tls(
        &cert.cert,
        &cert.key,
        &["--irc", "127.0.0.1:0", "--no-history"],
    );
    let line = server.proc.stdout.expect("irssi:   /connect -tls");
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    let mut irc = irc_tls(port, &cert.cert);
    // JOIN right behind NICK and USER: held until registration is answered.
    tls_send(&mut irc, "NICK sec\r\nUSER sec 0 * :sec\r\nJOIN #tls\r\n");
    let seen = tls_until(&mut irc, ":sec!u@tcpplay JOIN #tls");
    assert!(seen.iter().any(|l| l.contains(" 001 sec ")), "{seen:?}");
    assert!(!seen.iter().any(|l| l.contains(" 451 ")), "{seen:?}");
    let mut tom = server.join(&[
        "--name",
        "Tom",
        "--room",
        "#tls",
        "--cert",
        cert.cert.to_str().unwrap(),
    ]);
    tom.stdout.expect("you joined #tls (2 here)");
    tls_send(&mut irc, "PRIVMSG #tls :over tls\r\n");
    tom.stdout.expect("sec: over tls");
}

#[test]
fn an_irc_room_operator_kicks_and_bans_a_tcpplay_member_and_sets_the_topic_lock() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut irc = Raw::register(addr, "opal", "");
    irc.line("JOIN #ops");
    irc.lines.expect(" 353 opal = #ops @opal");
    let mut tom = server.join(&["--name", "Tom", "--no-tls", "--room", "#ops"]);
    tom.stdout.expect("you joined #ops");
    irc.lines.expect(":Tom!u@tcpplay JOIN #ops");
    irc.line("KICK #ops Tom :too loud");
    irc.lines.expect(":tcpplay KICK #ops Tom :");
    tom.stdout.expect("too loud");
    irc.line("MODE #ops +b Tom!*@*");
    irc.lines.expect("NOTICE #ops");
    tom.send_line("/join #ops");
    tom.stdout.expect("banned");
    irc.line("MODE #ops +t");
    irc.lines.expect("NOTICE #ops");
    // Tom is not an operator anywhere: his MODE is the session's refusal.
    tom.send_line("/join #open");
    tom.stdout.expect("you joined #open");
    let mut guest = Raw::register(addr, "guest", "");
    // The ban on Tom holds the guests from his address (all of this test's
    // are on 127.0.0.1), not the operator who made it.
    guest.line("JOIN #ops");
    guest.lines.expect(" 474 guest #ops ");
    irc.line("MODE #ops -b Tom!*@*");
    irc.lines.expect("NOTICE #ops");
    guest.line("JOIN #ops");
    guest.lines.expect(":guest!u@tcpplay JOIN #ops");
    guest.line("KICK #ops opal :coup");
    guest.lines.expect(" 482 guest #ops ");
    guest.line("TOPIC #ops :mine now");
    guest.lines.expect(" 482 guest #ops ");
}

#[test]
fn an_irc_member_on_one_cluster_node_and_a_tcpplay_member_on_another_share_a_room() {
    let redis = crate::cluster::Redis::start();
    let mut n1 = crate::cluster::node(&redis, "n1", &["--irc", "127.0.0.1:0"]);
    let n2 = crate::cluster::node(&redis, "n2", &[]);
    let line = n1.proc.stdout.expect("irssi:   /connect");
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut irc = Raw::register(addr, "ircy", "server-time message-tags");
    irc.line("JOIN #both");
    irc.lines.expect(":ircy!u@tcpplay JOIN #both");
    let mut tom = n2.join(&["--name", "Tom", "--no-tls", "--room", "#both"]);
    tom.stdout.expect("you joined #both");
    tom.stdout.expect("2 connected");
    tom.send_line("from node two");
    let l = irc.lines.expect("PRIVMSG #both :from node two");
    assert!(l.contains("msgid=") && l.contains("time="), "{l}");
    irc.line("PRIVMSG #both :from node one");
    tom.stdout.expect("ircy: from node one");
    irc.line("PRIVMSG Tom :across nodes");
    tom.stdout.expect("across nodes");
}

/// WeeChat, headless (`weechat-headless`, as `.ci/run` installs it), in
/// its own directory, connected to `addr` as `nick`; driven through its
/// FIFO, read through its logs (flushed at once).
struct WeeChat {
    _proc: Proc,
    dir: tempfile::TempDir,
}

impl WeeChat {
    /// `cert`: IRC over TLS, trusting that file (as `serve` prints it; the
    /// option is `ssl` before WeeChat 4.0 and `tls` since: both are set).
    fn start(addr: SocketAddr, nick: &str, cert: Option<&std::path::Path>) -> WeeChat {
        let dir = tempfile::TempDir::new().unwrap();
        let tls = match cert {
            None => "/set irc.server.tcpplay.tls off".to_string(),
            Some(c) => format!(
                "/set weechat.network.gnutls_ca_user {};/set irc.server.tcpplay.ssl on;/set irc.server.tcpplay.tls on",
                c.display()
            ),
        };
        let run = format!(
            "/set logger.file.flush_delay 0;/set fifo.file.enabled on;\
             /server add tcpplay {}/{};{tls};/set irc.server.tcpplay.nicks {nick};\
             /connect tcpplay",
            addr.ip(),
            addr.port()
        );
        let mut cmd = Command::new("weechat-headless");
        cmd.arg("-d").arg(dir.path()).args(["-r", &run]);
        let w = WeeChat {
            _proc: Proc::spawn(cmd),
            dir,
        };
        w.log_has("irc.server.tcpplay", "Welcome to the tcpplay network");
        w
    }

    /// Wait until `buffer`'s log holds `pat`; the line.
    fn log_has(&self, buffer: &str, pat: &str) -> String {
        let path = self
            .dir
            .path()
            .join("logs")
            .join(format!("{buffer}.weechatlog"));
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(l) = text.lines().find(|l| l.contains(pat)) {
                return l.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {pat:?} in {}: {text}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Type `line` into `buffer` (as `irc.tcpplay.#lobby`).
    fn say(&self, buffer: &str, line: &str) {
        let fifo = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("weechat_fifo")
            })
            .expect("WeeChat's FIFO");
        let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
        writeln!(f, "{buffer} *{line}").unwrap();
    }
}

#[test]
fn weechat_headless_chats_acts_renames_sets_topics_dms_and_reads_history_with_tcpplay_members() {
    let (server, addr) = irc_server(&[]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls"]);
    tom.stdout.expect("Tom joined");
    tom.send_line("said before weechat came");
    tom.stdout.expect("Tom: said before weechat came");
    let wee = WeeChat::start(addr, "weechy", None);
    // History on join, with the time it was said (server-time).
    let old = wee.log_has("irc.tcpplay.#lobby", "said before weechat came");
    assert!(old.contains("\tTom\t"), "{old}");
    tom.stdout.expect("weechy joined");
    tom.send_line("hi weechat");
    wee.log_has("irc.tcpplay.#lobby", "Tom\thi weechat");
    wee.say("irc.tcpplay.#lobby", "hello from weechat");
    tom.stdout.expect("weechy: hello from weechat");
    wee.say("irc.tcpplay.#lobby", "/me waves");
    tom.stdout.expect("weechy waves");
    wee.say("irc.tcpplay.#lobby", "/msg Tom psst");
    tom.stdout.expect("psst");
    tom.send_line("/msg weechy back at you");
    wee.log_has("irc.tcpplay.tom", "back at you");
    wee.say("irc.tcpplay.#lobby", "/topic set from weechat");
    tom.stdout.expect("set from weechat");
    wee.say("irc.tcpplay.#lobby", "/nick weechy2");
    tom.stdout.expect("weechy is now weechy2");
    tom.send_line("/nick Thomas");
    wee.log_has("irc.tcpplay.#lobby", "Tom is now known as Thomas");
}

pub(crate) type TlsLines = BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// IRC over TLS to 127.0.0.1:`port`, trusting `cert`.
pub(crate) fn irc_tls(port: u16, cert: &std::path::Path) -> TlsLines {
    let cfg = tcpplay::tls::client_config(&tcpplay::tls::Trust::File(cert.to_path_buf())).unwrap();
    let name = tcpplay::tls::server_name("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    BufReader::new(rustls::StreamOwned::new(conn, sock))
}

pub(crate) fn tls_send(r: &mut TlsLines, lines: &str) {
    r.get_mut().write_all(lines.as_bytes()).unwrap();
    r.get_mut().flush().unwrap();
}

/// Lines until one holding `pat` (that one last).
pub(crate) fn tls_until(r: &mut TlsLines, pat: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        if let Err(e) = r.read_line(&mut line) {
            panic!("{e} before {pat:?}: {seen:?}");
        }
        assert!(!line.is_empty(), "closed before {pat:?}: {seen:?}");
        seen.push(line.clone());
        if line.contains(pat) {
            return seen;
        }
    }
}

#[test]
fn a_registered_name_is_never_taken_over_irc_without_its_proof() {
    let dir = tempfile::TempDir::new().unwrap();
    let cert = crate::util::make_cert();
    crate::accounts::gen_account(
        dir.path(),
        &dir.path().join("accounts.sqlite3"),
        "alice",
        "a long passphrase",
    );
    let mut server = crate::accounts::serve(&cert, dir.path(), "", &["--irc", "127.0.0.1:0"]);
    let line = server.proc.stdout.expect("irssi:   /connect -tls");
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    let mut irc = irc_tls(port, &cert.cert);
    tls_send(
        &mut irc,
        "CAP LS 302\r\nNICK alice\r\nUSER a 0 * :a\r\nCAP END\r\n",
    );
    let seen = tls_until(&mut irc, " 433 * alice ");
    assert!(
        !seen.iter().any(|l| l.contains("sasl")),
        "no SASL offered: {seen:?}"
    );
    assert!(
        seen.last()
            .unwrap()
            .contains("the name alice is registered"),
        "{seen:?}"
    );
    tls_until(&mut irc, "cannot log in to a tcpplay account");
    tls_send(&mut irc, "AUTHENTICATE PLAIN\r\nNICK alice2\r\n");
    tls_until(
        &mut irc,
        " 904 * :SASL authentication failed: no mechanism is offered",
    );
    let seen = tls_until(&mut irc, " 001 alice2 ");
    assert!(!seen.iter().any(|l| l.contains(" 001 alice ")), "{seen:?}");
}

#[test]
fn weechat_over_tls_trusts_the_servers_certificate_file_and_chats() {
    let cert = crate::util::make_cert();
    let mut server = Server::tls(
        &cert.cert,
        &cert.key,
        &["--irc", "127.0.0.1:0", "--no-history"],
    );
    let line = server
        .proc
        .stdout
        .expect("irssi:   /connect -tls -tls_cafile");
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let wee = WeeChat::start(addr, "wtls", Some(&cert.cert));
    wee.log_has("irc.server.tcpplay", "certificate is trusted");
    // WeeChat asks for extended-join: the realname (the name) is shown too.
    wee.log_has(
        "irc.tcpplay.#lobby",
        "wtls (wtls) (u@tcpplay) has joined #lobby",
    );
    let mut tom = server.join(&["--name", "Tom", "--cert", cert.cert.to_str().unwrap()]);
    tom.stdout.expect("Tom joined");
    wee.say("irc.tcpplay.#lobby", "sealed in transit");
    tom.stdout.expect("wtls: sealed in transit");
}

/// IRC over TLS presenting `client` (certificate, key), trusting `ca`.
fn irc_mtls(
    port: u16,
    ca: &std::path::Path,
    client: (&std::path::Path, &std::path::Path),
) -> TlsLines {
    let trust = tcpplay::tls::Trust::File(ca.to_path_buf());
    let cfg = tcpplay::tls::client_config_mtls(&trust, Some(client)).unwrap();
    let name = tcpplay::tls::server_name("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    BufReader::new(rustls::StreamOwned::new(conn, sock))
}

#[test]
fn sasl_external_logs_in_to_the_account_a_client_certificate_is_bound_to_and_only_then_is_offered()
{
    let pki = tempfile::TempDir::new().unwrap();
    let ca = crate::accounts::client_pki(pki.path(), &["alice", "bob"]);
    let p = |f: &str| pki.path().join(f);
    let db = p("accounts.sqlite3");
    crate::accounts::gen_account(pki.path(), &db, "teach", "teach-password");
    std::fs::write(p("tcpplay.toml"), "").unwrap();
    let (cert, key) = (p("cert.pem"), p("key.pem"));
    let mut server = Server::start_with(
        &[
            "--tls",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--client-ca",
            ca.to_str().unwrap(),
            "--accounts",
            db.to_str().unwrap(),
            "--no-history",
            "--irc",
            "127.0.0.1:0",
        ],
        &[("TCPPLAY_CONFIG", p("tcpplay.toml").to_str().unwrap())],
        std::sync::Arc::new(tempfile::TempDir::new().unwrap()),
    );
    let line = server.proc.stdout.expect("irssi:   /connect -tls");
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    // The account teach, proven by its password, binds alice's certificate.
    let mut teach = crate::util::tcpplay(server.home.path());
    teach
        .args([
            "join",
            "--host",
            "localhost",
            "--port",
            &server.port(),
            "--name",
            "teach",
        ])
        .args(["--cert", ca.to_str().unwrap()])
        .args(["--client-cert", p("client-alice.pem").to_str().unwrap()])
        .args(["--client-key", p("client-alice-key.pem").to_str().unwrap()])
        .env("TCPPLAY_ACCOUNT_PASSWORD", "teach-password");
    let mut teach = Proc::spawn(teach);
    teach.stderr.expect("logged in to the account teach");
    teach.send_line("/certfp add");
    teach
        .stdout
        .expect("now logs in to the account teach without a password");
    teach.close_stdin();
    assert_eq!(teach.wait(), 0);
    // A guest watching with extended-join and account-tag (Bob's
    // certificate names him and is bound to no account).
    let bob = (p("client-bob.pem"), p("client-bob-key.pem"));
    let mut obs = irc_mtls(port, &ca, (&bob.0, &bob.1));
    tls_send(
        &mut obs,
        "CAP LS 302\r\nCAP REQ :extended-join account-tag\r\nNICK bob\r\nUSER b 0 * :b\r\nCAP END\r\n",
    );
    tls_until(&mut obs, ":bob!u@tcpplay JOIN #lobby * bob");
    // Alice's certificate: EXTERNAL is offered, and logs in to teach.
    let alice = (p("client-alice.pem"), p("client-alice-key.pem"));
    let mut irc = irc_mtls(port, &ca, (&alice.0, &alice.1));
    tls_send(&mut irc, "CAP LS 302\r\n");
    let ls = tls_until(&mut irc, " LS ");
    assert!(ls.last().unwrap().contains("sasl=EXTERNAL"), "{ls:?}");
    tls_send(
        &mut irc,
        "CAP REQ :sasl\r\nNICK whoever\r\nUSER w 0 * :w\r\nAUTHENTICATE EXTERNAL\r\n",
    );
    tls_until(&mut irc, "AUTHENTICATE +");
    tls_send(&mut irc, "AUTHENTICATE +\r\n");
    tls_until(
        &mut irc,
        " 900 whoever whoever!u@tcpplay teach :You are now logged in as teach",
    );
    tls_until(&mut irc, " 903 ");
    tls_send(&mut irc, "CAP END\r\n");
    // A guest can never hold teach: its 001 is the account's login.
    let seen = tls_until(&mut irc, " 001 teach ");
    assert!(!seen.iter().any(|l| l.contains(" 433 ")), "{seen:?}");
    // Only an account that really logged in is named: in its JOIN, its
    // lines' account tag and WHOIS (330); the guest's are `*` and none.
    tls_until(&mut obs, ":teach!u@tcpplay JOIN #lobby teach teach");
    tls_send(&mut irc, "PRIVMSG #lobby :from the account\r\n");
    tls_until(
        &mut obs,
        "@account=teach :teach!u@tcpplay PRIVMSG #lobby :from the account",
    );
    tls_send(&mut obs, "WHOIS teach\r\nPRIVMSG #lobby :from a guest\r\n");
    tls_until(&mut obs, " 330 bob teach teach :is logged in as");
    tls_until(&mut irc, ":bob!u@tcpplay PRIVMSG #lobby :from a guest");
    // Bob's certificate is bound to nothing: no mechanism is offered.
    let mut irc = irc_mtls(port, &ca, (&bob.0, &bob.1));
    tls_send(&mut irc, "CAP LS 302\r\nAUTHENTICATE EXTERNAL\r\n");
    let ls = tls_until(&mut irc, " LS ");
    assert!(!ls.last().unwrap().contains("sasl"), "{ls:?}");
    tls_until(&mut irc, " 904 * :SASL authentication failed");
}

/// Lines of `p` up to (and with) the first containing `pat`.
fn lines_until(p: &mut crate::util::Lines, pat: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while let Some(l) = p.next_until(deadline) {
        let done = l.contains(pat);
        seen.push(l);
        if done {
            return seen;
        }
    }
    panic!("no line containing {pat:?} within 15s; saw {seen:#?}");
}

/// Issue 44's cluster finding: a join on another node into a room other
/// than the default one is shown (a notice, then one count: the count came
/// twice for every join or leave on another node) to a `tcpplay join`
/// member and an IRC member, and again after the member comes back.
#[test]
fn a_join_on_another_cluster_node_is_shown_in_a_room_other_than_the_default_one() {
    let redis = crate::cluster::Redis::start();
    let mut n1 = crate::cluster::node(&redis, "n1", &["--irc", "127.0.0.1:0"]);
    let n2 = crate::cluster::node(&redis, "n2", &[]);
    let line = n1.proc.stdout.expect("irssi:   /connect");
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut irc = Raw::register(addr, "ircy", "");
    irc.line("JOIN #both");
    irc.lines.expect(":ircy!u@tcpplay JOIN #both");
    let mut ann = n1.join(&["--name", "Ann", "--no-tls"]);
    ann.stdout.expect("Ann joined");
    ann.send_line("/join #both");
    ann.stdout.expect("you joined #both");
    irc.lines.expect(":Ann!u@tcpplay JOIN #both");
    for round in 0..2 {
        let mut tom = n2.join(&["--name", "Tom", "--no-tls", "--room", "#both"]);
        tom.stdout.expect("you joined #both");
        ann.stdout.expect("[#both] *** Tom joined");
        irc.lines.expect(":Tom!u@tcpplay JOIN #both");
        tom.send_line(&format!("here {round}"));
        let between = lines_until(&mut ann.stdout, &format!("Tom: here {round}"));
        let counts: Vec<&String> = between.iter().filter(|l| l.contains("connected")).collect();
        assert_eq!(counts, ["[#both] *** 3 connected"], "{between:#?}");
        drop(tom);
        ann.stdout.expect("[#both] *** Tom disconnected");
        irc.lines.expect(":Tom!u@tcpplay QUIT");
    }
}

/// `/away` end to end: a `tcpplay join` member and an IRC member (AWAY,
/// 305/306, 301 on a direct message and in WHOIS, `G` in WHO, AWAY lines
/// with `away-notify`) each see the other's; a muted member cannot say why
/// it is away (its words would reach the room) but can come back.
#[test]
fn away_is_said_to_the_rooms_listed_and_told_to_whoever_writes_both_ways() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls", "--room", "#quiet"]);
    tom.stdout.expect("you joined #quiet");
    // From another address: a mute of a guest holds the guests from its address.
    let mut irc = Raw::register_from(addr, "ircy", "away-notify", Some([127, 0, 0, 7].into()));
    irc.line("JOIN #quiet");
    irc.lines.expect(":ircy!u@tcpplay JOIN #quiet");
    tom.stdout.expect("ircy joined");
    // Tom is away: the room sees it, the IRC client as AWAY.
    tom.send_line("/away at lunch");
    tom.stdout.expect("Tom is away: at lunch");
    irc.lines.expect(":Tom!u@tcpplay AWAY :at lunch");
    irc.line("PRIVMSG Tom :are you there");
    irc.lines.expect(" 301 ircy Tom :at lunch");
    tom.stdout.expect("are you there");
    irc.line("WHOIS Tom");
    irc.lines.expect(" 301 ircy Tom :at lunch");
    irc.line("WHO #quiet");
    irc.lines
        .expect(" 352 ircy #quiet u tcpplay tcpplay Tom G@ :0 Tom");
    tom.send_line("/users");
    tom.stdout.expect("(away: at lunch)");
    tom.send_line("/away");
    tom.stdout.expect("Tom is back");
    let back = irc.lines.expect(":Tom!u@tcpplay AWAY");
    assert_eq!(
        back, ":Tom!u@tcpplay AWAY",
        "back is AWAY without a message"
    );
    // The IRC member is away: 306, and Tom is told when he writes to it.
    irc.line("AWAY :brb");
    irc.lines
        .expect(" 306 ircy :You have been marked as being away");
    tom.stdout.expect("ircy is away: brb");
    tom.send_line("/msg ircy ping me");
    irc.lines.expect("PRIVMSG ircy :ping me");
    tom.stdout.expect("ircy is away: brb");
    irc.line("AWAY");
    irc.lines
        .expect(" 305 ircy :You are no longer marked as being away");
    tom.stdout.expect("ircy is back");
    // Muted: no away message reaches the room, coming back does.
    tom.send_line("/mute ircy 10m");
    tom.stdout.expect("muted ircy");
    irc.line("AWAY :buy cheap pills");
    irc.lines.expect(" 404 ircy ");
    irc.line("AWAY");
    irc.lines.expect(" 305 ircy ");
    tom.send_line("now then");
    let seen = lines_until(&mut tom.stdout, "Tom: now then");
    assert!(!seen.iter().any(|l| l.contains("pills")), "{seen:#?}");
    // HELP is the one table of commands, in its words, with IRC's names;
    // a tcpplay command IRC has none for is named as one.
    irc.line("HELP");
    irc.lines
        .expect(" 705 ircy * :AWAY (/away [TEXT]): say you are away");
    irc.lines.expect(" 706 ircy * ");
    irc.line("BANS");
    irc.lines
        .expect(" 421 ircy BANS :Unknown command: /bans (this room's operators, modes, bans and mutes) is a command of tcpplay join");
}

/// MODE is the room's real rules: 324 says `+i`/`+t` as they are, `b`
/// lists the bans to an operator (367/368; to others 368 saying why),
/// `-v`/`+v` mute and lift (tcpplay's mute is devoice in a moderated room),
/// `+m` is refused (no room-wide moderation), masks name accounts and
/// addresses as the ban does.
#[test]
fn irc_modes_are_the_rooms_real_rules_and_voice_is_tcpplays_mute() {
    let (_server, addr) = irc_server(&["--no-history"]);
    let mut op = Raw::register(addr, "opal", "");
    op.line("JOIN #ops");
    op.lines.expect(" 353 opal = #ops @opal");
    op.line("MODE #ops");
    op.lines.expect(" 324 opal #ops +");
    op.line("MODE #ops +t");
    op.lines.expect("NOTICE #ops");
    op.line("MODE #ops +i");
    op.lines.expect("NOTICE #ops");
    op.line("MODE #ops");
    let modes = op.lines.expect(" 324 opal #ops ");
    assert!(modes.ends_with(" 324 opal #ops +it"), "{modes}");
    op.line("MODE #ops -i");
    op.lines.expect("NOTICE #ops");
    // From another address: a mute of a guest holds the guests from its address.
    let mut mal = Raw::register_from(addr, "mal", "", Some([127, 0, 0, 8].into()));
    mal.line("JOIN #ops");
    op.lines.expect(":mal!u@tcpplay JOIN #ops");
    op.line("MODE #ops -v mal");
    op.lines.expect("NOTICE #ops :opal muted mal in #ops");
    mal.line("PRIVMSG #ops :let me speak");
    mal.lines.expect(" 404 mal #ops :you are muted in #ops");
    op.line("MODE #ops +v mal");
    op.lines.expect("NOTICE #ops");
    mal.line("PRIVMSG #ops :thank you");
    op.lines.expect(":mal!u@tcpplay PRIVMSG #ops :thank you");
    op.line("MODE #ops +m");
    op.lines
        .expect(" 472 opal m :tcpplay has no room-wide moderation");
    // Bans: an account's and an address's, listed to the operator only.
    op.line("MODE #ops +b $a:carol");
    op.lines.expect("NOTICE #ops");
    op.line("MODE #ops +b *!*@192.0.2.7");
    op.lines.expect("NOTICE #ops");
    op.line("MODE #ops b");
    let listed = lines_until(&mut op.lines, " 368 opal #ops ");
    let masks: Vec<&str> = listed
        .iter()
        .filter(|l| l.contains(" 367 "))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(masks, ["$a:carol", "*!*@192.0.2.7"], "{listed:#?}");
    mal.line("MODE #ops b");
    let end = mal.lines.expect(" 368 mal #ops ");
    assert!(end.contains("operators only"), "{end}");
    op.line("MODE #ops -b $a:carol");
    op.lines.expect("NOTICE #ops");
    op.line("MODE #ops b");
    let listed = lines_until(&mut op.lines, " 368 opal #ops ");
    assert!(!listed.iter().any(|l| l.contains("carol")), "{listed:#?}");
}

/// A mute of a guest holds the guests from its address, not the room's
/// operator beside them who made it (found by the /away test: a guest
/// operator's /mute of an IRC member on 127.0.0.1 silenced the operator).
#[test]
fn a_mute_of_a_guest_on_the_operators_own_address_leaves_the_operator_heard() {
    let (server, addr) = irc_server(&["--no-history"]);
    let mut tom = server.join(&["--name", "Tom", "--no-tls", "--room", "#quiet"]);
    tom.stdout.expect("you joined #quiet");
    let mut irc = Raw::register(addr, "ircy", "");
    irc.line("JOIN #quiet");
    irc.lines.expect(":ircy!u@tcpplay JOIN #quiet");
    tom.send_line("/mute ircy 10m");
    tom.stdout.expect("muted ircy");
    irc.line("PRIVMSG #quiet :not heard");
    irc.lines.expect(" 404 ircy #quiet ");
    tom.send_line("still heard");
    irc.lines
        .expect(":Tom!u@tcpplay PRIVMSG #quiet :still heard");
    tom.send_line("/nick Thomas");
    tom.stdout.expect("Tom is now Thomas");
}
