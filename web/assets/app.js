// OpenSeer dashboard behaviour. No inline scripts anywhere: everything lives here.
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]:not(.ago)").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.textContent = d.toLocaleString(); t.title = t.getAttribute("datetime"); }
    });
  }
  function live(on) {
    var el = document.getElementById("live");
    if (!el) return;
    el.classList.toggle("off", !on);
    el.textContent = on ? "live" : "disconnected, reconnecting\u2026";
  }
  // "N s ago" counts on by itself: from the server's clock when the element
  // was drawn (data-now) plus the time since, as the node's ago() words it.
  function agoText(s) {
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  function tickAgo() {
    document.querySelectorAll("time.ago[datetime][data-now]").forEach(function (t) {
      if (!t.dataset.drawnAt) t.dataset.drawnAt = String(Date.now());
      var at = Date.parse(t.getAttribute("datetime"));
      var now = Number(t.dataset.now) + (Date.now() - Number(t.dataset.drawnAt));
      if (!isNaN(at)) t.textContent = agoText(Math.max(0, Math.floor((now - at) / 1000)));
    });
  }
  setInterval(tickAgo, 1000);
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); tickAgo(); });
  document.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); });
  // A check can arrive twice: drawn with the page and caught up by the
  // stream that started after it. Each row names its check; keep the first.
  function dropRepeats(el) {
    if (!el.querySelectorAll) return;
    var seen = {};
    el.querySelectorAll("tr[data-run]").forEach(function (tr) {
      var id = tr.getAttribute("data-run");
      if (seen[id]) tr.remove(); else seen[id] = true;
    });
  }
  document.addEventListener("htmx:sseMessage", function (e) {
    dropRepeats(e.target);
    localTimes(e.target.closest("[sse-connect]") || document);
  });
  document.addEventListener("htmx:sseOpen", function () { live(true); });
  document.addEventListener("htmx:sseError", function () { live(false); });
  document.addEventListener("htmx:sseClose", function () { live(false); });
  // Leaving a page must close its event stream at once: browsers allow six
  // connections per host, and a page kept in the back/forward cache would
  // hold its stream open. A page restored from that cache loads afresh.
  var streams = [];
  var createEventSource = htmx.createEventSource;
  htmx.createEventSource = function (url) {
    var s = createEventSource(url);
    streams.push(s);
    return s;
  };
  window.addEventListener("pagehide", function () {
    streams.forEach(function (s) { s.close(); });
  });
  window.addEventListener("pageshow", function (e) { if (e.persisted) window.location.reload(); });
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();
