// The live part: /events sends each rollout's card whole (server-rendered) and a note when
// the agent has looked again; nothing here renders by itself.
(function () {
  var status = document.getElementById("live-status");
  var cards = document.getElementById("live-cards");
  var empty = document.getElementById("live-empty");
  var events = new EventSource("/events");
  window.amagentEvents = events; // tests close it to hold a state on screen
  events.onopen = function () { status.textContent = " · live"; };
  events.onerror = function () { status.textContent = " · reconnecting…"; };
  events.addEventListener("service", function (e) {
    var s = JSON.parse(e.data);
    var old = document.getElementById(s.id);
    var box = document.createElement("div");
    box.innerHTML = s.html;
    if (old) { old.replaceWith(box.firstChild); } else { cards.prepend(box.firstChild); }
    empty.hidden = true;
    // Progress call to DOM, in ms (the same machine's clock; for the measurement script).
    document.body.dataset.latencyMs = Date.now() - s.sent_ms;
  });
  events.addEventListener("snapshot", function () {
    fetch(location.pathname, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (text) {
        var page = new DOMParser().parseFromString(text, "text/html");
        ["overview", "history"].forEach(function (id) {
          var now = document.getElementById(id), next = page.getElementById(id);
          if (now && next) { now.replaceWith(next); }
        });
        document.body.dataset.snapshots = (+document.body.dataset.snapshots || 0) + 1;
      });
  });
  document.addEventListener("click", function (e) {
    var d = e.target.closest && e.target.closest(".digest");
    if (d && navigator.clipboard) { navigator.clipboard.writeText(d.dataset.full); }
  });
})();
