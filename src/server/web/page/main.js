// The page's controls: the login, the line to type, the lists' forms, the
// drawers, the wire panel's toggle, the keyboard (Alt+↑/↓ switch
// conversations, Escape closes what is open), and scrolling up for
// earlier lines.
function toggleForm(button, form) {
  const open = form.hidden;
  for (const [b, f] of [["join-open", "join-form"], ["dm-open", "dm-form"], ["nick-open", "nick-form"]]) {
    $(f).hidden = true;
    $(b).setAttribute("aria-expanded", "false");
  }
  form.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (open) form.querySelector("input").focus();
}

function formOf(open, form, run) {
  $(open).addEventListener("click", () => toggleForm($(open), $(form)));
  $(form).addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $(form).querySelector("input");
    const v = input.value.trim();
    if (!v) return;
    run(v);
    input.value = "";
    toggleForm($(open), $(form));
    closeDrawers();
  });
}

// A one-time sign-in link (`#signin=TOKEN&name=NAME`, made by /weblink in
// tcpplay join): the name is the account's, and the token leaves the
// address bar at once.
function signinLink() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (!h.get("signin")) return false;
  N.signin = h.get("signin");
  N.signinName = h.get("name") || "";
  history.replaceState(null, "", location.pathname + location.search);
  $("name").value = h.get("name") || "";
  $("name").readOnly = true;
  $("name-hint").textContent = "Your account, from the sign-in link: no password is asked, and the link works once.";
  return true;
}

function start() {
  if (!signinLink()) {
    try { $("name").value = localStorage.getItem("tcpplay.name") || ""; } catch (_) { /* private mode */ }
  }
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    $("notice").textContent = "";
    S.wanted = $("name").value.trim();
    if (N.ws && N.ws.readyState <= 1) return;
    connect();
  });
  // A new link opened in this tab after the chat began: when the tab was
  // signed out of that same account, it signs in again with it, keeping
  // its conversations and what waits to be sent. Any other link is not
  // taken here (another page that opened this tab could otherwise switch
  // it to an account of its own, unseen).
  window.addEventListener("hashchange", () => {
    if (!signinLink() || !N.everJoined) return;
    if (!N.signedOut || fold(N.signinName) !== fold(S.account || "")) {
      N.signin = null;
      status(`This tab is in the chat as ${visible(S.me)}: open that sign-in link in a new tab.`, "bad");
      return;
    }
    N.signedOut = false;
    N.attempt = 0;
    N.lastBye = "";
    N.online = false;
    if (N.ws) N.ws.close();
    connect();
  });
  $("say").addEventListener("submit", (e) => {
    e.preventDefault();
    const line = $("text").value;
    if (line.trim()) typed(line);
    $("text").value = "";
  });
  formOf("join-open", "join-form", (v) => COMMAND.join(v.startsWith("#") ? v : "#" + v));
  formOf("dm-open", "dm-form", (v) => { dmConv(v); switchTo(dmKey(v)); });
  formOf("nick-open", "nick-form", (v) => send({ type: "nick", name: v }));
  $("leave").addEventListener("click", () => {
    const c = S.convs.get(S.current);
    if (!c) return;
    if (c.kind === "room") return send({ type: "part", room: c.name });
    S.convs.delete(c.key);
    S.current = (ordered()[0] || {}).key ?? null;
    drawAll();
  });
  $("notify").addEventListener("click", () => Notification.requestPermission().then(drawBell));
  $("wire-toggle").addEventListener("click", () => {
    const open = $("wire").hidden;
    $("wire").hidden = !open;
    $("wire-toggle").setAttribute("aria-pressed", String(open));
  });
  $("side-open").addEventListener("click", () => openDrawer("side"));
  $("people-open").addEventListener("click", () => openDrawer("people"));
  for (const b of document.querySelectorAll(".close-drawer")) b.addEventListener("click", () => closeDrawers(true));
  $("scrim").addEventListener("click", () => closeDrawers(true));
  $("older").addEventListener("click", fetchOlder);
  $("lines").addEventListener("scroll", () => { if ($("lines").scrollTop < 60) fetchOlder(); });
  for (const b of $("lock-box").querySelectorAll("button")) {
    b.addEventListener("click", () => {
      const c = S.convs.get(S.current);
      const on = b.getAttribute("data-on") === "true";
      const what = on ? "Only operators will set the topic of" : "Every member will set the topic of";
      if (c && window.confirm(`${what} ${visible(c.name)}. Go ahead?`)) {
        send({ type: "moderate", action: "topic_lock", room: roomField(c), on });
      }
    });
  }
  document.addEventListener("keydown", (e) => {
    if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      switchBy(e.key === "ArrowUp" ? -1 : 1);
    } else if (e.key === "Escape") {
      closeDrawers(true);
      for (const [b, f] of [["join-open", "join-form"], ["dm-open", "dm-form"], ["nick-open", "nick-form"]]) {
        if (!$(f).hidden) { $(f).hidden = true; $(b).setAttribute("aria-expanded", "false"); $(b).focus(); }
      }
    }
  });
  document.addEventListener("visibilitychange", () => {
    const c = S.convs.get(S.current);
    if (!document.hidden && c) { c.unread = 0; c.mentions = 0; drawConvs(); }
  });
}

start();
