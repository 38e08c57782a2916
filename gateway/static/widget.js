/*
 * oddsgate live widget: keeps the fragments of /cms/shortcode live over the partner /ws channel.
 *
 *   <div class="oddsgate" data-oddsgate-event="..." ...>...</div>   (the fragment, works without JS)
 *   <script src="https://odds.example/widget.js" data-oddsgate-token="<embed token>" async></script>
 *
 * No dependencies. Prices flash up or down as they move, a suspended market says so, and after a
 * lost connection the widget reconnects and resumes from the last sequence number it saw.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var token = script && script.getAttribute("data-oddsgate-token");
  var base = (script && script.getAttribute("data-oddsgate-url")) || (script ? new URL(script.src).origin : location.origin);
  var FLASH_MS = 1500;
  var MAX_BACKOFF_MS = 10000;

  var STYLE = [
    ".oddsgate{font:14px/1.4 system-ui,sans-serif;border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;margin:8px 0;max-width:420px}",
    ".oddsgate .og-head{display:flex;gap:8px;align-items:baseline;margin-bottom:4px}",
    ".oddsgate .og-teams{font-weight:600;flex:1}",
    ".oddsgate .og-status{font-size:12px;text-transform:uppercase;color:#57606a}",
    ".oddsgate .og-status-live{color:#cf222e;font-weight:600}",
    ".oddsgate .og-score{font-weight:700}",
    ".oddsgate table{width:100%;border-collapse:collapse;margin:4px 0}",
    ".oddsgate caption{text-align:left;font-size:12px;color:#57606a;padding:2px 0}",
    ".oddsgate th{text-align:left;font-weight:400;padding:2px 0}",
    ".oddsgate .og-price{text-align:right;font-variant-numeric:tabular-nums;font-weight:600;padding:2px 6px;border-radius:4px;transition:background-color .3s}",
    ".oddsgate .og-up{background:#dafbe1;color:#1a7f37}",
    ".oddsgate .og-down{background:#ffebe9;color:#cf222e}",
    ".oddsgate .og-suspended-label{display:none;margin-left:6px;color:#9a6700;font-weight:600;text-transform:uppercase}",
    ".oddsgate .og-suspended .og-suspended-label{display:inline}",
    ".oddsgate .og-suspended .og-price{opacity:.45;text-decoration:line-through}",
    ".oddsgate .og-settled-label{display:none;margin-left:6px;color:#0969da;font-weight:600;text-transform:uppercase}",
    ".oddsgate .og-settled .og-settled-label{display:inline}",
    ".oddsgate .og-settled .og-suspended-label{display:none}",
    ".oddsgate .og-settled .og-price{opacity:.45;text-decoration:none}",
    ".oddsgate .og-settled .og-winner th{font-weight:700}",
    ".oddsgate .og-settled .og-winner th::after{content:' \\2713';color:#1a7f37}",
    ".oddsgate .og-foot{font-size:11px;color:#8c959f;margin:4px 0 0}",
    ".oddsgate[data-oddsgate-live=true] .og-foot::after{content:' \\00b7\\00a0live';color:#1a7f37}"
  ].join("\n");

  function blocks() {
    return Array.prototype.slice.call(document.querySelectorAll(".oddsgate[data-oddsgate-event]:not(.oddsgate-unavailable)"));
  }

  function byEvent() {
    var found = {};
    blocks().forEach(function (block) {
      var id = block.getAttribute("data-oddsgate-event");
      (found[id] = found[id] || []).push(block);
    });
    return found;
  }

  function shown(odds, format) {
    if (format === "american") return odds.american;
    if (format === "fractional") return odds.fractional;
    return Number(odds.decimal).toFixed(2);
  }

  function flash(cell, className) {
    cell.classList.remove("og-up", "og-down");
    // Restart the highlight when the price moves again before the last one faded.
    void cell.offsetWidth;
    cell.classList.add(className);
    clearTimeout(cell._ogTimer);
    cell._ogTimer = setTimeout(function () {
      cell.classList.remove(className);
    }, FLASH_MS);
  }

  function setPrice(block, marketId, outcome) {
    var cell = block.querySelector(
      'table[data-oddsgate-market="' + CSS.escape(marketId) + '"] tr[data-oddsgate-outcome="' + CSS.escape(outcome.id) + '"] .og-price'
    );
    if (!cell) return;
    var before = Number(cell.getAttribute("data-oddsgate-decimal"));
    var after = Number(outcome.odds.decimal);
    cell.textContent = shown(outcome.odds, block.getAttribute("data-oddsgate-format"));
    cell.setAttribute("data-oddsgate-decimal", String(after));
    if (before && after !== before) flash(cell, after > before ? "og-up" : "og-down");
  }

  function setSuspended(block, marketId, suspended) {
    var table = block.querySelector('table[data-oddsgate-market="' + CSS.escape(marketId) + '"]');
    if (table && typeof suspended === "boolean") table.classList.toggle("og-suspended", suspended);
  }

  // A settled market shows its result (winners ticked, or void); a rollback clears it.
  function setResult(block, marketId, status, result) {
    var table = block.querySelector('table[data-oddsgate-market="' + CSS.escape(marketId) + '"]');
    if (!table || typeof status !== "string") return;
    table.classList.toggle("og-settled", status === "settled");
    var label = table.querySelector(".og-settled-label");
    if (label) label.textContent = result && result.void ? "Void" : "Settled";
    var winners = result ? result.winners || [] : [];
    Array.prototype.forEach.call(table.querySelectorAll("tr[data-oddsgate-outcome]"), function (row) {
      row.classList.toggle("og-winner", winners.indexOf(row.getAttribute("data-oddsgate-outcome")) >= 0);
    });
  }

  function setState(block, status, state) {
    var statusCell = block.querySelector("[data-oddsgate-status]");
    if (status && statusCell) {
      statusCell.textContent = status;
      statusCell.className = "og-status og-status-" + status;
    }
    var scoreCell = block.querySelector("[data-oddsgate-score]");
    if (state && state.score && scoreCell) scoreCell.textContent = state.score.home + "-" + state.score.away;
  }

  function setSeq(block, seq) {
    if (typeof seq === "number" && seq > Number(block.getAttribute("data-oddsgate-seq") || 0)) {
      block.setAttribute("data-oddsgate-seq", String(seq));
    }
  }

  function apply(message) {
    var targets = byEvent()[message.event_id] || [];
    targets.forEach(function (block) {
      if (message.event === "snapshot") {
        var data = message.data;
        setState(block, data.status, data.state);
        (data.markets || []).forEach(function (market) {
          setSuspended(block, market.id, market.suspended);
          setResult(block, market.id, market.status, market.result);
          market.outcomes.forEach(function (outcome) {
            setPrice(block, market.id, outcome);
          });
        });
      } else if (message.event === "odds.updated") {
        setSuspended(block, message.market_id, message.suspended);
        setResult(block, message.market_id, message.market_status, message.result);
        (message.outcomes || []).forEach(function (outcome) {
          setPrice(block, message.market_id, outcome);
        });
      } else if (message.event === "event.updated") {
        setState(block, message.status, message.state);
      }
      setSeq(block, message.seq);
    });
  }

  function setLive(live) {
    blocks().forEach(function (block) {
      block.setAttribute("data-oddsgate-live", live ? "true" : "false");
    });
  }

  var backoff = 500;

  function connect() {
    var events = byEvent();
    var ids = Object.keys(events);
    if (!ids.length || !token) return;
    var socket = new WebSocket(base.replace(/^http/, "ws") + "/ws");
    socket.onopen = function () {
      socket.send(JSON.stringify({ action: "auth", token: token }));
    };
    socket.onmessage = function (frame) {
      var message;
      try {
        message = JSON.parse(frame.data);
      } catch (error) {
        return;
      }
      if (message.event === "authenticated") {
        // Resume from what the page already shows: the fragment's seq, or the last one seen since.
        var since = {};
        ids.forEach(function (id) {
          since[id] = Math.min.apply(null, events[id].map(function (b) {
            return Number(b.getAttribute("data-oddsgate-seq") || 0);
          }));
        });
        socket.send(JSON.stringify({ action: "subscribe", channels: ids.map(function (id) { return "event." + id; }), since: since }));
      } else if (message.event === "subscribed") {
        backoff = 500;
        setLive(true);
      } else if (message.event === "error") {
        if (window.console) console.warn("oddsgate:", message.error && message.error.message);
      } else {
        apply(message);
      }
    };
    socket.onclose = function () {
      setLive(false);
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    };
  }

  function start() {
    if (!document.getElementById("oddsgate-style")) {
      var style = document.createElement("style");
      style.id = "oddsgate-style";
      style.textContent = STYLE;
      document.head.appendChild(style);
    }
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
