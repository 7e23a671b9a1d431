// Everything around the lines: the room and direct-message lists with
// their unread and mention counts, the header (name, topic, leave), the
// member list (operators, accounts; an operator's actions), my name, the
// connection's state, the title badge, the phone's drawers.
function showChat() {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  try { localStorage.setItem("tcpplay.name", S.wanted); } catch (_) { /* private mode */ }
  drawBell();
  $("text").focus();
}

function drawAll() {
  drawConvs();
  drawHead();
  const c = S.convs.get(S.current);
  if (c) drawLines(c, 0); else $("lines").replaceChildren();
  drawMembers();
  drawPending();
}

function convButton(c) {
  const b = el("button", { type: "button", class: "conv", "aria-current": c.key === S.current ? "page" : false, "data-key": c.key },
    el("span", { class: "conv-name" }, c.kind === "dm" ? el("span", { class: `dot ${colourOf(c.name)}`, "aria-hidden": "true" }) : null, visible(c.name)));
  if (c.unread) b.classList.add("unread");
  if (c.mentions) b.append(el("span", { class: "badge" }, String(c.mentions), el("span", { class: "sr-only" }, c.kind === "dm" ? " new" : " mentions")));
  else if (c.unread) b.append(el("span", { class: "count" }, String(c.unread), el("span", { class: "sr-only" }, " unread")));
  b.addEventListener("click", () => { switchTo(c.key); closeDrawers(); $("text").focus(); });
  return el("li", {}, b);
}

// Redraw `box` with `draw`, keeping the keyboard's focus on the same
// control (found again by its data-key or label) when it was inside.
function keepFocus(box, draw) {
  const a = document.activeElement;
  const key = a && box.contains(a) ? a.getAttribute("data-key") || a.getAttribute("aria-label") : null;
  draw();
  if (key === null) return;
  const again = [...box.querySelectorAll("button")].find((b) => (b.getAttribute("data-key") || b.getAttribute("aria-label")) === key);
  if (again) again.focus();
}

function drawConvs() {
  const all = ordered();
  keepFocus($("side"), () => {
    $("room-list").replaceChildren(...all.filter((c) => c.kind === "room").map(convButton));
    const dms = all.filter((c) => c.kind === "dm").map(convButton);
    $("dm-list").replaceChildren(...(dms.length ? dms : [el("li", { class: "hint empty" }, "None yet: choose a member to write to them alone.")]));
  });
  const n = mentionsTotal();
  const c = S.convs.get(S.current);
  document.title = `${n ? `(${n}) ` : ""}${c ? visible(c.name) + " · " : ""}tcpplay`;
  const others = all.reduce((s, o) => s + (o.key === S.current ? 0 : o.mentions || o.unread), 0);
  $("side-badge").hidden = !others;
  $("side-badge").textContent = String(others);
}

function drawHead() {
  const c = S.convs.get(S.current);
  $("room-name").textContent = c ? visible(c.name) : "No conversation";
  $("topic").textContent = c ? (c.kind === "dm" ? "Direct messages: only the two of you see them" : visible(c.topic)) : "";
  $("leave").hidden = !c;
  $("leave").textContent = c && c.kind === "dm" ? "Close" : "Leave";
  $("leave").setAttribute("aria-label", c ? `${c.kind === "dm" ? "Close" : "Leave"} ${visible(c.name)}` : "Leave");
  const to = c ? `Message ${visible(c.name)}` : "Message";
  $("text-label").textContent = to;
  $("text").placeholder = to;
}

function switchTo(key) {
  if (!S.convs.has(key)) return;
  S.current = key;
  const c = S.convs.get(key);
  c.unread = 0;
  c.mentions = 0;
  drawAll();
  if (c.kind === "room" && !c.members.length) send({ type: "users", room: roomField(c) });
}

// Alt+↑ / Alt+↓: the conversation above or below in the list.
function switchBy(step) {
  const keys = ordered().map((c) => c.key);
  if (!keys.length) return;
  const i = keys.indexOf(S.current);
  switchTo(keys[(i + step + keys.length) % keys.length]);
}

function myEntry(c) {
  return (c.members || []).find((m) => fold(m.name) === fold(S.me));
}

function memberRow(c, m, op) {
  const who = visible(m.name);
  const tags = [];
  if (m.op) tags.push(el("span", { class: "tag op" }, "operator"));
  if (m.account) tags.push(el("span", { class: "tag acct", title: `account ${visible(m.account)}` }, "account"));
  if (m.away) tags.push(el("span", { class: "tag away", title: `away: ${visible(m.away)}` }, "away"));
  const me = fold(m.name) === fold(S.me);
  const since = m.since ? `here since ${clock.format(new Date(m.since))}` : "";
  const open = el("button", { type: "button", class: "member", title: since || false, "aria-label": me ? `${who} (you)` : `Message ${who}` },
    el("span", { class: `avatar ${colourOf(m.name)}`, "aria-hidden": "true" }, initial(m.name), el("span", { class: "presence" })),
    el("span", { class: "member-name" }, who, me ? el("span", { class: "hint" }, " (you)") : null), ...tags);
  if (me) open.disabled = true;
  else open.addEventListener("click", () => { dmConv(m.name); switchTo(dmKey(m.name)); closeDrawers(); $("text").focus(); });
  const row = el("li", {}, open);
  if (op && !me) {
    for (const [action, word] of [["kick", "Kick"], ["mute", "Mute"], ["ban", "Ban"]]) {
      const b = el("button", { type: "button", class: "mod", "aria-label": `${word} ${who}` }, word);
      b.addEventListener("click", () => moderate(c, action, m.name));
      row.append(b);
    }
  }
  return row;
}

function drawMembers() {
  const c = S.convs.get(S.current);
  const ul = $("member-list");
  if (!c) { ul.replaceChildren(); return; }
  if (c.kind === "dm") {
    $("people-title").textContent = "In this conversation";
    ul.replaceChildren(...[S.me, c.name].map((n) => memberRow(c, { name: n }, false)));
    $("lock-box").hidden = true;
    return;
  }
  const mine = myEntry(c);
  const op = !!(mine && mine.op);
  $("people-title").textContent = `Members · ${c.total || c.members.length}`;
  keepFocus(ul, () => ul.replaceChildren(...c.members.map((m) => memberRow(c, m, op))));
  $("lock-box").hidden = !op;
}

// An operator's action, after the operator confirms it.
function moderate(c, action, target) {
  const what = { kick: "take %s out of", mute: "refuse the lines of %s in", ban: "keep %s out of" }[action];
  if (!window.confirm(`${what.replace("%s", visible(target))} ${visible(c.name)}?`)) return;
  send({ type: "moderate", action, room: roomField(c), target });
}

// A desktop notification for a mention or a direct message while the page
// is not looked at, once the user allowed them (the bell beside the name).
function notify(c, line) {
  if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
  const title = c.kind === "dm" ? `${visible(line.from)} (direct message)` : `${visible(line.from)} in ${visible(c.name)}`;
  try { new Notification(title, { body: visible(line.text), tag: c.key }); } catch (_) { /* not offered here */ }
}

function drawBell() {
  const b = $("notify");
  const can = "Notification" in window && Notification.permission === "default";
  b.hidden = !can;
}

function drawMe() {
  $("me-name").textContent = visible(S.me);
  $("me-avatar").textContent = initial(S.me);
  $("me-avatar").className = `avatar ${colourOf(S.me)}`;
  drawMembers();
}

// The connection's state (`kind`: "", "busy" or "bad"), with a button to
// reconnect now while waiting.
function status(text, kind, retry) {
  const p = $("status");
  p.className = kind || "";
  p.replaceChildren(text);
  if (retry) {
    const b = el("button", { type: "button", class: "link" }, "Reconnect now");
    b.addEventListener("click", reconnectNow);
    p.append(" ", b);
  }
}

// A note that stays until dismissed (a name that was taken).
function notice(text) {
  const p = $("status");
  p.className = "note";
  const b = el("button", { type: "button", class: "link" }, "OK");
  b.addEventListener("click", () => status("", ""));
  p.replaceChildren(el("span", { id: "taken" }, text), " ", b);
}

// The phone's drawers (rooms on the left, members on the right).
function openDrawer(id) {
  closeDrawers();
  $(id).classList.add("open");
  $(id === "side" ? "side-open" : "people-open").setAttribute("aria-expanded", "true");
  $("scrim").hidden = false;
  const first = $(id).querySelector("button:not([disabled])");
  if (first) first.focus();
}

// Close an open drawer; `refocus`: the keyboard goes back to its button.
function closeDrawers(refocus) {
  for (const [d, b] of [["side", "side-open"], ["people", "people-open"]]) {
    if (!$(d).classList.contains("open")) continue;
    $(d).classList.remove("open");
    $(b).setAttribute("aria-expanded", "false");
    if (refocus === true) $(b).focus();
  }
  $("scrim").hidden = true;
}
