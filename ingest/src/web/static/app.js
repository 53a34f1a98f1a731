// Niêm: the little JavaScript the pages need. Everything works without it
// (links reload the page at the right moment); with it, the player seeks in place.
"use strict";
// Document upload and link revocation (meeting page, admins): the API takes the
// file as the body, with the CSRF token in a header, which a plain form cannot send.
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]');
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (!f.dataset || !(f.dataset.upload || f.dataset.post)) return;
    e.preventDefault();
    var url = f.action, body = null;
    if (f.dataset.upload) {
      var file = f.elements.file.files[0];
      if (!file) return;
      // Documents carry a kind and a Mật flag; minutes only a title.
      var q = new URLSearchParams({ filename: file.name });
      if (f.elements.title && f.elements.title.value) q.set("title", f.elements.title.value);
      if (f.elements.kind) q.set("kind", f.elements.kind.value);
      if (f.elements.confidential && f.elements.confidential.checked) q.set("confidential", "true");
      url += "?" + q.toString();
      body = file;
    }
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
      headers: { "x-csrf-token": csrf ? csrf.content : "" } })
      .then(function (r) {
        if (r.ok) return location.reload();
        // The page's words; the service's own message after them (these forms are admins' only).
        return r.json().then(function (j) { alert(f.dataset.failed + "\n\n" + j.error.message); },
          function () { alert(f.dataset.failed); });
      });
  });
})();
(function () {
  var player = document.getElementById("player");
  if (!player) return;
  var start = parseFloat(player.dataset.start || "0");
  function seek(t) {
    player.currentTime = t;
    var p = player.play();
    if (p && p.catch) p.catch(function () {});
  }
  if (start > 0) {
    if (player.readyState >= 1) seek(start);
    else player.addEventListener("loadedmetadata", function () { seek(start); }, { once: true });
  }
  var lines = Array.prototype.slice.call(document.querySelectorAll("a.line[data-here]"));
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.line");
    if (!a || a.dataset.stream !== player.dataset.stream) return;
    e.preventDefault();
    seek(parseFloat(a.dataset.t));
    history.replaceState(null, "", a.href);
  });
  // Mark the line being played.
  player.addEventListener("timeupdate", function () {
    var t = player.currentTime, cur = null;
    for (var i = 0; i < lines.length; i++) {
      if (parseFloat(lines[i].dataset.t) <= t + 0.05) cur = lines[i]; else break;
    }
    lines.forEach(function (l) { l.classList.toggle("now", l === cur); });
  });
})();
