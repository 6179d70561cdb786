// Password strength meter: advice only (the rules are enforced on the server).
(function () {
  var COMMON = ["123456", "5201314", "woaini", "1314", "password", "qwerty", "111111", "000000", "abc123", "iloveyou"];
  function score(p) {
    if (!p) { return 0; }
    var classes = [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter(function (r) { return r.test(p); }).length;
    var s = (p.length >= 8 ? 1 : 0) + (p.length >= 12 ? 1 : 0) + Math.max(0, classes - 1);
    var low = p.toLowerCase();
    if (COMMON.some(function (c) { return low.indexOf(c) !== -1; }) || /^(\d)\1+$/.test(p)) { s = 0; }
    return Math.min(4, s);
  }
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
  var words = zh ? ["太弱", "弱", "一般", "较强", "强"] : ["Too weak", "Weak", "Fair", "Good", "Strong"];
  var hint = zh ? "建议混合使用字母、数字和符号，长一些更安全。" : "Tip: mix letters, digits and symbols; longer is stronger.";
  document.querySelectorAll(".strength").forEach(function (box) {
    var input = document.getElementById(box.getAttribute("data-for"));
    var meter = box.querySelector("meter");
    var text = box.querySelector(".strength-text");
    if (!input) { return; }
    input.addEventListener("input", function () {
      var s = score(input.value);
      meter.value = s;
      text.textContent = input.value ? words[s] + (s < 3 ? " · " + hint : "") : "";
    });
  });
})();
