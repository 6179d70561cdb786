// CTI screen-pop: the console listens on /ws/console/calls/ and shows the caller as the call rings.
(function () {
  var box = document.getElementById("screen-pop");
  if (!box || !window.WebSocket) { return; }
  var body = document.getElementById("screen-pop-body");
  var delay = 1000;
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(proto + location.host + box.dataset.socket);
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      if (data.type !== "call") { return; }
      if (data.event === "ended") {
        if (body.querySelector('[data-call="' + data.call.id + '"]')) { box.hidden = true; body.innerHTML = ""; }
        return;
      }
      body.innerHTML = data.html;
      box.hidden = false;
      box.classList.toggle("answered", data.event === "answered");
      if (data.event === "answered" && data.mine) { box.focus && box.setAttribute("tabindex", "-1"); box.focus(); }
    };
    socket.onclose = function () { setTimeout(connect, delay); delay = Math.min(delay * 2, 30000); };
  }
  connect();
})();
