// The socket: the same JSON packets as `tcpplay join`, one per message.
// Every packet in and out is logged in the wire panel. A dropped socket is
// opened again with back-off (0.5 s doubling to 15 s), the state shown;
// what was typed meanwhile, and every line not yet seen back from the
// server, waits in the outbox and is sent when the chat is back.
const N = {
  ws: null,
  online: false,     // logged in on an open socket
  leaving: false,    // the user left: no reconnect
  attempt: 0,
  timer: null,
  seq: 0,
  outbox: [],        // {seq, key, packet, text, confirm}: in order
  everJoined: false,
  signin: null,      // a one-time sign-in token, until used
  signinName: "",    // the account it is for
  signedOut: false,  // the server no longer takes this page's sign-in
  renew: null,
};

const WIRE_MAX = 500;

// A sign-in token is a live credential until used: the panel (which a
// class may be watching on a projector) shows that one is there, not what.
const SECRET = /"(signin|token)":"[^"]*"/g;

function wire(dir, text) {
  const ol = $("packets");
  const shown = text.replace(SECRET, '"$1":"(hidden)"');
  ol.append(el("li", { class: dir === "→" ? "out" : dir === "←" ? "in" : "note" }, `${dir} ${shown}`));
  while (ol.children.length > WIRE_MAX) ol.firstChild.remove();
  if (!$("wire").hidden) ol.lastChild.scrollIntoView({ block: "nearest" });
}

function rawSend(p) {
  const text = JSON.stringify(p);
  wire("→", text);
  N.ws.send(text);
}

// Send now when online, else when the chat is back.
function send(p) {
  if (N.online) rawSend(p);
  else N.outbox.push({ packet: p, confirm: false });
}

// A chat line or direct message: kept until the server sends it back (or
// refuses it), and sent again after a reconnect if it was not seen back.
function sendLine(key, packet) {
  const item = { seq: ++N.seq, key, packet: { ...packet, seq: N.seq }, text: packet.text, confirm: true };
  N.outbox.push(item);
  if (N.online) rawSend(item.packet);
  drawPending();
}

// The server sent back my line in `key`: the oldest one waiting there is done.
function confirmed(key) {
  const i = N.outbox.findIndex((o) => o.confirm && o.key === key);
  if (i >= 0) { N.outbox.splice(i, 1); drawPending(); }
}

// The server refused the line numbered `seq`: it leaves the outbox.
function refused(seq) {
  const i = N.outbox.findIndex((o) => o.seq === seq);
  if (i < 0) return null;
  const [item] = N.outbox.splice(i, 1);
  drawPending();
  return item;
}

function flush() {
  const waiting = N.outbox;
  N.outbox = waiting.filter((o) => o.confirm);
  for (const o of waiting) rawSend(o.packet);
}

function connect() {
  clearTimeout(N.timer);
  clearTimeout(N.ticker);
  status("Connecting…", "busy");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  N.ws = ws;
  if (!window.performance.getEntriesByName("connect").length) performance.mark("connect");
  ws.addEventListener("message", (m) => {
    wire("←", m.data);
    let p;
    try { p = JSON.parse(m.data); } catch (err) { wire("!!", `not JSON: ${err}`); return; }
    receive(p);
  });
  ws.addEventListener("close", (c) => closed(ws, c));
}

function closed(ws, c) {
  if (N.ws !== ws) return;
  N.online = false;
  wire("!!", `socket closed (${c.code}${c.reason ? ": " + c.reason : ""})`);
  if (N.leaving) { status("You left the chat. Reload the page to come back.", "bad"); return; }
  if (N.signedOut) return;
  if (!N.everJoined) {
    $("notice").textContent = N.refusal || "The server closed the connection before you joined: try again in a moment.";
    N.refusal = "";
    return;
  }
  const delay = Math.min(15000, 500 * 2 ** N.attempt) * (0.8 + Math.random() * 0.4);
  N.attempt += 1;
  const at = Date.now() + delay;
  const tick = () => {
    const left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
    status(`Connection lost${N.lastBye ? ` (${N.lastBye})` : ""}: reconnecting in ${left} s (attempt ${N.attempt}). What you type is kept and sent when the chat is back.`, "bad", true);
    if (left > 0) N.ticker = setTimeout(tick, 1000);
  };
  tick();
  N.timer = setTimeout(() => { N.lastBye = ""; connect(); }, delay);
}

function reconnectNow() {
  if (!N.online && !N.leaving) connect();
}

// The login, or the way back in after a reconnect (my name, my rooms). A
// page signed in to an account comes back only as that account, with the
// fresh token it keeps (never as a guest under a look-alike name).
function login() {
  if (N.everJoined && S.account && !N.signin) return signedOut();
  const rooms = N.everJoined
    ? [...S.convs.values()].filter((c) => c.kind === "room" && c.joined).map((c) => c.name)
    : $("rooms").value.split(/[\s,]+/).filter(Boolean);
  const name = N.signin ? N.signinName : N.everJoined ? S.me : S.wanted;
  rawSend({ type: "auth", name, proto: 3, rooms, signin: N.signin || undefined });
  N.signin = null; // used up, whatever the answer
}

// The server no longer takes this page's sign-in (it restarted, or the
// page was away longer than a token lives): stop knocking and say how to
// come back; what is typed waits, and a new link opened here resumes.
function signedOut() {
  N.signedOut = true;
  clearTimeout(N.timer);
  clearTimeout(N.ticker);
  if (N.ws) N.ws.close();
  status(`You are signed out of ${visible(S.account)}: the server no longer knows this page's sign-in (it restarted, or the page was away too long). Make a new link with /weblink in tcpplay join and open it in this tab: what you typed is kept and sent then.`, "bad");
}

// A fresh token now and then (each replacing the last), so a page away
// for a while still comes back: tokens live 10 minutes.
function renewEvery(ms) {
  clearInterval(N.renew);
  N.renew = setInterval(() => {
    if (N.online && S.account) rawSend({ type: "account", op: "signin", token: N.signin || undefined });
  }, ms);
}
