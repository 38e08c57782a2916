/*
 * oddsgate operator dashboard: the live book, trader overrides, alerts, exposure and feed health.
 *
 * Plain DOM, fetch and WebSocket with no dependencies, so it runs offline from the gateway itself.
 * The page holds no data: everything comes from the API with the operator's bearer token, and
 * every value is written with textContent because feed strings (teams, reasons) are untrusted.
 */
(function () {
  "use strict";

  const TOKEN_KEY = "oddsgate.token";
  const POLL_MS = { sources: 3000, exposure: 5000, overrides: 10000, discover: 30000 };
  const MAX_ALERTS = 100;
  const MAX_BACKOFF_MS = 30000;
  // Heartbeats come every 15 s by default: this much silence is a dead socket nobody closed.
  const SILENCE_MS = 40000;
  const SCOPE_KEYS = ["sport", "league", "event_id", "market_id", "outcome_id"];

  let state = freshState();

  function freshState() {
    return {
      token: null,
      claims: {},
      canControl: false,
      events: new Map(), // id -> {data, el, head, markets: Map(id -> {data, el, rows: Map})}
      pending: new Map(), // unknown event id -> deltas held while its REST fetch runs
      skipped: new Set(), // events the token cannot read: not fetched again until the next discovery
      ws: null,
      authed: false,
      attempts: 0,
      reconnectTimer: null,
      lastFrame: 0,
      sports: new Set(), // sports whose odds channel this socket has asked for
      timers: [],
      sourcesSeen: new Map(), // source -> {updates, at}: the previous poll, for updates per second
      signatures: {}, // panel -> last rendered data, so unchanged panels keep their DOM (and clicks)
    };
  }

  // -- small helpers -----------------------------------------------------------------------------

  const $ = (selector, root) => (root || document).querySelector(selector);

  // Builds an element; strings among the children become text nodes, never markup.
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
    return node;
  }

  const price = (value) => (typeof value === "number" && isFinite(value) ? value.toFixed(2) : "–");
  const teams = (d) => (d.home_team || "?") + " v " + (d.away_team || "?");
  const cssToken = (text) => String(text).toLowerCase().replace(/[^a-z0-9_-]+/g, "-");
  const shortId = (id) => String(id).slice(0, 8);

  function relative(ms) {
    const s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 10) return s.toFixed(1) + " s ago";
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  // A relative time kept fresh by tick(); the exact time is in the tooltip.
  function ago(ms) {
    return h("time", { "data-ts": ms, datetime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString() }, relative(ms));
  }

  function marketLabel(m) {
    if (m.line === null || m.line === undefined) return m.type || m.id;
    const sign = m.type === "spread" && m.line > 0 ? "+" : "";
    return m.type + " " + sign + m.line;
  }

  function flash(node, ok, text) {
    clearTimeout(node._timer);
    node.textContent = text;
    node.className = "flash " + (ok ? "ok" : "error");
    // Successes fade; an error stays until the next action so it can be read.
    if (ok) node._timer = setTimeout(() => { node.textContent = ""; node.className = "flash"; }, 6000);
  }

  function readClaims(token) {
    try {
      return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    } catch (err) {
      return {};
    }
  }

  // -- the API -----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, options) {
    const session = state;
    const opts = options || {};
    const headers = { Authorization: "Bearer " + state.token };
    let body;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    let response;
    try {
      response = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "NETWORK", "the gateway cannot be reached");
    }
    const payload = await response.json().catch(() => null);
    // Signed out (or in again) meanwhile: this answer belongs to a page that is gone.
    if (session !== state) throw new ApiError(0, "STALE", "signed out");
    if (!response.ok) {
      const error = (payload && payload.error) || {};
      throw new ApiError(response.status, error.code || "HTTP_" + response.status, error.message || response.statusText);
    }
    return payload;
  }

  const createOverride = (body) => api("/api/v2/overrides", { method: "POST", body });
  const rollbackOverride = (id, reason) =>
    api("/api/v2/overrides/" + encodeURIComponent(id) + "/rollback", { method: "POST", body: reason ? { reason } : {} });

  // Runs a background refresh; a refused token ends the session, other failures show in `panel`.
  async function guarded(task, panel) {
    try {
      await task();
    } catch (err) {
      if (err.status === 401) logout("Signed out: " + err.message);
      else if (panel && err.code !== "STALE") panel.replaceChildren(h("p", { class: "error" }, err.message));
    }
  }

  async function loadAllEvents() {
    const events = [];
    for (let offset = 0, total = 1; offset < total && offset < 2000; offset += 100) {
      const page = await api("/api/v2/odds?limit=100&offset=" + offset);
      events.push(...page.data);
      total = page.pagination ? page.pagination.total : 0;
    }
    return events;
  }

  // -- session -----------------------------------------------------------------------------------

  async function start(token) {
    teardown();
    state.token = token;
    state.claims = readClaims(token);
    const scopes = Array.isArray(state.claims.scopes) ? state.claims.scopes : null;
    // The claims only shape the page (no controls for a read-only token); the API decides every call.
    state.canControl = !scopes || scopes.includes("odds:control") || scopes.includes("admin");
    let events;
    try {
      events = await loadAllEvents();
    } catch (err) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(err.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    showApp();
    events.forEach(addEvent);
    afterEventsChanged();
    connect();
    const every = (ms, task) => { task(); state.timers.push(setInterval(task, ms)); };
    every(POLL_MS.sources, () => guarded(pollSources, $("#sources")));
    if (state.canControl) {
      every(POLL_MS.exposure, () => guarded(refreshExposure, $("#exposure")));
      every(POLL_MS.overrides, () => guarded(refreshOverrides, $("#overrides")));
      guarded(loadAlerts, null);
    }
    state.timers.push(setInterval(discover, POLL_MS.discover), setInterval(tick, 1000));
  }

  function teardown() {
    state.timers.forEach(clearInterval);
    clearTimeout(state.reconnectTimer);
    const ws = state.ws;
    state = freshState(); // before closing, so the socket's close handler sees it is not current
    if (ws) ws.close(1000, "logout");
    ["#events", "#overrides", "#alerts", "#exposure", "#sources", "#stop-scope"].forEach((s) => $(s).replaceChildren());
    setStatus("offline");
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    teardown();
    showLogin(message || "");
  }

  function showLogin(message) {
    $("#app").hidden = true;
    $("#login-view").hidden = false;
    $("#logout").hidden = true;
    $("#whoami").textContent = "";
    $("#login-error").textContent = message || "";
  }

  function showApp() {
    $("#login-view").hidden = true;
    $("#login-error").textContent = "";
    $("#token").value = "";
    $("#app").hidden = false;
    $("#logout").hidden = false;
    document.body.classList.toggle("read-only", !state.canControl);
    const who = $("#whoami");
    who.textContent = state.claims.sub ? "signed in as " + state.claims.sub : "";
    who.title = Array.isArray(state.claims.scopes) ? state.claims.scopes.join(" ") : "";
  }

  // -- events and markets ------------------------------------------------------------------------

  function addEvent(data) {
    const entry = { data: { ...data, markets: undefined }, el: null, head: null, markets: new Map() };
    entry.head = h("div", { class: "event-head" });
    entry.body = h("div", { class: "markets" });
    entry.el = h("article", { class: "event", "data-event": data.id }, entry.head, entry.body);
    state.events.set(data.id, entry);
    (data.markets || []).forEach((m) => upsertMarket(entry, m));
    renderEventHead(entry);
    placeEvent(entry);
    applyFilter(entry);
    return entry;
  }

  function removeEvent(id) {
    const entry = state.events.get(id);
    if (entry) entry.el.remove();
    state.events.delete(id);
  }

  // Brings an event to a full state (REST or a snapshot): markets it no longer has go away.
  function patchEvent(entry, data) {
    const statusBefore = entry.data.status;
    Object.assign(entry.data, data, { markets: undefined });
    const seen = new Set();
    for (const m of data.markets || []) {
      seen.add(m.id);
      upsertMarket(entry, m);
    }
    for (const [id, market] of entry.markets) {
      if (!seen.has(id)) {
        market.el.remove();
        entry.markets.delete(id);
      }
    }
    renderEventHead(entry);
    if (statusBefore !== entry.data.status) placeEvent(entry);
    applyFilter(entry);
  }

  function renderEventHead(entry) {
    const d = entry.data;
    const score = d.state && d.state.score && d.state.score.home !== null && d.state.score.home !== undefined
      ? h("span", { class: "score" }, d.state.score.home + " – " + d.state.score.away,
        d.state.period || d.state.clock ? h("span", { class: "muted" }, " " + [d.state.period, d.state.clock].filter(Boolean).join(" ")) : null)
      : null;
    const kickoff = d.start_time ? new Date(d.start_time) : null;
    // replaceChildren would write a null as the text "null".
    entry.head.replaceChildren(
      h("span", { class: "teams" }, teams(d)),
      score || "",
      h("span", { class: "status status-" + cssToken(d.status || "unknown") }, d.status || "?"),
      h("div", { class: "event-meta muted" },
        [d.sport, d.league].filter(Boolean).join(" · "),
        kickoff ? " · " + kickoff.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" }) : "",
        " · ", h("span", { class: "event-id" }, d.id)),
    );
  }

  // Live events first, then by start time, as the API lists them.
  function sortKey(d) {
    return (d.status === "live" ? "0" : d.status === "scheduled" ? "1" : "2") + (d.start_time || "") + d.id;
  }

  function placeEvent(entry) {
    const container = $("#events");
    const key = sortKey(entry.data);
    let before = null;
    for (const other of container.children) {
      const o = state.events.get(other.dataset.event);
      if (other !== entry.el && o && sortKey(o.data) > key) { before = other; break; }
    }
    // Moving a node blurs an input inside it: only move when the place really changed.
    if (entry.el.parentNode !== container || entry.el.nextElementSibling !== before) container.insertBefore(entry.el, before);
  }

  function upsertMarket(entry, m) {
    let market = entry.markets.get(m.id);
    if (!market) {
      market = { data: { id: m.id, type: m.type, line: m.line, outcomes: [] }, rows: new Map() };
      market.el = renderMarket(entry.data.id, market);
      entry.markets.set(m.id, market);
      entry.body.append(market.el);
    }
    market.data.suspended = Boolean(m.suspended);
    market.data.margin = m.margin;
    (m.outcomes || []).forEach((o) => upsertOutcome(market, o));
    market.el.classList.toggle("suspended", market.data.suspended);
    market.margin.textContent = typeof m.margin === "number" ? "margin " + m.margin.toFixed(2) + "%" : "margin –";
  }

  function renderMarket(eventId, market) {
    market.margin = h("span", { class: "margin" });
    market.tbody = h("tbody");
    market.outcomeSelect = h("select", { "data-role": "outcome", "aria-label": "Outcome" });
    const controls = h("span", { class: "controls control-only" },
      h("input", { type: "text", "data-role": "reason", placeholder: "reason", maxlength: 500, "aria-label": "Reason" }),
      h("button", { type: "button", "data-action": "suspend", class: "danger" }, "Suspend"),
      h("button", { type: "button", "data-action": "resume" }, "Resume"),
      h("details", { class: "adjust" },
        h("summary", null, "Margin / price"),
        h("div", { class: "adjust-body" },
          h("span", { class: "row" },
            h("input", { type: "number", "data-role": "margin", min: 0, max: 50, step: 0.1, placeholder: "margin %", "aria-label": "Target margin (%)" }),
            h("button", { type: "button", "data-action": "margin" }, "Set margin")),
          h("span", { class: "row" },
            market.outcomeSelect,
            h("input", { type: "number", "data-role": "price", min: 1.01, step: 0.01, placeholder: "decimal odds", "aria-label": "Fixed price" }),
            h("button", { type: "button", "data-action": "price" }, "Fix price")))));
    return h("div", { class: "market", "data-event-id": eventId, "data-market-id": market.data.id },
      h("div", { class: "market-head" },
        h("span", { class: "market-name" }, marketLabel(market.data)),
        market.margin,
        h("span", { class: "suspended-badge" }, "suspended"),
        controls),
      h("table", { class: "outcomes" }, market.tbody),
      h("p", { class: "flash", role: "status" }));
  }

  function upsertOutcome(market, o) {
    const index = market.data.outcomes.findIndex((x) => x.id === o.id);
    if (index >= 0) market.data.outcomes[index] = o;
    else market.data.outcomes.push(o);
    let row = market.rows.get(o.id);
    if (!row) {
      row = { name: h("th", { scope: "row" }), price: h("td", { class: "price" }), sources: h("td", { class: "sources" }), flags: h("td", { class: "flags" }) };
      row.tr = h("tr", { "data-outcome-id": o.id }, row.name, row.price, row.sources, row.flags);
      market.rows.set(o.id, row);
      market.tbody.append(row.tr);
      market.outcomeSelect.append(row.option = h("option", { value: o.id }));
    }
    row.name.textContent = o.name || o.id;
    row.option.textContent = o.name || o.id;
    setPrice(row.price, o.odds ? o.odds.decimal : null);
    row.price.title = [
      o.implied_probability !== undefined ? "implied " + (o.implied_probability * 100).toFixed(1) + "%" : "",
      o.confidence !== undefined ? "confidence " + o.confidence : "",
      o.source_count !== undefined ? o.source_count + " source(s) in the consensus" : "",
    ].filter(Boolean).join(" · ");
    const flags = new Set(o.flags || []);
    row.sources.replaceChildren(...Object.keys(o.sources || {}).sort().map((name) => h("span", {
      class: "src" + (flags.has("outlier:" + name) ? " outlier" : flags.has("stale:" + name) ? " stale" : ""),
      title: flags.has("outlier:" + name) ? "excluded: outlier" : flags.has("stale:" + name) ? "excluded: stale" : "",
    }, h("span", { class: "src-name" }, name), " " + price(o.sources[name]))));
    // Per-source flags (outlier:<source>, stale:<source>) grouped by kind, to stay on one line.
    const kinds = new Map();
    for (const f of flags) {
      const [kind, ...rest] = f.split(":");
      const name = ["outlier", "stale"].includes(kind) && rest.length ? kind : f;
      if (!kinds.has(name)) kinds.set(name, []);
      if (name !== f) kinds.get(name).push(rest.join(":"));
    }
    row.flags.replaceChildren(...[...kinds].map(([name, sources]) => h("span", {
      class: "flag flag-" + cssToken(name.split(":")[0]), title: sources.length ? "sources: " + sources.join(", ") : null,
    }, sources.length ? name + ": " + sources.join(", ") : name)));
  }

  function setPrice(cell, value) {
    const before = Number(cell.dataset.decimal);
    cell.textContent = price(value);
    cell.dataset.decimal = value;
    if (before && value && before !== value) {
      cell.classList.remove("up", "down");
      void cell.offsetWidth; // restart the highlight when the price moves again before it faded
      cell.classList.add(value > before ? "up" : "down");
    }
  }

  function applyFilter(entry) {
    const query = $("#filter").value.trim().toLowerCase();
    const d = entry.data;
    const text = [d.home_team, d.away_team, d.league, d.sport, d.id].join(" ").toLowerCase();
    entry.el.hidden = Boolean((query && !text.includes(query)) || ($("#live-only").checked && d.status !== "live"));
  }

  function updateCount() {
    const all = [...state.events.values()];
    $("#event-count").textContent = all.filter((e) => !e.el.hidden).length + " of " + all.length + " events";
  }

  function afterEventsChanged() {
    updateCount();
    const all = [...state.events.values()];
    const select = $("#stop-scope");
    const current = select.value;
    const sports = [...new Set(all.map((e) => e.data.sport))].sort();
    const events = all.map((e) => e.data).sort((a, b) => teams(a).localeCompare(teams(b)));
    select.replaceChildren(
      h("optgroup", { label: "Every market of a sport" }, sports.map((s) => h("option", { value: "sport:" + s }, s))),
      h("optgroup", { label: "Every market of an event" }, events.map((d) => h("option", { value: "event:" + d.id }, teams(d)))));
    if (current) select.value = current;
  }

  // Reconciles with REST now and then: events that appeared (maybe in a new sport), ended, or
  // moved on while the socket was down.
  async function discover() {
    let events;
    try {
      events = await loadAllEvents();
    } catch (err) {
      if (err.status === 401) logout("Signed out: " + err.message);
      return;
    }
    state.skipped.clear();
    const seen = new Set(events.map((d) => d.id));
    for (const d of events) {
      const entry = state.events.get(d.id);
      if (!entry) addEvent(d);
      else if (d.seq > entry.data.seq) patchEvent(entry, d);
    }
    for (const id of [...state.events.keys()]) if (!seen.has(id)) removeEvent(id);
    afterEventsChanged();
    subscribeOdds();
  }

  async function refreshEvent(id) {
    try {
      const { data } = await api("/api/v2/events/" + encodeURIComponent(id));
      const entry = state.events.get(id);
      if (entry && data.seq > entry.data.seq) patchEvent(entry, data);
    } catch (err) {
      if (err.status === 401) logout("Signed out: " + err.message);
    }
  }

  // -- the live stream ---------------------------------------------------------------------------

  function setStatus(text) {
    const node = $("#ws-status");
    node.textContent = text;
    node.dataset.state = text;
  }

  const send = (message) => state.ws && state.ws.readyState === WebSocket.OPEN && state.ws.send(JSON.stringify(message));

  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    state.ws = ws;
    state.authed = false;
    state.lastFrame = Date.now(); // the silence watchdog counts from here until the first frame
    state.sports.clear();
    ws.onopen = () => {
      state.lastFrame = Date.now();
      send({ action: "auth", token: state.token });
    };
    ws.onmessage = (frame) => {
      if (ws !== state.ws) return;
      state.lastFrame = Date.now();
      let message;
      try { message = JSON.parse(frame.data); } catch (err) { return; }
      onMessage(message);
    };
    ws.onclose = (event) => {
      if (ws !== state.ws) return; // replaced, or closed by logout
      state.ws = null;
      if (event.code === 4401 || event.code === 4403 || event.code === 4498) logout("Signed out: " + (event.reason || "the gateway refused this token"));
      else reconnectLater();
    };
  }

  function reconnectLater() {
    setStatus("reconnecting");
    // Exponential backoff with jitter, so restarted gateways are not hit by every dashboard at once.
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** state.attempts) * (0.5 + Math.random() / 2);
    state.attempts += 1;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function onMessage(message) {
    switch (message.event) {
      case "authenticated":
        state.authed = true;
        subscribeOdds();
        // Its own message: a refusal of `alerts` must not take the odds channels with it.
        if (state.canControl) send({ action: "subscribe", channels: ["alerts"] });
        else if (!state.events.size) setStatus("live");
        break;
      case "subscribed":
        state.attempts = 0;
        setStatus("live");
        break;
      case "snapshot":
        applySnapshot(message);
        break;
      case "odds.updated":
      case "event.updated":
        applyDelta(message);
        break;
      case "alert":
        addAlert(message);
        break;
      case "error":
        $("#ws-status").title = (message.error && message.error.message) || "";
        // A refused subscription is asked for again at the next discovery.
        if ($("#ws-status").dataset.state !== "live") state.sports.clear();
        break;
      default: // heartbeat, pong: lastFrame is all they are for
    }
  }

  // Subscribes to every sport on screen not yet asked for, resuming each event from its seq: the
  // server sends exactly what came after it, or a fresh snapshot when that is too old.
  function subscribeOdds() {
    if (!state.authed) return;
    const fresh = [...new Set([...state.events.values()].map((e) => e.data.sport))].filter((s) => !state.sports.has(s));
    if (!fresh.length) return;
    const since = {};
    for (const [id, entry] of state.events) if (fresh.includes(entry.data.sport)) since[id] = entry.data.seq || 0;
    fresh.forEach((s) => state.sports.add(s));
    send({ action: "subscribe", channels: fresh.map((s) => "odds." + s), since });
  }

  function applySnapshot(message) {
    if (!message.data) return removeEvent(message.event_id);
    const entry = state.events.get(message.event_id);
    if (!entry) addEvent(message.data);
    // A reset follows no earlier seq: it replaces what we have.
    else if (message.reset || message.seq > entry.data.seq) patchEvent(entry, { ...message.data, seq: message.seq });
    afterEventsChanged();
  }

  function applyDelta(message) {
    const entry = state.events.get(message.event_id);
    if (!entry) return fetchUnknown(message);
    if (message.seq <= entry.data.seq) return; // already applied (a resume overlaps what REST gave)
    entry.data.seq = message.seq;
    const statusBefore = entry.data.status;
    if (message.fixture) Object.assign(entry.data, message.fixture);
    if (message.status) entry.data.status = message.status;
    if (message.state) entry.data.state = message.state;
    if (message.event === "odds.updated" && message.market_id) {
      upsertMarket(entry, {
        id: message.market_id, type: message.market_type, line: message.line,
        suspended: message.suspended, margin: message.margin, outcomes: message.outcomes,
      });
    }
    if (message.fixture || message.status || message.state) {
      renderEventHead(entry);
      if (statusBefore !== entry.data.status) { placeEvent(entry); applyFilter(entry); updateCount(); }
    }
  }

  // A delta for an event not on screen: take the whole event over REST, holding its deltas meanwhile.
  function fetchUnknown(message) {
    const id = message.event_id;
    if (state.skipped.has(id)) return;
    if (state.pending.has(id)) return void state.pending.get(id).push(message);
    state.pending.set(id, [message]);
    api("/api/v2/events/" + encodeURIComponent(id))
      .then(({ data }) => {
        if (!state.events.has(id)) addEvent(data);
        const held = state.pending.get(id) || [];
        state.pending.delete(id);
        held.forEach(applyDelta);
        afterEventsChanged();
      })
      .catch((err) => {
        if (err.code === "STALE") return;
        state.pending.delete(id);
        state.skipped.add(id);
      });
  }

  // -- control -----------------------------------------------------------------------------------

  const level = (s) => (s.outcome_id ? 4 : s.market_id ? 3 : s.event_id ? 2 : s.league ? 1.5 : 1);
  const sameScope = (a, b) => SCOPE_KEYS.every((k) => (a[k] || null) === (b[k] || null));

  // Whether override scope `s` reaches target scope `t` (of an event in `info`) from as high or higher.
  function covers(s, t, info) {
    if (s.outcome_id || level(s) > level(t)) return false;
    if (s.sport && s.sport !== info.sport) return false;
    if (s.league && s.league !== info.league) return false;
    if (s.event_id && s.event_id !== t.event_id) return false;
    return !s.market_id || s.market_id === t.market_id;
  }

  // Resuming undoes the suspension at this exact scope when there is one: rollback puts back what it
  // replaced, where a standing `resume` would keep this scope open through a later, wider bet stop.
  // Inside a wider suspension, a `resume` at this scope is what the API offers (most specific wins).
  async function resume(scope, reason, info) {
    const active = (await api("/api/v2/overrides?active=true&limit=500")).data;
    const statuses = active.filter((o) => o.action === "suspend" || o.action === "resume");
    const exact = statuses.find((o) => o.action === "suspend" && sameScope(o.scope, scope));
    if (exact) {
      await rollbackOverride(exact.id, reason);
      return "Resumed: suspension " + shortId(exact.id) + " rolled back";
    }
    const winner = statuses.filter((o) => covers(o.scope, scope, info)).sort((a, b) => level(b.scope) - level(a.scope))[0];
    if (winner && winner.action === "suspend") {
      const record = await createOverride({ scope, action: "resume", reason });
      return "Resumed here inside a wider suspension (override " + shortId(record.id) + ")";
    }
    throw new Error("No override suspends this. A market the feed suspended (no fresh price, event closed) resumes with its next fresh quote.");
  }

  async function onMarketAction(button) {
    const marketEl = button.closest(".market");
    const eventId = marketEl.dataset.eventId;
    const entry = state.events.get(eventId);
    const out = $(".flash", marketEl);
    const reason = $('input[data-role="reason"]', marketEl).value.trim();
    const scope = { event_id: eventId, market_id: marketEl.dataset.marketId };
    const action = button.dataset.action;
    button.disabled = true;
    try {
      if (!reason) throw new Error("A reason is required: it goes into the audit log.");
      let done;
      if (action === "resume") {
        done = await resume(scope, reason, entry ? entry.data : {});
      } else if (action === "suspend") {
        done = "Suspended (override " + shortId((await createOverride({ scope, action, reason })).id) + ")";
      } else {
        const raw = $('input[data-role="' + action + '"]', marketEl).value.trim();
        const value = raw === "" ? null : Number(raw);
        const target = action === "price" ? { ...scope, outcome_id: $('select[data-role="outcome"]', marketEl).value } : scope;
        const record = await createOverride({ scope: target, action, value, reason });
        done = (action === "price" ? "Price of " + target.outcome_id + " fixed at " + price(record.value) : "Margin set to " + record.value + "%") +
          " (override " + shortId(record.id) + ")";
      }
      flash(out, true, done);
      refreshEvent(eventId);
      guarded(refreshOverrides, $("#overrides"));
    } catch (err) {
      flash(out, false, err.message);
      if (err.status === 401) logout("Signed out: " + err.message);
    } finally {
      button.disabled = false;
    }
  }

  async function onBetStop(action, button) {
    const out = $("#betstop-flash");
    const [kind, id] = ($("#stop-scope").value || ":").split(/:(.*)/s);
    const reason = $("#stop-reason").value.trim();
    const entry = kind === "event" ? state.events.get(id) : null;
    const scope = kind === "event" ? { event_id: id } : { sport: id };
    button.disabled = true;
    try {
      if (!id) throw new Error("Choose a sport or an event.");
      if (!reason) throw new Error("A reason is required: it goes into the audit log.");
      const done = action === "suspend"
        ? "Suspended " + (entry ? teams(entry.data) : id) + " (override " + shortId((await createOverride({ scope, action, reason })).id) + ")"
        : await resume(scope, reason, entry ? entry.data : { sport: id });
      flash(out, true, done);
      if (entry) refreshEvent(id);
      guarded(refreshOverrides, $("#overrides"));
    } catch (err) {
      flash(out, false, err.message);
      if (err.status === 401) logout("Signed out: " + err.message);
    } finally {
      button.disabled = false;
    }
  }

  // -- overrides ---------------------------------------------------------------------------------

  function describeScope(scope) {
    const entry = scope.event_id ? state.events.get(scope.event_id) : null;
    return [
      scope.league || scope.sport,
      scope.event_id ? (entry ? teams(entry.data) : scope.event_id) : null,
      scope.market_id,
      scope.outcome_id,
    ].filter(Boolean).join(" · ");
  }

  function describeAction(o) {
    if (o.action === "margin") return "margin " + o.value + "%";
    if (o.action === "price") return "price " + price(o.value);
    if (o.action === "rollback") return "rollback of " + shortId(o.target_id);
    return o.action;
  }

  async function refreshOverrides() {
    const [active, recent] = await Promise.all([api("/api/v2/overrides?active=true&limit=200"), api("/api/v2/overrides?limit=25")]);
    const signature = JSON.stringify([active.data, recent.data]);
    if (signature === state.signatures.overrides) return;
    state.signatures.overrides = signature;
    const inForce = active.data.map((o) => h("li", { class: "override" },
      h("div", null, h("b", { class: "action action-" + cssToken(o.action) }, describeAction(o)), " ", describeScope(o.scope)),
      h("div", { class: "muted" }, "“" + o.reason + "” · " + o.actor + " · ", ago(Date.parse(o.created_at))),
      h("button", { type: "button", "data-rollback": o.id }, "Roll back")));
    const history = recent.data.map((o) => h("li", { class: o.active ? "in-force" : "" },
      ago(Date.parse(o.created_at)), " ",
      h("b", null, describeAction(o)), " ", describeScope(o.scope), " · ", o.actor, " · “", o.reason, "”",
      o.active ? h("span", { class: "tag" }, "in force") : o.action !== "rollback" ? h("span", { class: "tag ended" }, "ended") : null));
    $("#overrides").replaceChildren(
      h("h3", null, "In force (" + active.pagination.total + ")"),
      inForce.length ? h("ul", { class: "override-list" }, inForce) : h("p", { class: "muted" }, "No override in force."),
      h("h3", null, "History"),
      history.length ? h("ol", { class: "history" }, history) : h("p", { class: "muted" }, "Nothing yet."));
  }

  async function onRollback(button) {
    const id = button.dataset.rollback;
    const out = $("#overrides-flash");
    button.disabled = true;
    try {
      // Without a reason the API records "rollback".
      const record = await rollbackOverride(id, $("#rollback-reason").value.trim());
      flash(out, true, "Rolled back " + shortId(id) + " (" + describeScope(record.scope) + ")");
      $("#rollback-reason").value = "";
      if (record.scope && record.scope.event_id) refreshEvent(record.scope.event_id);
    } catch (err) {
      flash(out, false, err.message);
      if (err.status === 401) return logout("Signed out: " + err.message);
    } finally {
      button.disabled = false;
    }
    guarded(refreshOverrides, $("#overrides"));
  }

  // -- alerts, exposure, sources -----------------------------------------------------------------

  async function loadAlerts() {
    (await api("/api/v2/alerts?limit=30")).data.forEach(addAlert);
  }

  function addAlert(alert) {
    const list = $("#alerts");
    if (!alert.id || list.querySelector('[data-alert="' + CSS.escape(alert.id) + '"]')) return;
    const at = Date.parse(alert.raised_at) || Date.now();
    const entry = alert.event_id ? state.events.get(alert.event_id) : null;
    const item = h("li", { class: "alert kind-" + cssToken(alert.kind || "alert"), "data-alert": alert.id, "data-at": at },
      h("div", { class: "alert-head" }, h("span", { class: "tag" }, alert.kind || "alert"), h("b", null, alert.rule || ""), ago(at)),
      h("div", { class: "alert-message" }, alert.message || ""),
      h("div", { class: "muted" }, [entry ? teams(entry.data) : alert.event_id, alert.market_id, alert.outcome_id, alert.source].filter(Boolean).join(" · ")));
    // Newest first, whether it came live or from the stored list.
    let before = list.firstElementChild;
    while (before && Number(before.dataset.at) > at) before = before.nextElementSibling;
    list.insertBefore(item, before);
    while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
  }

  async function refreshExposure() {
    const rows = (await api("/api/v2/exposure")).data;
    const signature = JSON.stringify(rows);
    if (signature === state.signatures.exposure) return;
    state.signatures.exposure = signature;
    if (!rows.length) return $("#exposure").replaceChildren(h("p", { class: "muted" }, "No open bets."));
    const markets = new Map();
    for (const r of rows) {
      const key = r.event_id + "\u0000" + r.market_id;
      if (!markets.has(key)) markets.set(key, { event_id: r.event_id, market_id: r.market_id, rows: [], worst: 0 });
      const group = markets.get(key);
      group.rows.push(r);
      group.worst = Math.max(group.worst, Number(r.liability));
    }
    // The biggest liability first: that is what a trader acts on.
    const groups = [...markets.values()].sort((a, b) => b.worst - a.worst);
    $("#exposure").replaceChildren(h("table", { class: "grid" },
      h("thead", null, h("tr", null, h("th", null, "Outcome"), h("th", { class: "num" }, "Bets"), h("th", { class: "num" }, "Stakes"), h("th", { class: "num" }, "Liability"))),
      groups.map((g) => h("tbody", null,
        h("tr", { class: "group" }, h("th", { colspan: 4 }, describeScope({ event_id: g.event_id, market_id: g.market_id }))),
        g.rows.map((r) => h("tr", null, h("td", null, r.outcome_id), h("td", { class: "num" }, r.bets),
          h("td", { class: "num" }, r.stakes), h("td", { class: "num" }, r.liability)))))));
  }

  async function pollSources() {
    const rows = (await api("/api/v2/sources")).data;
    const now = performance.now();
    const body = rows.map((s) => {
      // Rates come from our own clock between two polls; the gateway only keeps a running count.
      const previous = state.sourcesSeen.get(s.source);
      const rate = previous ? (s.updates - previous.updates) / ((now - previous.at) / 1000) : null;
      state.sourcesSeen.set(s.source, { updates: s.updates, at: now });
      // The server's own silence measure, so a skewed browser clock cannot distort it.
      const last = Date.now() - (s.silent_seconds || 0) * 1000;
      return h("tr", { class: s.up ? "up" : "down" },
        h("td", null, s.source),
        h("td", null, h("span", { class: "badge " + (s.up ? "badge-up" : "badge-down") }, s.up ? "up" : "down")),
        h("td", null, ago(last)),
        h("td", { class: "num" }, rate === null ? "…" : Math.max(0, rate).toFixed(1)),
        h("td", { class: "num" }, s.accuracy_weight));
    });
    $("#sources").replaceChildren(rows.length
      ? h("table", { class: "grid" },
        h("thead", null, h("tr", null, h("th", null, "Source"), h("th", null, "State"), h("th", null, "Last update"), h("th", { class: "num" }, "Upd/s"), h("th", { class: "num" }, "Weight"))),
        h("tbody", null, body))
      : h("p", { class: "muted" }, "No source has reported yet."));
  }

  function tick() {
    document.querySelectorAll("#app time[data-ts]").forEach((node) => { node.textContent = relative(Number(node.dataset.ts)); });
    if (state.ws && state.lastFrame && Date.now() - state.lastFrame > SILENCE_MS) {
      const dead = state.ws;
      state.ws = null;
      dead.close();
      reconnectLater();
    }
  }

  // -- wiring ------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("#login-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = $("#token").value.trim();
      if (!token) return;
      $("#login").disabled = true;
      try { await start(token); } finally { $("#login").disabled = false; }
    });
    $("#logout").addEventListener("click", () => logout(""));
    $("#events").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) onMarketAction(button);
    });
    $("#overrides").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-rollback]");
      if (button) onRollback(button);
    });
    $("#betstop").addEventListener("submit", (event) => {
      event.preventDefault();
      const button = event.submitter || $('#betstop button[data-stop="suspend"]');
      onBetStop(button.dataset.stop, button);
    });
    const refilter = () => { state.events.forEach(applyFilter); updateCount(); };
    $("#filter").addEventListener("input", refilter);
    $("#live-only").addEventListener("change", refilter);

    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) start(saved);
    else showLogin("");
  });
})();
