// The lines of the conversation on screen: a day separator where the day
// changes (from each line's own time), a sender's lines grouped under one
// name and avatar, new lines appended (and read out by the polite live
// region), earlier ones put above without moving what the reader sees.
const GROUP_MS = 5 * 60 * 1000;

function lineEls(line, prev) {
  const out = [];
  if (!prev || dayKey(prev.ts) !== dayKey(line.ts)) {
    out.push(el("li", { class: "day" }, el("span", {}, dayLabel(line.ts))));
    prev = null;
  }
  const who = visible(line.from);
  const text = visible(line.text);
  if (line.kind === "chat" || line.kind === "dm") {
    const cont = prev && prev.kind === line.kind && prev.from === line.from && line.ts - prev.ts < GROUP_MS;
    const cls = `msg${cont ? " cont" : ""}${line.mention ? " mention" : ""}`;
    out.push(el("li", { class: cls },
      el("span", { class: `avatar ${colourOf(line.from)}`, "aria-hidden": "true" }, initial(line.from)),
      el("div", { class: "body" },
        el("div", { class: "meta" }, el("span", { class: `who ${colourOf(line.from)}` }, who), " ", timeOf(line.ts)),
        el("div", { class: "text" }, text))));
  } else if (line.kind === "action") {
    out.push(el("li", { class: `action${line.mention ? " mention" : ""}` }, timeOf(line.ts), " ",
      el("span", { class: "text" }, "* ", el("span", { class: `who ${colourOf(line.from)}` }, who), ` ${text}`)));
  } else if (line.kind === "help") {
    out.push(el("li", { class: "help" }, el("dl", {}, ...line.rows.flatMap(([u, h]) => [el("dt", {}, u), el("dd", {}, h)])),
      line.text ? el("p", {}, line.text) : null));
  } else {
    out.push(el("li", { class: line.kind }, timeOf(line.ts), " ", el("span", { class: "text" }, text)));
  }
  return out;
}

// What a screen reader says for a new line.
function spoken(line) {
  if (line.kind === "chat" || line.kind === "dm") return `${visible(line.from)}: ${visible(line.text)}`;
  if (line.kind === "action") return `${visible(line.from)} ${visible(line.text)}`;
  return visible(line.text);
}

const atBottom = (ol) => ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;

// Draw every line of `c` (switching, or after history arrived: `added`
// lines above keep the reader's place).
function drawLines(c, added) {
  const ol = $("lines");
  const stick = !added || atBottom(ol);
  const fromBottom = ol.scrollHeight - ol.scrollTop;
  let prev = null;
  const items = [];
  for (const l of c.lines) { items.push(...lineEls(l, prev)); prev = l; }
  ol.replaceChildren(...items);
  ol.scrollTop = stick ? ol.scrollHeight : ol.scrollHeight - fromBottom;
  drawOlder(c);
}

function appendLine(c, line) {
  const ol = $("lines");
  const stick = atBottom(ol) || line.from === S.me;
  const i = c.lines.indexOf(line);
  ol.append(...lineEls(line, i > 0 ? c.lines[i - 1] : null));
  if (stick) ol.scrollTop = ol.scrollHeight;
  if (line.kind !== "system" || !document.hidden) {
    const box = $("announce");
    box.append(el("p", {}, spoken(line)));
    while (box.children.length > 3) box.firstChild.remove();
  }
}

// The "earlier messages" control, and fetching them when the reader
// scrolls to the top.
function drawOlder(c) {
  $("older").hidden = !(c && c.kind === "room" && c.more);
  $("older").textContent = c && c.fetching ? "Loading earlier messages…" : "Show earlier messages";
}

function fetchOlder() {
  const c = S.convs.get(S.current);
  if (!c || c.kind !== "room" || !c.more || c.fetching || !N.online) return;
  c.fetching = true;
  drawOlder(c);
  send({ type: "fetch_history", room: roomField(c), before: oldestId(c), limit: 50 });
}

// Lines typed and not yet seen back from the server (after a drop: not yet sent).
function drawPending() {
  const mine = N.outbox.filter((o) => o.confirm && o.key === S.current);
  $("pending").replaceChildren(...mine.map((o) =>
    el("li", {}, el("span", { class: "text" }, visible(o.text)), " ", el("span", { class: "hint" }, N.online ? "sending…" : "waiting for the connection"))));
}
