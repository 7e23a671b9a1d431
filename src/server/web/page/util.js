// Small helpers every part uses: elements made with text only (a peer's
// text is never HTML), escapes for invisible characters, a stable colour
// per name, times and days from a line's own timestamp.
const $ = (id) => document.getElementById(id);

// An element: `attrs` set as attributes (or `class`), children appended;
// a string child becomes a text node, never markup.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined && c !== false) e.append(c);
  }
  return e;
}

// Control, bidi and invisible formatting characters from a peer are shown
// as escapes (as `tcpplay join` does), so a line cannot reorder or hide
// what the screen shows.
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const visible = (s) => String(s ?? "").replace(HIDDEN,
  (c) => `\\u{${c.codePointAt(0).toString(16)}}`);

// Names are unique case-insensitively, as on the server.
const fold = (name) => String(name || "").toLowerCase();

// One of eight colours (each AA on both themes' backgrounds), the same for
// a name everywhere and every time.
function colourOf(name) {
  let h = 0x811c9dc5; // FNV-1a: close names land apart
  for (const ch of fold(name)) h = Math.imul(h ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return `c${h % 8}`;
}

function initial(name) {
  const first = [...visible(name).trim()][0] || "?";
  return first.toUpperCase();
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayName = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const dayKey = (ts) => { const d = new Date(ts); return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`; };

function dayLabel(ts) {
  const today = dayKey(Date.now());
  const yesterday = dayKey(Date.now() - 86400000);
  const k = dayKey(ts);
  if (k === today) return "Today";
  if (k === yesterday) return "Yesterday";
  return dayName.format(new Date(ts));
}

function timeOf(ts) {
  return el("time", { datetime: new Date(ts).toISOString(), title: new Date(ts).toLocaleString() }, clock.format(new Date(ts)));
}

// Does `text` name `me` as a word?
function namesMe(text, me) {
  const m = fold(me);
  return !!m && fold(text).split(/[^\p{L}\p{N}_-]+/u).includes(m);
}
