// OK Wallet live chat widget (customer side). Plain JS, no inline handlers (strict CSP).
// Every message is inserted with textContent: text from the server is never parsed as HTML.
(function () {
  "use strict";
  var root = document.getElementById("okchat");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("okchat-i18n").textContent);
  var cfg = root.dataset;
  var panel = root.querySelector(".okchat-panel");
  var launcher = root.querySelector(".okchat-launcher");
  var log = root.querySelector(".okchat-log");
  var statusBox = root.querySelector(".okchat-status");
  var typingBox = root.querySelector(".okchat-typing");
  var form = root.querySelector(".okchat-form");
  var input = form.querySelector("textarea");
  var fileInput = root.querySelector(".okchat-file");
  var offlineBox = root.querySelector(".okchat-offline");
  var endBox = root.querySelector(".okchat-end");
  var picker = root.querySelector(".okchat-topics");
  var chosen = null;  // the picker's choice before the chat exists (sent with the first frame)
  var ws = null, conv = null, status = null, lastSeq = 0, seen = {}, retry = 0, pending = {}, opened = false;
  var lastReadSent = 0, typingTimer = null, typingOn = false;
  // What the customer asked for while the socket was still connecting (a topic, 转人工, a rating):
  // sent as soon as it opens instead of being dropped. Messages have their own resend (pending).
  var outbox = [];

  function store(key, value) { try { if (value === null) { localStorage.removeItem(key); } else { localStorage.setItem(key, value); } } catch (e) { /* private mode */ } }
  function load(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function visitorKey() {
    var key = load("okchat.visitor");
    if (!key) {
      var bytes = new Uint8Array(24); crypto.getRandomValues(bytes);
      key = btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      store("okchat.visitor", key);
    }
    return key;
  }
  function uid() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }
  function fmtWait(s) {
    if (s === null || s === undefined) { return T.wait_unknown; }
    if (s < 60) { return T.wait_under_minute; }
    return T.wait_minutes.replace("%s", Math.ceil(s / 60));
  }
  function setStatus(text) { statusBox.textContent = text || ""; }
  // The topic picker stays until an agent has the chat; the pressed button is the chat's queue.
  function showTopic(queue, open) {
    if (!picker) { return; }
    picker.hidden = !open;
    picker.querySelectorAll("button[data-topic]").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.topic === queue)); });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function button(label, action, extra) {
    var b = el("button", "", label); b.type = "button"; b.dataset.action = action;
    if (extra) { Object.keys(extra).forEach(function (k) { b.dataset[k] = extra[k]; }); }
    return b;
  }

  function render(m) {
    if (seen[m.seq]) { return; }
    seen[m.seq] = true;
    if (m.seq > lastSeq) { lastSeq = m.seq; store("okchat.last_seq." + conv, String(lastSeq)); }
    var li = el("li", "okchat-msg " + m.sender);
    li.dataset.seq = m.seq;
    if (m.author && m.sender !== "customer") { li.appendChild(el("span", "who", m.author)); }
    if (m.text) { li.appendChild(el("span", "text", m.text)); }
    if (m.attachment) {
      var a = el("a", "", m.attachment.name); a.href = m.attachment.url; a.target = "_blank"; a.rel = "noopener";
      li.appendChild(document.createElement("br")); li.appendChild(a);
    }
    var d = m.data || {}, buttons = d.buttons || [];
    if (d.url) { var link = el("a", "", T.read_article + (d.title ? "：" + d.title : "")); link.href = d.url; buttons = buttons.slice(); li.appendChild(el("span", "actions")).appendChild(link); }
    if (buttons.length) {
      var box = el("span", "actions");
      buttons.forEach(function (b) {
        if (b === "helpful") { box.appendChild(button(T.helpful, "feedback", { seq: m.seq, helpful: "1" })); }
        if (b === "not_helpful") { box.appendChild(button(T.not_helpful, "feedback", { seq: m.seq, helpful: "0" })); }
        if (b === "handoff") { box.appendChild(button(T.human, "handoff")); }
        if (b === "leave_message") { box.appendChild(button(T.leave_message, "offline")); }
        if (b === "help_centre") { var h = el("a", "", T.help_centre); h.href = d.help_url || "/help/"; box.appendChild(h); }
        if (b === "csat") { box.appendChild(button(T.rate, "showend")); }
        if (b === "transcript") { box.appendChild(button(T.transcript, "showend")); }
      });
      li.appendChild(box);
    }
    if (m.sender === "customer") { li.appendChild(el("span", "meta", T.sent)); }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    if (d.kind === "offline") { offlineBox.hidden = false; }
    if (d.kind === "ended") { endBox.hidden = false; }
    markRead();
  }

  function markRead() {
    if (!ws || ws.readyState !== 1 || document.hidden || panel.hidden) { return; }
    if (lastSeq > lastReadSent) { lastReadSent = lastSeq; send({ type: "read", seq: lastSeq }); }
  }

  function send(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    if (frame.type !== "typing" && frame.type !== "read" && frame.type !== "message") {
      outbox = outbox.filter(function (f) { return f.type !== frame.type; });  // the latest choice wins
      outbox.push(frame);
    }
    return false;
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var q = "lang=" + encodeURIComponent(cfg.lang || "zh-hans");
    if (cfg.authenticated !== "1") { q += "&visitor=" + encodeURIComponent(visitorKey()); }
    var known = load("okchat.conv");
    if (known) { conv = known; lastSeq = parseInt(load("okchat.last_seq." + known) || "0", 10) || 0; q += "&last_seq=" + lastSeq; }
    ws = new WebSocket(proto + "//" + location.host + "/ws/chat/?" + q, ["okwallet.chat.v1"]);
    ws.onopen = function () {
      retry = 0; setStatus("");
      Object.keys(pending).forEach(function (k) { send(pending[k]); });
      var queued = outbox; outbox = [];
      queued.forEach(send);
    };
    ws.onmessage = function (ev) { handle(JSON.parse(ev.data)); };
    ws.onclose = function (ev) {
      if (ev.code === 4404) { store("okchat.conv", null); conv = null; lastSeq = 0; }
      if (ev.code === 4401) { setStatus(T.reload); return; }
      retry = Math.min(retry + 1, 6);
      setStatus(T.reconnecting);
      setTimeout(connect, 500 * Math.pow(2, retry - 1));
    };
  }

  function handle(f) {
    if (f.type === "welcome") {
      if (f.conversation && f.conversation !== conv) { conv = f.conversation; lastSeq = 0; seen = {}; log.textContent = ""; }
      if (f.conversation) { store("okchat.conv", f.conversation); }
      if (!f.conversation) { store("okchat.conv", null); conv = null; }
      status = f.status;
      showTopic(f.topic_chosen || f.status === "queued" ? f.queue : chosen, !f.status || f.status === "bot" || f.status === "queued");
      if (!f.hours.open) { setStatus(f.hours.next_open_text ? T.closed_until.replace("%s", f.hours.next_open_text) : T.closed_now); }
      else if (!f.conversation && f.join_estimate_s !== null) { setStatus(T.estimate.replace("%s", fmtWait(f.join_estimate_s))); }
      if (!f.conversation && !log.childElementCount) { log.appendChild(el("li", "okchat-msg system", T.intro)); }
    } else if (f.type === "started") {
      conv = f.conversation; store("okchat.conv", conv); status = f.status;
    } else if (f.type === "message") {
      // Our own message coming back (with "ack": true, or in a replay) means it is stored.
      if (f.client_id && f.sender === "customer") { delete pending[f.client_id]; }
      render(f);
    } else if (f.type === "ack") {
      if (f.client_id) { delete pending[f.client_id]; }
    } else if (f.type === "status") {
      status = f.status;
      showTopic(f.queue, f.status === "bot" || f.status === "queued");
      if (f.status === "active") { setStatus(T.with_agent.replace("%s", f.agent)); }
      else if (f.status === "ended" || f.status === "offline") { setStatus(""); store("okchat.conv", null); }
      else if (f.status === "bot") { setStatus(""); }
    } else if (f.type === "queue") {
      setStatus(T.queue.replace("%n", f.position).replace("%s", fmtWait(f.estimated_wait_s)));
    } else if (f.type === "typing") {
      typingBox.textContent = f.on ? T.agent_typing : "";
    } else if (f.type === "read") {
      if (f.role === "agent") {
        log.querySelectorAll(".okchat-msg.customer").forEach(function (li) {
          if (parseInt(li.dataset.seq, 10) <= f.seq) { var meta = li.querySelector(".meta"); if (meta) { meta.textContent = T.read; } }
        });
      }
    } else if (f.type === "error") {
      var li = el("li", "okchat-msg system", f.message); li.setAttribute("role", "alert"); log.appendChild(li);
      log.scrollTop = log.scrollHeight;
    } else if (f.type === "transcript_sent") {
      log.appendChild(el("li", "okchat-msg system", T.transcript_sent.replace("%s", f.email)));
    } else if (f.type === "csat_saved") {
      endBox.querySelector(".okchat-stars").replaceWith(el("p", "", T.thanks));
    }
  }

  function sendText() {
    var text = input.value.trim();
    if (!text) { return; }
    var frame = { type: "message", text: text, client_id: uid() };
    if (!conv && chosen) { frame.topic = chosen; }
    pending[frame.client_id] = frame;
    send(frame);
    input.value = "";
    stopTyping();
  }

  function stopTyping() { if (typingOn) { typingOn = false; send({ type: "typing", on: false }); } }

  form.addEventListener("submit", function (e) { e.preventDefault(); sendText(); });
  input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendText(); } });
  input.addEventListener("input", function () {
    if (!typingOn && conv) { typingOn = true; send({ type: "typing", on: true }); }
    clearTimeout(typingTimer); typingTimer = setTimeout(stopTyping, 3000);
  });

  root.addEventListener("click", function (e) {
    var t = e.target.closest("[data-action]");
    if (!t) { return; }
    var a = t.dataset.action;
    if (a === "toggle") { panel.hidden = !panel.hidden; launcher.setAttribute("aria-expanded", String(!panel.hidden)); if (!panel.hidden) { open(); input.focus(); } }
    if (a === "close") { panel.hidden = true; launcher.setAttribute("aria-expanded", "false"); launcher.focus(); }
    if (a === "handoff") { send(!conv && chosen ? { type: "handoff", topic: chosen } : { type: "handoff" }); }
    if (a === "topic") { chosen = t.dataset.topic; showTopic(chosen, true); send({ type: "topic", topic: chosen }); }
    if (a === "feedback") { send({ type: "feedback", seq: parseInt(t.dataset.seq, 10), helpful: t.dataset.helpful === "1" }); t.parentNode.querySelectorAll("button[data-action=feedback]").forEach(function (b) { b.disabled = true; }); }
    if (a === "offline") { offlineBox.hidden = false; offlineBox.querySelector("textarea").focus(); }
    if (a === "end") { if (conv && window.confirm(T.confirm_end)) { send({ type: "end" }); } }
    if (a === "showend") { endBox.hidden = false; }
    if (a === "star") { send({ type: "csat", score: parseInt(t.dataset.score, 10), comment: endBox.querySelector("textarea").value }); }
    if (a === "transcript") { send({ type: "transcript", email: endBox.querySelector("input[type=email]").value }); }
    if (a === "attach") { fileInput.click(); }
    if (a === "new") { store("okchat.conv", null); conv = null; chosen = null; lastSeq = 0; seen = {}; log.textContent = ""; endBox.hidden = true; showTopic(null, true); send({ type: "start" }); }
  });

  offlineBox.addEventListener("submit", function (e) {
    e.preventDefault();
    send({ type: "offline_message", text: offlineBox.querySelector("textarea").value, email: offlineBox.querySelector("input[type=email]").value, name: offlineBox.querySelector("input[type=text]").value });
    offlineBox.hidden = true;
  });

  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    if (!file || !conv) { return; }
    var data = new FormData(); data.append("file", file);
    var headers = { "X-CSRFToken": (document.querySelector('meta[name="csrf-token"]') || {}).content || "" };
    if (cfg.authenticated !== "1") { headers["X-Chat-Visitor"] = visitorKey(); }
    fetch("/chat/" + encodeURIComponent(conv) + "/attachments/", { method: "POST", body: data, headers: headers, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) { if (j.code) { handle({ type: "error", message: j.message }); } })
      .catch(function () { handle({ type: "error", message: T.upload_failed }); });
    fileInput.value = "";
  });

  document.addEventListener("visibilitychange", markRead);

  function open() { if (!opened) { opened = true; connect(); } markRead(); }
  if (cfg.embedded === "1" || load("okchat.conv")) { if (cfg.embedded === "1") { panel.hidden = false; } open(); }
})();
