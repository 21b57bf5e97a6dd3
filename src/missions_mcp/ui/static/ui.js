// missions-mcp page: live updates over Server-Sent Events, a pause switch, relative times.
// The server sends whole regions it rendered (every agent-written string already escaped); this
// script only swaps them in. It never builds markup from data, never evaluates anything.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-live");
  var stateEl = document.getElementById("live-state");
  var pauseBtn = document.getElementById("pause");
  var digest = body.getAttribute("data-digest") || "";
  var source = null;
  var paused = false;
  var finished = false;

  function setState(state, text) {
    if (!stateEl) return;
    stateEl.setAttribute("data-state", state);
    stateEl.textContent = text;
  }

  function span(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }

  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("[data-ago]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-ago"));
      if (!isNaN(t)) el.textContent = "(" + span((now - t) / 1000) + " ago)";
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(t)) el.textContent = span((now - t) / 1000);
    });
  }

  function openKeys(root) {
    var keys = {};
    root.querySelectorAll("details[open]").forEach(function (d) {
      var key = d.getAttribute("data-key");
      if (key) keys[key] = true;
    });
    return keys;
  }

  function apply(regions) {
    Object.keys(regions).forEach(function (name) {
      var el = document.querySelector('[data-region="' + CSS.escape(name) + '"]');
      if (!el) return;
      var open = openKeys(el);
      var tpl = document.createElement("template");
      tpl.innerHTML = regions[name];
      tpl.content.querySelectorAll("details[data-key]").forEach(function (d) {
        if (open[d.getAttribute("data-key")]) d.open = true;
      });
      el.replaceChildren(tpl.content);
    });
    refreshTimes();
  }

  function close() {
    if (source) {
      source.close();
      source = null;
    }
  }

  function connect() {
    if (!url || paused || finished || source) return;
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    source = new EventSource(url + sep + "since=" + encodeURIComponent(digest));
    setState("connecting", "○ connecting…");
    source.addEventListener("open", function () { setState("live", "● live"); });
    source.addEventListener("update", function (ev) {
      var data = JSON.parse(ev.data);
      digest = ev.lastEventId || digest;
      body.setAttribute("data-digest", digest);
      if (data.title) document.title = data.title + " · missions-mcp";
      apply(data.regions || {});
      body.setAttribute("data-updates", String(Number(body.getAttribute("data-updates") || "0") + 1));
      setState("live", "● live");
    });
    source.addEventListener("gone", function (ev) {
      finished = true;
      close();
      setState("gone", "✖ " + JSON.parse(ev.data).message);
    });
    source.addEventListener("problem", function (ev) {
      setState("problem", "! " + JSON.parse(ev.data).message);
    });
    source.addEventListener("error", function () {
      // The browser reconnects by itself, sending the last event id it saw.
      if (source && source.readyState === EventSource.CLOSED) {
        close();
        setState("offline", "○ offline: reload to try again");
      } else {
        setState("reconnecting", "○ reconnecting…");
      }
    });
  }

  if (pauseBtn) {
    pauseBtn.addEventListener("click", function () {
      paused = !paused;
      pauseBtn.setAttribute("aria-pressed", paused ? "true" : "false");
      pauseBtn.textContent = paused ? "Resume" : "Pause";
      if (paused) {
        close();
        setState("paused", "‖ paused");
      } else {
        connect();
      }
    });
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { if (select.form) select.form.submit(); });
  });

  refreshTimes();
  setInterval(refreshTimes, 5000);
  connect();
})();
