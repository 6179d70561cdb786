// Agent console: one socket for queue changes and the open conversation. Text is inserted as text.
(function () {
  "use strict";
  var box = document.getElementById("chat-agent-socket");
  if (!box) { return; }
  var conv = box.dataset.conversation || "";
  var lastSeq = parseInt(box.dataset.lastSeq || "0", 10) || 0;
  var stringsNode = document.getElementById("chat-console-i18n");
  var T = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  var log = document.getElementById("chat-log");
  var typingBox = document.getElementById("chat-typing");
  var form = document.getElementById("chat-send");
  var input = document.getElementById("chat-input");
  var internal = document.getElementById("chat-internal");
  var ws = null, retry = 0, typingTimer = null, typingOn = false, seen = {};
  if (log) { log.querySelectorAll("[data-seq]").forEach(function (li) { seen[li.dataset.seq] = true; }); log.scrollTop = log.scrollHeight; }

  function el(tag, cls, text) { var n = document.createElement(tag); if (cls) { n.className = cls; } if (text !== undefined) { n.textContent = text; } return n; }
  // HH:MM:SS in the service's time zone, as the server renders the earlier messages
  function clock(iso) {
    if (!iso) { return ""; }
    try { return new Date(iso).toLocaleTimeString("en-GB", { timeZone: T.time_zone || undefined, hour12: false }); }
    catch (e) { return new Date(iso).toLocaleTimeString(); }
  }
  function send(frame) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); } }

  function render(m) {
    if (!log || m.conversation !== conv || seen[m.seq]) { return; }
    seen[m.seq] = true; lastSeq = Math.max(lastSeq, m.seq);
    var li = el("li", "okchat-msg " + m.sender + (m.internal ? " internal" : ""));
    li.dataset.seq = m.seq;
    li.appendChild(el("span", "who", (m.internal ? T.internal + " · " : "") + (m.author || (T.senders || {})[m.sender] || m.sender) + " · " + clock(m.created_at)));
    li.appendChild(el("span", "text", m.text));
    if (m.attachment) { var a = el("a", "", m.attachment.name); a.href = m.attachment.url; a.target = "_blank"; a.rel = "noopener"; li.appendChild(document.createElement("br")); li.appendChild(a); }
    log.appendChild(li); log.scrollTop = log.scrollHeight;
    if (m.sender === "customer" && !document.hidden) { send({ type: "read", conversation: conv, seq: m.seq }); }
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws/chat/agent/");
    ws.onopen = function () { retry = 0; if (conv) { send({ type: "watch", conversation: conv, last_seq: lastSeq }); } };
    ws.onmessage = function (ev) {
      var f = JSON.parse(ev.data);
      if (f.type === "message") { render(f); }
      else if (f.type === "typing" && f.conversation === conv && typingBox) { typingBox.textContent = f.on && f.role === "customer" ? T.customer_typing : ""; }
      else if (f.type === "read" && f.role === "customer" && log) {
        log.querySelectorAll(".okchat-msg.agent").forEach(function (li) { if (parseInt(li.dataset.seq, 10) <= f.seq) { li.classList.add("read"); li.title = T.read; } });
      }
      else if (f.type === "status" && f.conversation === conv) { var s = document.getElementById("chat-status"); if (s) { s.textContent = f.status; } }
      else if (f.type === "assigned" && f.mine && f.how === "auto" && f.conversation !== conv) { assigned(f); }
      else if (f.type === "queue_changed" || f.type === "ended" || f.type === "transferred" || f.type === "requeued") { document.body.dispatchEvent(new Event("chat-refresh")); }
      else if (f.type === "error" && log) { var e = el("li", "okchat-msg system", f.message); e.setAttribute("role", "alert"); log.appendChild(e); }
    };
    ws.onclose = function () { retry = Math.min(retry + 1, 6); if (typingBox) { typingBox.textContent = T.reconnecting || ""; } setTimeout(connect, 500 * Math.pow(2, retry - 1)); };
  }

  // A chat given to this agent automatically: the chat list opens it; elsewhere a notice links to it.
  function assigned(f) {
    var url = "/console/chat/" + encodeURIComponent(f.conversation) + "/";
    if (box.dataset.followAssigned === "1") { location.href = url; return; }
    var note = document.getElementById("chat-assigned");
    if (!note) { note = el("div", "notice"); note.id = "chat-assigned"; note.setAttribute("role", "status"); box.parentNode.insertBefore(note, box); }
    note.textContent = ""; note.hidden = false;
    var a = el("a", "", T.assigned || f.conversation); a.href = url; note.appendChild(a);
  }

  var upload = document.getElementById("chat-upload");
  if (upload) {
    upload.addEventListener("submit", function (e) {
      e.preventDefault();
      var file = upload.querySelector("input[type=file]");
      if (!file.files.length) { return; }
      var data = new FormData(upload);
      fetch(upload.action, { method: "POST", body: data, credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRFToken": data.get("csrfmiddlewaretoken") || "" } })
        .then(function (r) { return r.json(); })
        .then(function (j) { if (j.code && log) { var n = el("li", "okchat-msg system", j.message); n.setAttribute("role", "alert"); log.appendChild(n); } })
        .catch(function () { if (log) { var n = el("li", "okchat-msg system", T.upload_failed); n.setAttribute("role", "alert"); log.appendChild(n); } });
      file.value = "";
    });
  }

  function stopTyping() { if (typingOn) { typingOn = false; send({ type: "typing", conversation: conv, on: false }); } }
  if (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim(); if (!text) { return; }
      send({ type: "message", conversation: conv, text: text, internal: !!(internal && internal.checked), client_id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8) });
      input.value = ""; stopTyping();
    });
    input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); } });
    input.addEventListener("input", function () {
      if (!typingOn && !(internal && internal.checked)) { typingOn = true; send({ type: "typing", conversation: conv, on: true }); }
      clearTimeout(typingTimer); typingTimer = setTimeout(stopTyping, 3000);
    });
  }
  document.querySelectorAll("[data-canned]").forEach(function (b) {
    b.addEventListener("click", function () { if (input) { input.value = b.dataset.canned; input.focus(); } });
  });
  connect();
})();
