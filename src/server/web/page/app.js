// tcpplay's page: the same JSON packets as `tcpplay join`, over a WebSocket
// to this server. Every text from the network is put in the page with
// textContent, never as HTML. The wire panel shows each packet as it goes.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { me: "", current: null, rooms: new Map(), defaultRoom: null, ws: null };
  // A room's key: its name, or "" for the server's default room.
  const keyOf = (room) => room || "";
  const roomOf = (k) => {
    if (!state.rooms.has(k)) state.rooms.set(k, { lines: [], unread: 0, topic: "", members: [] });
    return state.rooms.get(k);
  };
  const shown = (k) => visible(k || state.defaultRoom || "#lobby");
  // Control, bidi and invisible formatting characters from a peer are shown
  // as escapes (as `tcpplay join` does), so a line cannot reorder or hide
  // what the screen shows.
  const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  const visible = (s) => String(s ?? "").replace(HIDDEN,
    (c) => `\\u{${c.codePointAt(0).toString(16)}}`);

  function wire(dir, text) {
    const li = document.createElement("li");
    li.textContent = `${dir} ${text}`;
    $("packets").append(li);
    while ($("packets").children.length > 500) $("packets").firstChild.remove();
  }
  function send(p) {
    const text = JSON.stringify(p);
    wire("->", text);
    state.ws.send(text);
  }
  function add(k, text, kind) {
    const r = roomOf(k);
    r.lines.push({ text: visible(text), kind });
    if (r.lines.length > 1000) r.lines.shift();
    if (k !== state.current) r.unread += 1;
    if (state.current === null) state.current = k;
    render();
  }
  function namesMe(text) {
    const me = state.me.toLowerCase();
    return me && text.toLowerCase().split(/[^\p{L}\p{N}_-]+/u).includes(me);
  }
  function render() {
    const nav = $("rooms-list");
    nav.replaceChildren();
    for (const [k, r] of state.rooms) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = shown(k) + (r.unread ? ` (${r.unread})` : "");
      if (k === state.current) b.className = "current";
      b.addEventListener("click", () => { state.current = k; r.unread = 0; render(); });
      nav.append(b);
    }
    const r = state.current === null ? { lines: [], topic: "", members: [] } : roomOf(state.current);
    $("room-name").textContent = shown(state.current);
    $("topic").textContent = visible(r.topic);
    const ol = $("lines");
    ol.replaceChildren(...r.lines.map((l) => {
      const li = document.createElement("li");
      li.textContent = l.text;
      if (l.kind) li.className = l.kind;
      return li;
    }));
    ol.scrollTop = ol.scrollHeight;
    const aside = $("members");
    aside.replaceChildren(...r.members.map((m) => {
      const d = document.createElement("div");
      d.textContent = (m.op ? "@" : m.account ? "+" : "") + visible(m.name);
      return d;
    }));
  }

  function receive(p) {
    const k = keyOf(p.room);
    switch (p.type) {
      case "hello":
        state.defaultRoom = p.default_room || null;
        if (p.secure) {
          $("notice").textContent = "This is a secure room: its password login runs in `tcpplay join` only, so join with tcpplay join.";
          state.ws.close();
          return;
        }
        return login();
      case "auth_result":
        if (!p.ok) { $("notice").textContent = p.reason || "refused"; return; }
        state.me = p.client_name;
        $("login").hidden = true;
        $("chat").hidden = false;
        return;
      case "joined":
        state.current = keyOf(p.room === state.defaultRoom ? null : p.room);
        roomOf(state.current).topic = p.topic || "";
        add(state.current, `*** you joined ${p.room} (${p.total} here)`, "system");
        send({ type: "users", room: p.room === state.defaultRoom ? undefined : p.room });
        return;
      case "parted":
        add(keyOf(p.room), `*** you left ${p.room}`, "system");
        return;
      case "chat": case "history": {
        const who = p.from || "?";
        const text = p.action ? `* ${who} ${p.text}` : `${who}: ${p.text}`;
        const mention = p.type === "chat" && who !== state.me && namesMe(p.text || "");
        add(k, p.type === "history" ? `[history] ${text}` : text, mention ? "mention" : "");
        return;
      }
      case "dm":
        add(state.current, `[dm ${p.from === state.me ? "to " + p.to : "from " + p.from}] ${p.text}`, "dm");
        return;
      case "system":
        if (p.event === "topic") roomOf(k).topic = (p.text || "").replace(/^.*?: /, "");
        add(k, `*** ${p.text}`, "system");
        if (["join", "leave", "rename", "kick"].includes(p.event)) send({ type: "users", room: p.room });
        return;
      case "users":
        if (!state.rooms.has(k)) return;
        roomOf(k).members = p.users || [];
        render();
        return;
      case "error":
        add(k, `! ${p.message} (${p.code})`, "error");
        return;
      case "bye":
        add(state.current, `*** disconnected: ${p.reason}`, "system");
        return;
      case "ping":
        send({ type: "pong", token: p.token });
        return;
      default:
    }
  }

  function login() {
    const rooms = $("rooms").value.split(/\s+/).filter(Boolean);
    send({ type: "auth", name: $("name").value.trim(), proto: 3, rooms });
  }

  function typed(line) {
    const room = state.current || undefined;
    const [cmd, ...rest] = line.split(" ");
    const args = rest.join(" ");
    if (cmd === "/me") return send({ type: "chat", text: args, action: true, room });
    if (cmd === "/msg") {
      const [to, ...words] = rest;
      return send({ type: "dm", to, text: words.join(" ") });
    }
    if (cmd === "/join") return args.split(/\s+/).forEach((r) => send({ type: "join", room: r }));
    if (cmd === "/part") return send({ type: "part", room: shown(state.current) });
    if (cmd === "/topic") return send({ type: "topic", room: shown(state.current), text: args });
    if (cmd === "/nick") return send({ type: "nick", name: args });
    if (line.startsWith("//")) return send({ type: "chat", text: line.slice(1), room });
    if (line.startsWith("/")) return add(state.current, `! unknown command ${cmd}`, "error");
    send({ type: "chat", text: line, room });
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    $("notice").textContent = "";
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    state.ws = ws;
    ws.addEventListener("message", (m) => {
      wire("<-", m.data);
      try { receive(JSON.parse(m.data)); } catch (err) { wire("!!", String(err)); }
    });
    ws.addEventListener("close", (c) => {
      if (!$("chat").hidden) add(state.current, `*** connection closed${c.reason ? ": " + c.reason : ""}`, "system");
    });
  });
  $("say").addEventListener("submit", (e) => {
    e.preventDefault();
    const line = $("text").value;
    if (line.trim()) typed(line);
    $("text").value = "";
  });
})();
