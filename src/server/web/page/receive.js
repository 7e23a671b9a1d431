// What each packet from the server does to the conversations (convs.js),
// and what is then drawn (view.js).
function receive(p) {
  const on = HANDLE[p.type];
  if (on) on(p);
}

// A line into a conversation: drawn if it is on screen, counted if not.
function put(c, line, history) {
  if (history) { c.history.push(line); return; }
  const live = addLine(c, line);
  if (!live) return;
  const counts = line.kind === "chat" || line.kind === "action";
  if (c.key !== S.current || document.hidden) {
    if (counts && line.from !== S.me) c.unread += 1;
    if (counts && line.from !== S.me && (line.mention || c.kind === "dm")) c.mentions += 1;
  }
  if (counts && line.from !== S.me && (line.mention || c.kind === "dm")) notify(c, line);
  if (S.current === null && c.kind === "room") S.current = c.key;
  if (c.key === S.current) appendLine(c, line);
  drawConvs();
  if (!S.firstLine) { S.firstLine = true; performance.mark("first-line"); }
}

// A note from the page or the server into a conversation (or, with none
// open, the status line).
function note(c, text, kind) {
  if (c) put(c, { kind: kind || "system", text, ts: Date.now() });
  else status(text, kind === "error" ? "bad" : "");
}
const here = () => S.convs.get(S.current) || ordered()[0] || null;

function chatLine(p) {
  const from = p.from || "?";
  return {
    id: p.id, ts: p.ts || Date.now(), from, text: p.text ?? "(sealed: open it with tcpplay join)",
    kind: p.action ? "action" : "chat", mention: from !== S.me && namesMe(p.text || "", S.me),
  };
}

const HANDLE = {
  hello(p) {
    S.defaultRoom = p.default_room || null;
    if (p.secure) {
      $("notice").textContent = "This server is a secure room: its password login runs in `tcpplay join` only, so join with tcpplay join.";
      N.leaving = true;
      N.ws.close();
      return;
    }
    login();
  },
  auth_result(p) {
    if (!p.ok) {
      N.refusal = `${p.reason || "refused"}${p.code ? ` (${p.code})` : ""}`;
      // The server's words are a terminal's; on the page an account signs in with a link.
      if (p.code === "name_registered") {
        N.refusal += ". On this page an account signs in with a one-time link: its holder types /weblink in tcpplay join, or whoever runs the server makes one with /weblink NAME at its console.";
      }
      if (N.everJoined && S.account) return signedOut();
      if (N.everJoined) N.lastBye = `the server did not let you back in: ${N.refusal}`;
      return;
    }
    const first = !N.everJoined;
    const asked = first ? S.wanted : S.me;
    S.me = p.client_name;
    S.account = p.account || null;
    // An account's page keeps a fresh one-time link, to log in again after a drop.
    if (S.account) {
      N.signinName = S.account;
      rawSend({ type: "account", op: "signin" });
      renewEvery(5 * 60 * 1000);
    }
    N.online = true;
    N.everJoined = true;
    N.attempt = 0;
    status("", "");
    if (first) showChat();
    drawMe();
    if (fold(asked) !== fold(S.me)) {
      const msg = `The name “${visible(asked)}” was taken, so you are “${visible(S.me)}”. Change it with the ✎ button beside your name, or /nick NAME.`;
      notice(msg);
      if (!first) note(here(), msg);
    }
    flush();
  },
  joined(p) {
    const c = roomConv(p.room);
    const was = c.joined;
    c.joined = true;
    c.topic = p.topic || "";
    c.total = p.total;
    c.history = [];
    if (S.wantRoom && fold(S.wantRoom) === fold(p.room)) { S.current = c.key; S.wantRoom = null; }
    if (S.current === null) S.current = c.key;
    if (!was) note(c, `You joined ${visible(p.room)}: ${p.total} here.`);
    send({ type: "users", room: roomField(c) });
    drawAll();
  },
  parted(p) {
    const c = roomConv(p.room);
    S.convs.delete(c.key);
    if (S.current === c.key) S.current = (ordered()[0] || {}).key ?? null;
    const why = p.reason ? ` (${visible(p.reason)})` : "";
    if (S.current !== null) note(here(), `You left ${visible(p.room)}${why}.`);
    else status(`You left ${visible(p.room)}${why}. Join a room with the + beside Rooms.`, "");
    drawAll();
  },
  chat(p) { HANDLE.line(p, false); },
  history(p) { HANDLE.line(p, true); },
  line(p, history) {
    const c = roomConv(p.room);
    const line = chatLine(p);
    if (!history && line.from === S.me) confirmed(c.key);
    put(c, line, history);
  },
  history_end(p) {
    const c = roomConv(p.room);
    const before = c.lines.length;
    for (const l of c.history) addLine(c, l);
    c.history = [];
    c.more = !!p.more;
    c.fetching = false;
    if (c.key === S.current) drawLines(c, c.lines.length - before);
  },
  dm(p) {
    const mine = fold(p.from) === fold(S.me);
    const c = dmConv(mine ? p.to : p.from);
    if (mine) confirmed(c.key);
    put(c, chatLine(p));
  },
  system(p) {
    // Away without a room: the answer to a direct message, shown beside it.
    const dmAway = p.event === "away_reply";
    const c = (dmAway ? S.convs.get(dmKey(p.name)) : null)
      || (p.room || p.event !== "rename" ? S.convs.get(roomKey(p.room)) : null) || here();
    if (!c) return;
    if (p.event === "rename" && fold(p.name) === fold(S.me)) { S.me = p.new_name; drawMe(); }
    if (p.event === "rename") renameDm(p.name, p.new_name);
    if (p.event === "topic") {
      const set = `${p.name} set the topic of ${c.name}: `;
      c.topic = (p.text || "").startsWith(set) ? p.text.slice(set.length) : "";
      if (c.key === S.current) drawHead();
    }
    note(c, p.text);
    if (["join", "leave", "rename", "kick", "away", "back"].includes(p.event)) refreshMembers(c);
  },
  users(p) {
    const key = roomKey(p.room);
    const users = p.users || [];
    const total = p.total ?? users.length;
    const c = S.convs.get(key);
    if (c) {
      c.members = users;
      c.total = total;
      if (c.key === S.current) drawMembers();
    }
    if (S.listUsers === fold(key)) {
      // Asked with /users (this room, or one I am not in).
      S.listUsers = null;
      const names = users.map((m) => `${visible(m.name)}${m.op ? " (operator)" : ""}${m.account ? " (account)" : ""}`);
      note(c || here(), `In ${visible(key)} (${total}): ${names.join(", ")}.`);
    }
  },
  count(p) {
    const c = S.convs.get(roomKey(p.room));
    if (c) c.total = p.total;
  },
  rooms(p) {
    const list = (p.rooms || []).map((r) => `${visible(r.room)} (${r.total})${r.topic ? ": " + visible(r.topic) : ""}`);
    note(here(), `Rooms on this server: ${list.join(", ") || "none"}.`);
  },
  account(p) {
    if (p.token) { N.signin = p.token; return; }
    if (p.text) note(here(), p.text);
  },
  error(p) {
    const item = p.seq !== undefined ? refused(p.seq) : null;
    if (item && p.code === "rate_limited") {
      N.outbox.unshift(item);
      setTimeout(() => { if (N.online) rawSend(item.packet); }, 1000);
      return;
    }
    const c = (item ? S.convs.get(item.key) : p.room ? S.convs.get(roomKey(p.room)) : null) || here();
    const what = item ? ` Not sent: “${visible(item.text)}”.` : "";
    note(c, `${p.message} (${p.code}).${what}`, "error");
    if (c && c.key === S.current && p.code === "history_unavailable") { c.more = false; c.fetching = false; drawOlder(c); }
  },
  bye(p) {
    N.lastBye = visible(p.reason);
    note(here(), `The server closed your connection: ${visible(p.reason)}.`, "error");
    if (p.code === "kicked") N.leaving = true;
  },
  ping(p) { rawSend({ type: "pong", token: p.token }); },
};

// A member renamed: their direct messages follow them.
function renameDm(from, to) {
  const c = S.convs.get(dmKey(from));
  if (!c || !to) return;
  S.convs.delete(c.key);
  c.key = dmKey(to);
  c.name = to;
  S.convs.set(c.key, c);
  for (const o of N.outbox) if (o.key === dmKey(from)) { o.key = c.key; o.packet.to = to; }
  if (S.current === dmKey(from)) S.current = c.key;
  drawAll();
}

// Ask again who is in a room, at most once a second per room.
function refreshMembers(c) {
  if (c.kind !== "room" || c.refresh) return;
  c.refresh = setTimeout(() => { c.refresh = null; send({ type: "users", room: roomField(c) }); }, 300);
}
