// What the page knows: who I am, and the conversations — rooms (keyed by
// their name) and direct messages (keyed "@" and the other's folded name) —
// each with its lines (in id order, each id once), unread and mention
// counts, topic and members. No DOM here: view.js draws it.
const S = {
  me: "",          // my name as the server has it
  wanted: "",      // the name asked for at login (to say when it was taken)
  defaultRoom: null,
  convs: new Map(),
  current: null,   // the key of the conversation on screen: typed lines go there
  firstLine: false,
};

const MAX_LINES = 1000;

function conv(key, kind, name) {
  if (!S.convs.has(key)) {
    S.convs.set(key, {
      key, kind, name, lines: [], ids: new Set(), unread: 0, mentions: 0,
      topic: "", members: [], total: 0, joined: kind === "dm", more: false,
      history: [], fetching: false, locked: false,
    });
  }
  return S.convs.get(key);
}

// The room a packet is about: its `room`, or the server's default room.
const roomKey = (room) => room || S.defaultRoom || "#lobby";
const roomConv = (room) => conv(roomKey(room), "room", roomKey(room));
const dmKey = (name) => "@" + fold(name);
const dmConv = (name) => {
  const c = conv(dmKey(name), "dm", name);
  c.name = name;
  return c;
};
// What to put in a packet's `room` for this conversation (absent: the default room).
const roomField = (c) => (c.name === S.defaultRoom ? undefined : c.name);

// Add a line; false when it was there already (a replay after a reconnect).
function addLine(c, line) {
  if (line.id !== undefined) {
    if (c.ids.has(line.id)) return false;
    c.ids.add(line.id);
  }
  const live = line.id === undefined || !c.lines.length || c.lines[c.lines.length - 1].id === undefined
    || c.lines[c.lines.length - 1].id < line.id;
  if (live) c.lines.push(line);
  else {
    // An earlier line (history): into its place by id.
    const at = c.lines.findIndex((l) => l.id !== undefined && l.id > line.id);
    c.lines.splice(at < 0 ? c.lines.length : at, 0, line);
  }
  while (c.lines.length > MAX_LINES) {
    const gone = c.lines.shift();
    if (gone.id !== undefined) c.ids.delete(gone.id);
    c.more = true;
  }
  return live;
}

// The oldest id shown (where an earlier page starts).
const oldestId = (c) => (c.lines.find((l) => l.id !== undefined) || {}).id;

// Conversations in the order of the room list: rooms, then direct messages.
function ordered() {
  const all = [...S.convs.values()];
  return [...all.filter((c) => c.kind === "room"), ...all.filter((c) => c.kind === "dm")];
}

function mentionsTotal() {
  let n = 0;
  for (const c of S.convs.values()) n += c.mentions;
  return n;
}
