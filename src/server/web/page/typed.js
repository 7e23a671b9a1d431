// A typed line: a chat line to the conversation on screen, or a command.
// The commands' names, usages and help lines are the server's one table
// (COMMANDS, put at the top of this script by the server: the same words
// as `tcpplay join`'s /help); here is only what each does on the page.
const WORD = (usage) => usage.split(" ")[0].slice(1);
const usageOf = (word) => (COMMANDS.find(([u]) => WORD(u) === word) || [`/${word}`])[0];

function refuse(text) { note(here(), text, "error"); }
function usage(word) { refuse(`usage: ${usageOf(word)}`); }

// The current conversation, or a refusal when there is none (or it is not a room).
function currentRoom(word) {
  const c = S.convs.get(S.current);
  if (c && c.kind === "room") return c;
  refuse(`/${word} works in a room: open one from the room list first.`);
  return null;
}

// `/msg` names may hold spaces: a quoted name, or the longest known one.
function splitName(args) {
  const q = args.match(/^"([^"]+)"\s+(.*)$/s);
  if (q) return [q[1], q[2]];
  const known = new Set([S.me]);
  for (const c of S.convs.values()) for (const m of c.members) known.add(m.name);
  const hit = [...known].filter((n) => fold(args).startsWith(fold(n) + " ")).sort((a, b) => b.length - a.length)[0];
  if (hit) return [hit, args.slice(hit.length + 1)];
  const i = args.indexOf(" ");
  return i < 0 ? [args, ""] : [args.slice(0, i), args.slice(i + 1)];
}

// `30s`, `10m`, `2h`, `7d` as seconds (or null).
function duration(s) {
  const m = /^(\d+)([smhd])$/.exec(s || "");
  if (!m || Number(m[1]) === 0) return null;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

function roomArg(args) {
  if (!args.startsWith("#")) return [null, args];
  const i = args.indexOf(" ");
  return i < 0 ? [args, ""] : [args.slice(0, i), args.slice(i + 1).trim()];
}

const roomOfArg = (name, word) => (name ? { name: name, room: name === S.defaultRoom ? undefined : name } : (() => {
  const c = currentRoom(word);
  return c && { name: c.name, room: roomField(c) };
})());

function modPacket(word, args) {
  const c = currentRoom(word);
  if (!c) return;
  const action = word.replace("-", "_");
  const p = { type: "moderate", action, room: roomField(c) };
  if (word === "bans") p.action = "list";
  else if (word === "invite-only" || word === "topic-lock") {
    if (!["on", "off", ""].includes(args)) return usage(word);
    p.on = args !== "off";
  } else {
    const [target, ...rest] = args.split(" ");
    if (!target) return usage(word);
    p.target = target;
    let reason = rest.join(" ").trim();
    if (word === "ban" || word === "mute") {
      const d = duration(rest[0]);
      if (d) { p.duration = d; reason = rest.slice(1).join(" ").trim(); }
    }
    if (reason && !["kick", "ban", "mute"].includes(word)) return usage(word);
    if (reason) p.reason = reason;
  }
  send(p);
}

const COMMAND = {
  help() { showHelp(); },
  users(args) {
    const r = roomOfArg(args || null, "users");
    if (!r) return;
    S.listUsers = fold(roomKey(r.room));
    send({ type: "users", room: r.room });
  },
  join(args) {
    const rooms = args.split(/\s+/).filter(Boolean);
    if (!rooms.length) return usage("join");
    S.wantRoom = rooms[0];
    const known = S.convs.get(rooms[0]);
    if (known && known.joined) { switchTo(known.key); S.wantRoom = null; }
    for (const room of rooms) send({ type: "join", room });
  },
  part(args) {
    const [name, reason] = roomArg(args);
    const r = roomOfArg(name, "part");
    if (r) send({ type: "part", room: r.name, reason: reason || undefined });
  },
  switch(args) {
    const c = S.convs.get(args) || [...S.convs.values()].find((o) => fold(o.name) === fold(args));
    if (!args || args.includes(" ")) return usage("switch");
    if (!c) return refuse(`You are not in ${visible(args)}: /join ${visible(args)} first.`);
    switchTo(c.key);
  },
  rooms() { send({ type: "rooms" }); },
  topic(args) {
    const [name, text] = roomArg(args);
    if (!text) return usage("topic");
    const r = roomOfArg(name, "topic");
    if (r) send({ type: "topic", room: r.name, text: text === "-" ? "" : text });
  },
  nick(args) { if (!args) return usage("nick"); send({ type: "nick", name: args }); },
  away(args) { send(args ? { type: "away", text: args } : { type: "away" }); },
  msg(args) {
    const [to, text] = splitName(args);
    if (!to || !text.trim()) return usage("msg");
    const c = dmConv(to);
    switchTo(c.key);
    sendLine(c.key, { type: "dm", to, text });
  },
  me(args) {
    if (!args) return usage("me");
    say(args, true);
  },
  history(args) {
    const n = args ? Number(args) : 20;
    if (!Number.isInteger(n) || n < 1) return refuse(`/history takes a number of messages, 1-100 (not '${visible(args)}')`);
    const c = currentRoom("history");
    if (c) send({ type: "fetch_history", room: roomField(c), before: oldestId(c), limit: Math.min(n, 100) });
  },
  quit(args) {
    N.leaving = true;
    send({ type: "bye", reason: args || undefined });
  },
  "/text"(args, line) { say(line.slice(1), false); },
};
for (const w of ["kick", "ban", "unban", "mute", "unmute", "invite", "invite-only", "topic-lock", "op", "deop", "bans"]) {
  COMMAND[w] = (args) => modPacket(w, args);
}

// /help: the table's lines for every command the page knows, then the
// ones only `tcpplay join` runs.
function showHelp() {
  const known = COMMANDS.filter(([u]) => COMMAND[WORD(u)]);
  const elsewhere = COMMANDS.filter(([u]) => !COMMAND[WORD(u)]).map(([u]) => u.split(" ")[0]);
  const c = here();
  const line = { kind: "help", ts: Date.now(), rows: known, text: `In tcpplay join only: ${elsewhere.join(", ")}. Alt+↑ and Alt+↓ switch conversations.` };
  if (c) put(c, line); else status("Join a room to see the commands.", "");
}

// A chat line (or /me) to the conversation on screen.
function say(text, action) {
  const c = S.convs.get(S.current);
  if (!c) return refuse("Open a room or a direct message first.");
  if (c.kind === "dm") return sendLine(c.key, { type: "dm", to: c.name, text, action: action || undefined });
  sendLine(c.key, { type: "chat", text, room: roomField(c), action: action || undefined });
}

function typed(line) {
  if (line.startsWith("//")) return COMMAND["/text"]("", line);
  if (!line.startsWith("/")) return say(line, false);
  const body = line.slice(1);
  const i = body.indexOf(" ");
  const word = i < 0 ? body : body.slice(0, i);
  const args = i < 0 ? "" : body.slice(i + 1).trim();
  const run = COMMAND[word === "exit" ? "quit" : word];
  if (run) return run(args, line);
  if (COMMANDS.some(([u]) => WORD(u) === word)) return refuse(`/${visible(word)} runs in tcpplay join only.`);
  refuse(`unknown command /${visible(word)}: try /help, or //text to send a line starting with /`);
}
