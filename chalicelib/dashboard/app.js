/* cronhook dashboard: plain JavaScript, no build step, no third-party code.
 *
 * It talks only to this service's own API, through api(): every call is written as
 * api(method, "/route/{param}", {...}) with the route exactly as the API declares it (a test
 * checks each one against the app's routes). The credential (a pasted API key, or the session
 * token a sign-in with a user name gave) lives in sessionStorage, never in an address. Data from
 * the API is put on the page with textContent only, never parsed as HTML.
 */
(function () {
  "use strict";

  // ---- constants ------------------------------------------------------------------------------

  const KEY_STORAGE = "cronhook.apiKey"; // the bearer credential: a key or a session token
  const USER_STORAGE = "cronhook.username"; // set only while a user's session is the credential
  const KEY_FORMAT = /^chk_([0-9a-f]{12})_[0-9A-Za-z]{43}$/;
  const SESSION_PREFIX = "chs_";
  const METHODS = ["GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "PATCH"];
  const STATUS_TEXT = {
    0: "Not run yet",
    1: "OK",
    2: "Failed (DNS error)",
    3: "Failed (could not connect)",
    4: "Failed (HTTP error)",
    5: "Failed (timeout)",
    6: "Failed (too much data)",
    7: "Failed (invalid URL)",
    8: "Failed (internal error)",
    9: "Failed (unknown reason)",
  };
  const FINAL_STATES = ["done", "lost", "skipped", "cancelled", "aborted"];
  const IN_FLIGHT = ["queued", "running", "waiting"]; // what an abort can still reach
  const ABORT_WAIT_MS = 30 * 1000; // how long the page follows an aborted run to its end
  const HISTORY_PAGE = 25;
  const CHART_RUNS = 100;
  const PREVIEW_DELAY_MS = 350;
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  // The cron-job.org list fields, in cron's field order, with their ranges.
  const LIST_FIELDS = [
    { key: "minutes", lo: 0, hi: 59, every: "Every minute", label: (v) => String(v).padStart(2, "0") },
    { key: "hours", lo: 0, hi: 23, every: "Every hour", label: (v) => String(v).padStart(2, "0") },
    { key: "mdays", lo: 1, hi: 31, every: "Every day of the month", label: (v) => String(v) },
    { key: "months", lo: 1, hi: 12, every: "Every month", label: (v) => MONTHS[v - 1] },
    { key: "wdays", lo: 0, hi: 6, every: "Every weekday", label: (v) => WEEKDAYS[v] },
  ];
  const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
  const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
  const CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
  };
  // Timing figures are libcurl's: microseconds from the start of the call, each including the
  // ones before, so a bar's segments are the differences between consecutive figures.
  const PHASES = [
    { key: "nameLookup", label: "DNS lookup", cls: "seg-dns" },
    { key: "connect", label: "Connect", cls: "seg-connect" },
    { key: "appConnect", label: "TLS handshake", cls: "seg-tls" },
    { key: "preTransfer", label: "Request sent", cls: "seg-send" },
    { key: "startTransfer", label: "First byte", cls: "seg-wait" },
    { key: "total", label: "Download (total)", cls: "seg-receive" },
  ];

  // The API's base: the directory above this script (`<base>/assets/app.js`), so the page works
  // under API Gateway's stage prefix (`/api/`) as well as at the root.
  const BASE = new URL("../", document.currentScript.src);

  // ---- small helpers --------------------------------------------------------------------------

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  /** An element with attributes/properties and children (strings become text nodes). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name in el && typeof value !== "string") el[name] = value;
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") el.textContent = value;
      else el.setAttribute(name, String(value));
    }
    for (const child of children.flat()) if (child) el.append(child);
    return el;
  }

  // Every time shown says its zone: the browser's ("CET", "GMT+1") unless it is a job's.
  const LONG = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" };
  const SHORT = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  const dateTime = new Intl.DateTimeFormat(undefined, LONG);
  const shortDate = new Intl.DateTimeFormat(undefined, SHORT);
  const zoneFormats = new Map();

  /** A job's times in the job's own zone (its schedule's), labelled with that zone. */
  function zoneFormat(zone, long) {
    const key = (long ? "long " : "short ") + zone;
    if (!zoneFormats.has(key)) {
      let format;
      try {
        format = new Intl.DateTimeFormat(undefined, { ...(long ? LONG : SHORT), timeZone: zone || "UTC" });
      } catch (err) {
        format = long ? dateTime : shortDate; // a zone this browser does not know
      }
      zoneFormats.set(key, format);
    }
    return zoneFormats.get(key);
  }

  function fmtTime(epoch, format) {
    return epoch ? (format || dateTime).format(new Date(epoch * 1000)) : "–";
  }

  function timeCell(epoch, label, format, zone) {
    const td = h("td", { "data-label": label, class: "time", text: fmtTime(epoch, format) });
    if (epoch) td.title = new Date(epoch * 1000).toISOString() + (zone ? ` (shown in ${zone})` : "");
    return td;
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "–";
    return ms >= 10000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms) + " ms";
  }

  function debounce(fn, delay) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), delay);
    };
  }

  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- the API --------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, error) {
      super((error && error.message) || "request failed");
      this.status = status;
      this.code = (error && error.code) || "";
      this.field = (error && error.field) || null;
    }
  }

  /** A mistake found before calling the API, reported like the API's own field errors. */
  class LocalError extends ApiError {
    constructor(field, message) {
      super(400, { code: "invalid_field", field, message });
    }
  }

  let apiKey = sessionStorage.getItem(KEY_STORAGE);
  let userName = sessionStorage.getItem(USER_STORAGE);

  /** Whether this tab acts through a user's session (which the API can end) or an API key. */
  function isSession() {
    return Boolean(apiKey) && apiKey.startsWith(SESSION_PREFIX);
  }

  /** Call the API: `route` as the API declares it, `{param}`s filled from opts.params. */
  /** Requests sent and not answered yet: signing out waits for them, so that none reaches
   * the API after the session it carries has ended (a 401 for the page's own call). */
  const inFlight = new Set();

  async function api(method, route, opts) {
    const options = opts || {};
    const path = route.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(String(options.params[name])));
    const url = new URL(path.slice(1), BASE);
    for (const [name, value] of Object.entries(options.query || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, String(value));
    }
    const headers = { Accept: "application/json" };
    const credential = options.anonymous ? null : options.key || apiKey;
    if (credential) headers.Authorization = "Bearer " + credential;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response;
    const sent = fetch(url, init);
    inFlight.add(sent);
    try {
      response = await sent;
    } catch (err) {
      throw new ApiError(0, { code: "network", message: "cannot reach the API: " + err.message });
    } finally {
      inFlight.delete(sent);
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (err) {
        data = null;
      }
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data && data.error ? data.error : { message: response.statusText });
      if (response.status === 401 && !options.key && !options.anonymous && apiKey) {
        signOut(isSession()
          ? "Your session has ended (it expired, was signed out, or your password or user changed). Sign in again."
          : "The API refused this key (unknown or revoked). Sign in again.");
      }
      if (response.status === 403 && isSession() && !options.key) {
        // A user's session acts with the user's scopes.
        error.message = error.message.replace(/^this user lacks/, "Your user lacks");
      }
      if (response.status === 429) {
        error.message = "Too many requests: wait a moment and try again.";
        const seconds = Number(response.headers.get("Retry-After"));
        error.retryAfter = Number.isFinite(seconds) && seconds > 0 ? seconds : null;
        describeBackOff(error.retryAfter); // the key is at its limit: background requests wait
      }
      throw error;
    }
    return data;
  }

  // ---- messages and field errors ---------------------------------------------------------------

  function flash(message, isError) {
    const box = $("#flash");
    box.textContent = message;
    box.classList.toggle("error", Boolean(isError));
    box.hidden = !message;
  }

  let pendingFlash = null;

  /** A message for the page the next navigation shows (route() shows it, then forgets it). */
  function flashNext(message, isError) {
    pendingFlash = { message, isError };
  }

  /** A form's submit handler: never let the browser submit (the key must not reach a URL). */
  function onSubmit(form, fn) {
    const run = guard(fn);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run();
    });
  }

  /** Run an async handler; API errors become a message, anything else is a bug and is logged. */
  function guard(fn) {
    return (...args) => {
      Promise.resolve()
        .then(() => fn(...args))
        .catch((err) => {
          if (err instanceof ApiError) {
            if (err.status !== 401) flash(err.message, true);
          } else {
            flash("Something went wrong: " + err.message, true);
            console.error(err);
          }
        });
    };
  }

  function errorSlot(input) {
    const id = (input.id || "field") + "-error";
    let slot = document.getElementById(id);
    if (!slot) {
      slot = h("p", { class: "field-error", id });
      const container = input.closest(".field") || input.parentElement;
      container.append(slot);
      const described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      if (!described.includes(id)) input.setAttribute("aria-describedby", [...described, id].join(" "));
    }
    return slot;
  }

  function clearErrors(root) {
    for (const el of $$("[aria-invalid]", root)) el.removeAttribute("aria-invalid");
    for (const el of $$(".field-error", root)) el.textContent = "";
    for (const el of $$(".form-error", root)) {
      el.textContent = "";
      el.hidden = true;
    }
  }

  /** The visible element of `root` for an API field name, trying its parents ("a.b.c", "a.b"). */
  function fieldElement(root, field) {
    const parts = String(field || "").split(".");
    while (parts.length) {
      const name = parts.join(".");
      const match = $$("[data-field]", root).find((el) => el.dataset.field === name && !el.closest("[hidden]"));
      if (match) return match;
      parts.pop();
    }
    return null;
  }

  /** Show an API error at the field it names (or at the form's top); focus that field. */
  function showError(root, err, focus) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) return;
    const target = err.field ? fieldElement(root, err.field) : null;
    if (target) {
      target.setAttribute("aria-invalid", "true");
      errorSlot(target).textContent = err.message;
      if (focus !== false) target.focus();
      return;
    }
    const formError = $(".form-error", root);
    const text = err.field ? err.field + ": " + err.message : err.message;
    if (formError) {
      formError.textContent = text;
      formError.hidden = false;
    } else {
      flash(text, true);
    }
  }

  // ---- session ---------------------------------------------------------------------------------

  function signOut(message) {
    apiKey = null;
    userName = null;
    sessionStorage.removeItem(KEY_STORAGE);
    sessionStorage.removeItem(USER_STORAGE);
    cache.jobs = null;
    cache.folders = null;
    $("#runs-list").replaceChildren();
    $("#runs-panel").hidden = true;
    hideSecrets();
    flashNext(message || "Signed out.", Boolean(message));
    if (location.hash && location.hash !== "#/signin") location.hash = "#/signin";
    else route();
  }

  const cache = { jobs: null, folders: null, descriptions: new Map() };

  async function loadJobs() {
    const data = await api("GET", "/jobs");
    cache.jobs = data.jobs;
    return cache.jobs;
  }

  async function loadFolders() {
    const data = await api("GET", "/folders");
    cache.folders = data.folders;
    return cache.folders;
  }

  // ---- routing ----------------------------------------------------------------------------------

  const views = ["signin", "jobs", "monitors", "editor", "history", "account"];

  /** Secrets shown once (a new key, signing secrets) go from the page, not only from sight. */
  function hideSecrets() {
    for (const notice of $$(".notice")) notice.hidden = true;
    for (const input of $$(".notice input")) input.value = "";
  }

  function showView(name) {
    hideSecrets();
    for (const view of views) $("#view-" + view).hidden = view !== name;
    $("#nav").hidden = !apiKey;
    $("#sign-out").hidden = !apiKey;
    $("#who").hidden = !apiKey;
    $("#who").textContent = !apiKey ? "" : isSession() ? "Signed in as " + (userName || "a user") : "Signed in with an API key";
    for (const link of $$("#nav a")) {
      const current = link.dataset.nav === name || (link.dataset.nav === "jobs" && (name === "editor" || name === "history"));
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const heading = $("#view-" + name + " h1");
    heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  function route() {
    const hash = location.hash || "#/jobs";
    if (!hash.startsWith("#/")) return; // an in-page anchor, not a view
    flash(pendingFlash ? pendingFlash.message : "", pendingFlash && pendingFlash.isError);
    pendingFlash = null;
    if (!apiKey) {
      document.title = "Sign in · cronhook";
      showView("signin");
      return;
    }
    let match;
    if (hash === "#/signin") {
      location.replace("#/jobs");
    } else if (hash === "#/account") {
      document.title = "Account · cronhook";
      showView("account");
      guard(showAccount)();
    } else if (hash === "#/monitors") {
      document.title = "Monitors · cronhook";
      showView("monitors");
      guard(showMonitors)();
    } else if (hash === "#/jobs/new") {
      document.title = "New job · cronhook";
      showView("editor");
      guard(openEditor)(null);
    } else if ((match = hash.match(/^#\/jobs\/(\d+)\/edit$/))) {
      document.title = "Edit job · cronhook";
      showView("editor");
      guard(openEditor)(Number(match[1]));
    } else if ((match = hash.match(/^#\/jobs\/(\d+)\/history$/))) {
      document.title = "History · cronhook";
      showView("history");
      guard(openHistory)(Number(match[1]));
    } else {
      document.title = "Jobs · cronhook";
      showView("jobs");
      guard(showJobs)();
    }
  }

  // ---- monitors ---------------------------------------------------------------------------------

  const MONITOR_BADGE = { up: "ok", new: "wait", late: "wait", paused: "wait", down: "fail" };

  async function showMonitors() {
    const status = $("#monitors-status");
    status.textContent = "Loading…";
    const { monitors } = await api("GET", "/monitors");
    const body = $("#monitors-table tbody");
    body.replaceChildren(...monitors.map(monitorRow));
    if (!monitors.length) {
      body.append(h("tr", {}, h("td", { class: "empty", colspan: "7", text: "No monitors yet." })));
    }
    status.textContent = `${monitors.length} monitor${monitors.length === 1 ? "" : "s"}`;
  }

  function monitorRow(monitor) {
    const title = monitor.title || "#" + monitor.monitorId;
    const paused = monitor.status === "paused";
    const toggle = h("button", { type: "button", class: "small", "aria-label": (paused ? "Resume: " : "Pause: ") + title }, paused ? "Resume" : "Pause");
    toggle.addEventListener("click", guard(async () => {
      await api("POST", paused ? "/monitors/{monitorId}/resume" : "/monitors/{monitorId}/pause", { params: { monitorId: monitor.monitorId } });
      flash(`${title}: ${paused ? "resumed" : "paused"}.`);
      await showMonitors();
    }));
    const pings = h("button", { type: "button", class: "small", "aria-label": "Last pings of " + title }, "Pings");
    pings.addEventListener("click", guard(() => showPings(monitor.monitorId, title)));
    const rotate = h("button", { type: "button", class: "small", "aria-label": "New ping URL for " + title }, "New ping URL");
    rotate.addEventListener("click", guard(async () => {
      const { pingUrl } = await api("POST", "/monitors/{monitorId}/ping-url", { params: { monitorId: monitor.monitorId } });
      revealPing(pingUrl);
    }));
    const state = monitor.status + (monitor.started ? ", running" : "");
    return h("tr", {},
      h("th", { scope: "row", "data-label": "Title", text: title }),
      h("td", { "data-label": "Status" }, h("span", { class: "badge " + (MONITOR_BADGE[monitor.status] || "wait"), text: state })),
      timeCell(monitor.lastPing, "Last ping"),
      timeCell(monitor.nextExpected, "Next expected"),
      h("td", { "data-label": "Last duration", class: "num", text: fmtMs(monitor.lastDuration) }),
      h("td", { "data-label": "Pings", class: "num", text: String(monitor.pings) }),
      h("td", { class: "actions-cell" }, h("div", { class: "row-actions" }, toggle, pings, rotate)),
    );
  }

  async function showPings(monitorId, title) {
    const { pings } = await api("GET", "/monitors/{monitorId}/pings", { params: { monitorId }, query: { limit: 20 } });
    $("#monitor-pings-title").textContent = "Last pings of " + title;
    $("#monitor-pings-list").replaceChildren(...pings.map((ping) => h("li", {
      text: `${fmtTime(ping.date)}: ${ping.kind}` + (ping.exitStatus !== null && ping.exitStatus !== undefined ? ` (exit ${ping.exitStatus})` : "") +
        (ping.duration ? `, ${fmtMs(ping.duration)}` : "") + ` from ${ping.remoteAddr || "?"}`,
    })));
    if (!pings.length) $("#monitor-pings-list").append(h("li", { text: "No pings yet." }));
    $("#monitor-pings").hidden = false;
    $("#monitor-pings-title").focus();
  }

  function revealPing(pingUrl) {
    $("#monitor-reveal-value").value = `curl -fsS -m 10 --retry 5 -o /dev/null ${pingUrl}`;
    $("#monitor-reveal").hidden = false;
    $("#monitor-reveal-value").focus();
  }

  async function createMonitor() {
    const form = $("#monitor-form");
    clearErrors(form);
    const monitor = {
      title: $("#monitor-title").value.trim(),
      schedule: { every: Number($("#monitor-every").value) },
      grace: Number($("#monitor-grace").value),
    };
    let created;
    try {
      created = await api("PUT", "/monitors", { body: { monitor } });
    } catch (err) {
      showError(form, err);
      return;
    }
    flash(`Monitor ${monitor.title || "#" + created.monitorId} created.`);
    await showMonitors();
    revealPing(created.pingUrl);
  }

  // ---- sign in ----------------------------------------------------------------------------------

  async function signIn() {
    const form = $("#signin-form");
    clearErrors(form);
    const key = $("#signin-key").value.trim();
    if (!KEY_FORMAT.test(key)) {
      showError(form, new LocalError("key", "That is not a cronhook API key: it reads chk_, 12 hex digits, _ and 43 letters or digits."));
      return;
    }
    try {
      await api("GET", "/jobs", { key });
    } catch (err) {
      if (err.status === 401) err.message = "The API does not know this key, or it was revoked.";
      if (err.status === 403) err.message = "This key may not read jobs: give one with the read scope (or admin).";
      showError(form, new LocalError("key", err.message));
      return;
    }
    $("#signin-key").value = "";
    keepCredential(key, null);
  }

  /** Keep what signs this tab in (a key, or a user's session token and its user name) and show
   * the page the address asks for. */
  function keepCredential(credential, user) {
    apiKey = credential;
    userName = user;
    sessionStorage.setItem(KEY_STORAGE, credential);
    if (user) sessionStorage.setItem(USER_STORAGE, user);
    else sessionStorage.removeItem(USER_STORAGE);
    describeGap = DESCRIBE_GAP_MS;
    describePausedUntil = 0;
    if (!location.hash || location.hash === "#/signin") location.hash = "#/jobs";
    else route();
  }

  /** When to try again after a 429, in words: "in 42 seconds (at 14:03:20)". */
  function retryWhen(seconds) {
    if (!seconds) return "in a minute";
    const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString();
    const span = seconds < 90 ? `${seconds} second${seconds === 1 ? "" : "s"}` : `${Math.ceil(seconds / 60)} minutes`;
    return `in ${span} (at ${at})`;
  }

  /** POST /sessions: the session token of these credentials, or an ApiError whose message is
   * the one to show (the API's own for wrong credentials: it never says which was wrong). */
  async function openSession(username, password) {
    try {
      return await api("POST", "/sessions", { body: { username, password }, anonymous: true });
    } catch (err) {
      if (err.status === 429) err.message = `Too many sign-in attempts. Try again ${retryWhen(err.retryAfter)}.`;
      throw err;
    }
  }

  async function signInUser() {
    const form = $("#signin-user-form");
    clearErrors(form);
    const username = $("#signin-username").value.trim();
    const password = $("#signin-password").value;
    if (!username) {
      showError(form, new LocalError("username", "Enter your user name."));
      return;
    }
    if (!password) {
      showError(form, new LocalError("password", "Enter your password."));
      return;
    }
    let signed;
    const button = $("button[type=submit]", form);
    button.disabled = true; // one sign-in at a time: each is charged to the rate limit
    try {
      signed = await openSession(username, password);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // Wrong credentials (401) and a rate limit (429) are about both fields: the message goes
      // to the form (an alert both fields name), and the password is to be typed again.
      const box = $("#signin-user-error");
      box.textContent = err.status === 400 && err.field ? err.field + ": " + err.message : err.message;
      box.hidden = false;
      $("#signin-password").value = "";
      $("#signin-password").focus();
      return;
    } finally {
      button.disabled = false;
    }
    const scopes = (signed.user && signed.user.scopes) || [];
    if (!scopes.includes("read") && !scopes.includes("admin")) {
      // The dashboard reads before anything else; the unused token is dropped (it expires).
      showError(form, new LocalError("username", "This user may not read jobs: the dashboard needs the read scope (or admin)."));
      return;
    }
    $("#signin-password").value = "";
    keepCredential(signed.token, signed.user.username);
  }

  /** The sign-out button: a session is ended at the API first (so the token dies everywhere),
   * then this tab forgets it; a pasted key is only forgotten (keys are revoked on purpose). */
  async function signOutClicked() {
    let message;
    if (isSession()) {
      const token = apiKey;
      apiKey = null; // nothing more goes out with it while it is being ended
      await Promise.race([Promise.allSettled([...inFlight]), wait(5000)]);
      try {
        await api("DELETE", "/sessions/current", { key: token });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status !== 401) {
          message = `Signed out of this tab, but the API did not end the session (${err.message}): ` +
            "it ends by itself within 24 hours of the sign-in.";
        }
      }
    }
    signOut(message);
  }

  // ---- schedules: descriptions, cron <-> lists --------------------------------------------------

  /** A schedule in words without asking the API (shown until the API's description arrives). */
  function scheduleSummary(schedule) {
    const s = schedule || {};
    const zone = s.timezone && s.timezone !== "UTC" ? " (" + s.timezone + ")" : "";
    if (s.cron) return "cron " + s.cron + zone;
    if (s.at) return "once at " + s.at;
    if (s.timing) return "Cronicle timing " + JSON.stringify(s.timing) + zone;
    if (LIST_FIELDS.every((f) => Array.isArray(s[f.key]) && s[f.key].length === 0) || !LIST_FIELDS.some((f) => s[f.key])) {
      return "On demand only";
    }
    return "cron " + listsToCron(s) + zone;
  }

  const descriptionQueue = [];
  const DESCRIBE_GAP_MS = 100; // at most 10 previews a second: half of a key's default rate
  const DESCRIBE_MAX_GAP_MS = 5000;
  const DESCRIBE_PAUSE_S = 10; // after a 429 that names no Retry-After
  const DESCRIBE_RETRIES = 3; // 429s one pass takes before it leaves the rest to the next one
  let describing = false;
  let describePausedUntil = 0;
  let describeGap = DESCRIBE_GAP_MS; // doubles after each 429: this key's limit is lower

  /** A 429 (from any request of this tab): no description is asked before Retry-After. */
  function describeBackOff(retryAfter) {
    describePausedUntil = Math.max(describePausedUntil, Date.now() + (retryAfter || DESCRIBE_PAUSE_S) * 1000);
  }

  /** The API's description of a schedule, cached; asked one at a time, paced under the key's
   * rate limit so that a long job list never starves the user's own requests. */
  function describeSchedule(schedule) {
    const cacheKey = JSON.stringify(schedule);
    if (!cache.descriptions.has(cacheKey)) {
      const described = new Promise((resolve) => {
        descriptionQueue.push({ schedule, resolve });
        if (!describing) pumpDescriptions();
      });
      cache.descriptions.set(cacheKey, described);
      described.then((text) => {
        if (text === null) cache.descriptions.delete(cacheKey); // try again on the next render
      });
    }
    return cache.descriptions.get(cacheKey);
  }

  async function pumpDescriptions() {
    describing = true;
    let limited = 0;
    while (descriptionQueue.length && apiKey) {
      const pause = describePausedUntil - Date.now();
      if (pause > 0) {
        // Rate-limited: wait out Retry-After (the summaries stay meanwhile), then go on slower.
        await wait(pause);
        continue;
      }
      const item = descriptionQueue[0];
      try {
        const data = await api("POST", "/schedules/preview", { body: { schedule: item.schedule, count: 1 } });
        descriptionQueue.shift();
        item.resolve(data.description);
      } catch (err) {
        if (err.status === 429) {
          describeGap = Math.min(DESCRIBE_MAX_GAP_MS, describeGap * 2);
          limited += 1;
          if (limited <= DESCRIBE_RETRIES) continue; // the same one again, after the pause
        }
        descriptionQueue.shift();
        item.resolve(null);
        if (err.status === 429) break; // still limited: the rest keep their summaries
      }
      await wait(describeGap);
    }
    for (const { resolve } of descriptionQueue.splice(0)) resolve(null);
    describing = false;
  }

  function compress(values) {
    const out = [];
    let i = 0;
    while (i < values.length) {
      let j = i;
      while (j + 1 < values.length && values[j + 1] === values[j] + 1) j += 1;
      if (j - i >= 2) out.push(values[i] + "-" + values[j]);
      else for (let k = i; k <= j; k += 1) out.push(String(values[k]));
      i = j + 1;
    }
    return out.join(",");
  }

  /** cron-job.org lists as the equivalent 5-field cron expression. */
  function listsToCron(lists) {
    return LIST_FIELDS.map((f) => {
      const values = (lists[f.key] || [-1]).filter((v) => v !== -1);
      return values.length ? compress([...values].sort((a, b) => a - b)) : "*";
    }).join(" ");
  }

  function cronValue(text, field) {
    const upper = text.toUpperCase();
    if (field.key === "months" && MONTH_NAMES.includes(upper)) return MONTH_NAMES.indexOf(upper) + 1;
    if (field.key === "wdays" && DAY_NAMES.includes(upper)) return DAY_NAMES.indexOf(upper);
    if (!/^\d+$/.test(text)) return null;
    return Number(text); // a weekday 7 (Sunday) stays 7 here, so that 5-7 is a range
  }

  /** One cron field as a sorted list ([-1] for every), or null if the pickers cannot show it. */
  function cronFieldToList(text, field) {
    if (text === "*") return [-1];
    // Vixie cron's weekdays run 0-7, 0 and 7 both Sunday: 5-7 is Fri, Sat, Sun and 1/2 ends on 7.
    const top = field.key === "wdays" ? 7 : field.hi;
    const values = new Set();
    for (const part of text.split(",")) {
      const m = part.match(/^(\*|[0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?(?:\/(\d+))?$/);
      if (!m) return null;
      let lo;
      let hi;
      if (m[1] === "*") {
        if (m[2]) return null;
        lo = field.lo;
        hi = top;
      } else {
        lo = cronValue(m[1], field);
        hi = m[2] ? cronValue(m[2], field) : m[3] ? top : lo;
      }
      const step = m[3] ? Number(m[3]) : 1;
      if (lo === null || hi === null || step < 1 || lo < field.lo || hi > top || lo > hi) return null;
      for (let v = lo; v <= hi; v += step) values.add(field.key === "wdays" ? v % 7 : v);
    }
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length === field.hi - field.lo + 1 ? [-1] : sorted;
  }

  /** A 5-field cron expression as cron-job.org lists, or null if it has no such form. */
  function cronToLists(text) {
    let source = text.trim();
    if (CRON_MACROS[source.toLowerCase()]) source = CRON_MACROS[source.toLowerCase()];
    const fields = source.split(/\s+/);
    if (fields.length !== 5) return null;
    const lists = {};
    for (let i = 0; i < 5; i += 1) {
      const list = cronFieldToList(fields[i], LIST_FIELDS[i]);
      if (!list) return null;
      lists[LIST_FIELDS[i].key] = list;
    }
    // cron-job.org's lists fire on a day matching both day fields; Vixie cron fires on either
    // when both are restricted (neither starts with "*"), so such an expression stays cron.
    const restricted = (f) => !f.startsWith("*");
    if (restricted(fields[2]) && restricted(fields[4])) return null;
    return lists;
  }

  // ---- time zones ---------------------------------------------------------------------------------

  function zoneParts(epochMs, zone) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "longOffset",
    }).formatToParts(new Date(epochMs));
    const get = (type) => (parts.find((p) => p.type === type) || {}).value;
    const name = get("timeZoneName") || "GMT";
    const m = name.match(/^GMT([+-])(\d{2}):?(\d{2})?$/);
    const offsetMin = m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] || 0)) : 0;
    return {
      wall: `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}:${get("second")}`,
      offsetMin,
    };
  }

  function checkZone(zone) {
    try {
      zoneParts(0, zone);
    } catch (err) {
      throw new LocalError("schedule.timezone", "unknown time zone " + JSON.stringify(zone));
    }
  }

  /** A wall-clock `YYYY-MM-DDTHH:MM[:SS]` in `zone` as ISO 8601 with that zone's offset. */
  function wallToIso(wall, zone, field) {
    const m = wall.match(/^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/);
    if (!m) throw new LocalError(field || "schedule.at", "give a date and a time");
    const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
    let offset = zoneParts(guess, zone).offsetMin;
    offset = zoneParts(guess - offset * 60000, zone).offsetMin;
    const sign = offset < 0 ? "-" : "+";
    const abs = Math.abs(offset);
    const hhmm = String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
    return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] || "00"}${sign}${hhmm}`;
  }

  function fillTimeZones() {
    const list = $("#tz-list");
    let zones = ["UTC"];
    try {
      zones = zones.concat(Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC"));
    } catch (err) {
      zones = ["UTC"];
    }
    list.replaceChildren(...zones.map((z) => h("option", { value: z })));
  }

  // ---- jobs list ----------------------------------------------------------------------------------

  function statusBadge(status, executed) {
    if (!executed && !status) return h("span", { class: "badge", text: STATUS_TEXT[0] });
    return h("span", { class: "badge " + (status === 1 ? "ok" : "fail"), text: STATUS_TEXT[status] || "Status " + status });
  }

  let jobsError = null; // why the last load of the list failed; shown instead of stale rows

  // "Exact title": the API's answer to GET /jobs?title= for `title` (null while it is asked).
  const exactSearch = { title: null, jobs: null, seq: 0 };

  /** Ask the API for the jobs titled exactly as the search box says, then draw them. */
  async function searchExact() {
    const title = $("#jobs-search").value;
    const seq = ++exactSearch.seq;
    exactSearch.title = null;
    exactSearch.jobs = null;
    if (!$("#jobs-exact").checked || !title) {
      renderJobs();
      return;
    }
    renderJobs(); // "Searching…" meanwhile, not the rows of another search
    let jobs;
    try {
      ({ jobs } = await api("GET", "/jobs", { query: { title } }));
    } catch (err) {
      if (seq !== exactSearch.seq) return;
      exactSearch.title = title;
      exactSearch.jobs = [];
      renderJobs();
      if (err instanceof ApiError) $("#jobs-status").textContent = "Could not search: " + err.message;
      throw err;
    }
    if (seq !== exactSearch.seq) return; // typed on meanwhile: a later answer is coming
    exactSearch.title = title;
    exactSearch.jobs = jobs;
    renderJobs();
  }

  const searchExactSoon = debounce(() => guard(searchExact)(), PREVIEW_DELAY_MS);

  async function showJobs() {
    const status = $("#jobs-status");
    status.classList.remove("error-text");
    status.textContent = "Loading…";
    let jobs;
    let folders;
    try {
      [jobs, folders] = await Promise.all([loadJobs(), loadFolders()]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      cache.jobs = null;
      jobsError = "Could not load the jobs: " + err.message;
      renderJobs();
      return null;
    }
    jobsError = null;
    fillFolderFilter(folders);
    if ($("#jobs-exact").checked && $("#jobs-search").value) await searchExact();
    else renderJobs();
    return jobs;
  }

  function fillFolderFilter(folders) {
    const select = $("#jobs-folder");
    const chosen = select.value || "all";
    select.replaceChildren(
      h("option", { value: "all", text: "All folders" }),
      h("option", { value: "0", text: "No folder" }),
      ...folders.map((f) => h("option", { value: String(f.folderId), text: f.title })),
    );
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "all";
  }

  /** Draw the list. Focus on one of its controls stays on the same control of the same job (the
   * rows are rebuilt); `focusKey` names a control that lost focus because it was disabled. */
  function renderJobs(focusKey) {
    const body = $("#jobs-table tbody");
    const status = $("#jobs-status");
    const active = document.activeElement;
    const inTable = active && body.contains(active);
    const lost = !active || active === document.body;
    const wanted = (inTable && active.dataset.focus) || ((inTable || lost) && focusKey) || null;
    status.classList.toggle("error-text", Boolean(jobsError));
    if (jobsError) {
      body.replaceChildren(h("tr", {}, h("td", { class: "empty error-text", colspan: "8", text: jobsError })));
      status.textContent = jobsError;
      return;
    }
    const jobs = cache.jobs || [];
    const folder = $("#jobs-folder").value || "all";
    const inFolder = (job) => folder === "all" || String(job.folderId || 0) === folder;
    const raw = $("#jobs-search").value;
    const search = raw.trim().toLowerCase();
    const exact = $("#jobs-exact").checked && raw !== "";
    let shown;
    if (exact) {
      // The API's answer, each row as fresh as the list's own (a switch flipped since).
      const byId = new Map(jobs.map((job) => [job.jobId, job]));
      const found = exactSearch.title === raw ? exactSearch.jobs : [];
      shown = found.map((job) => byId.get(job.jobId) || job).filter(inFolder);
    } else {
      shown = jobs.filter((job) => inFolder(job) && (!search || (job.title || job.url).toLowerCase().includes(search)));
    }
    body.replaceChildren(...shown.map(jobRow));
    const searching = exact && exactSearch.title !== raw;
    if (!shown.length) {
      const text = searching ? "Searching…" : exact ? "No job has exactly this title."
        : jobs.length ? "No job matches." : "No jobs yet: create one with New job.";
      body.append(h("tr", {}, h("td", { class: "empty", colspan: "8", text })));
    }
    if (searching) status.textContent = `Searching for the title “${raw}”…`;
    else if (exact) status.textContent = `${shown.length} job${shown.length === 1 ? "" : "s"} titled “${raw}”`;
    else {
      status.textContent = jobs.length === shown.length
        ? `${jobs.length} job${jobs.length === 1 ? "" : "s"}`
        : `${shown.length} of ${jobs.length} jobs shown`;
    }
    if (wanted) {
      const target = $$("[data-focus]", body).find((el) => el.dataset.focus === wanted);
      if (target && document.activeElement !== target) target.focus({ preventScroll: true });
    }
  }

  function jobRow(job) {
    const title = job.title || "(untitled)";
    const schedule = h("span", { text: scheduleSummary(job.schedule) });
    describeSchedule(job.schedule).then((text) => {
      if (text) schedule.textContent = text;
    });
    const toggle = h("input", {
      type: "checkbox",
      role: "switch",
      checked: Boolean(job.enabled),
      "aria-label": "Enabled: " + title,
      "data-focus": job.jobId + ":enabled",
    });
    toggle.addEventListener("change", guard(async () => {
      const hadFocus = document.activeElement === toggle;
      toggle.disabled = true; // the browser takes focus away from a disabled control
      try {
        await api("PATCH", "/jobs/{jobId}", { params: { jobId: job.jobId }, body: { job: { enabled: toggle.checked } } });
        job.enabled = toggle.checked;
        flash(`${title}: ${job.enabled ? "enabled" : "disabled"}.`);
        await loadJobs();
        renderJobs(hadFocus ? toggle.dataset.focus : null);
      } catch (err) {
        toggle.checked = !toggle.checked;
        throw err;
      } finally {
        toggle.disabled = false;
        if (hadFocus && toggle.isConnected && document.activeElement === document.body) toggle.focus();
      }
    }));
    const run = h("button", { type: "button", class: "small", "aria-label": "Run now: " + title, "data-focus": job.jobId + ":run" }, "Run now");
    run.addEventListener("click", guard(() => runNow(job.jobId, title, run)));
    return h("tr", {},
      h("td", { "data-label": "Title", class: "title-cell" },
        h("a", { href: `#/jobs/${job.jobId}/history`, text: title, "data-focus": job.jobId + ":title" })),
      h("td", { "data-label": "URL", class: "url-cell mono" }, h("span", { class: "url-text", title: job.url, text: job.url })),
      h("td", { "data-label": "Schedule" }, schedule),
      h("td", { "data-label": "Enabled" }, h("span", { class: "switch" }, toggle)),
      timeCell(job.nextExecution, "Next run", zoneFormat(job.schedule.timezone, false), job.schedule.timezone || "UTC"),
      h("td", { "data-label": "Last status" }, statusBadge(job.lastStatus, job.lastExecution)),
      h("td", { "data-label": "Last duration", class: "num", text: job.lastExecution ? fmtMs(job.lastDuration) : "–" }),
      h("td", { class: "actions-cell" }, h("div", { class: "row-actions" },
        run,
        h("a", { class: "button small", href: `#/jobs/${job.jobId}/edit`, "aria-label": "Edit: " + title, text: "Edit", "data-focus": job.jobId + ":edit" }),
        h("a", { class: "button small", href: `#/jobs/${job.jobId}/history`, "aria-label": "History: " + title, text: "History", "data-focus": job.jobId + ":history" }),
      )),
    );
  }

  async function addFolder() {
    const form = $("#folder-form");
    clearErrors(form);
    const title = $("#folder-title").value.trim();
    try {
      await api("PUT", "/folders", { body: { folder: { title } } });
    } catch (err) {
      showError(form, err.field || err.status === 401 ? err : new LocalError("folder.title", err.message));
      return;
    }
    $("#folder-title").value = "";
    flash(`Folder “${title}” added.`);
    fillFolderFilter(await loadFolders());
  }

  // ---- run now ------------------------------------------------------------------------------------

  async function runNow(jobId, title, button) {
    const hadFocus = Boolean(button) && document.activeElement === button;
    if (button) button.disabled = true; // the browser takes focus away from a disabled button
    try {
      const data = await api("POST", "/jobs/{jobId}/run", { params: { jobId } });
      watchRun(data.runId, jobId, title);
    } finally {
      if (button) button.disabled = false;
      if (hadFocus && button.isConnected && document.activeElement === document.body) button.focus();
    }
  }

  /** The run-now form of the history view: shown or hidden, its button saying which. */
  function toggleRunForm(open) {
    const form = $("#run-form");
    form.hidden = !open;
    $("#history-run-custom").setAttribute("aria-expanded", String(open));
    if (open) {
      clearErrors(form);
      $("#r-url").focus();
    }
  }

  /** The run-now overrides the form gives (only its filled fields), in the API's shape. */
  function readOverrides() {
    const out = {};
    const url = $("#r-url").value.trim();
    if (url) out.url = url;
    if ($("#r-method").value !== "") out.requestMethod = Number($("#r-method").value);
    const timeout = intOr($("#r-timeout").value, null);
    if (timeout !== null) out.requestTimeout = timeout;
    const extended = {};
    const headers = parseHeaders($("#r-headers").value); // LocalError naming extendedData.headers
    if (Object.keys(headers).length) extended.headers = headers;
    if ($("#r-body").value !== "") extended.body = $("#r-body").value;
    if (Object.keys(extended).length) out.extendedData = extended;
    return out;
  }

  async function runWithChanges() {
    const form = $("#run-form");
    const go = $("#run-form-go");
    if (go.disabled) return;
    clearErrors(form);
    const jobId = hist.jobId;
    const title = hist.title;
    go.disabled = true;
    try {
      const overrides = readOverrides();
      const data = await api("POST", "/jobs/{jobId}/run", { params: { jobId }, body: overrides });
      watchRun(data.runId, jobId, title + " (with changes)");
      toggleRunForm(false);
      $("#history-run-custom").focus();
    } catch (err) {
      showError(form, err);
    } finally {
      go.disabled = false;
    }
  }

  // ---- the schedule's cursor ------------------------------------------------------------------

  /** The cursor form: its time starts at now, on the job's clock (the zone the page shows). */
  function toggleCursorForm(open) {
    const form = $("#cursor-form");
    form.hidden = !open;
    $("#history-cursor").setAttribute("aria-expanded", String(open));
    if (!open) return;
    clearErrors(form);
    $("#cursor-at").value = zoneParts(Date.now(), hist.zone).wall;
    $("#cursor-hint").textContent = `In the job's time zone, ${hist.zone}. ` + (hist.catchUp
      ? "The job catches up: the runs due from then to now run (each at most once)."
      : "A time in the past counts from now (the job does not catch up); a later one skips the runs before it.");
    $("#cursor-at").focus();
  }

  async function moveCursor() {
    const form = $("#cursor-form");
    const go = $("#cursor-go");
    if (go.disabled) return;
    clearErrors(form);
    const jobId = hist.jobId;
    const zone = hist.zone;
    go.disabled = true;
    try {
      const wall = $("#cursor-at").value;
      if (!wall) throw new LocalError("at", "give the date and time to count the next run from");
      const { jobDetails } = await api("POST", "/jobs/{jobId}/cursor", { params: { jobId }, body: { at: wallToIso(wall, zone, "at") } });
      flash(jobDetails.nextExecution
        ? "Cursor moved: the next run is at " + fmtTime(jobDetails.nextExecution, zoneFormat(zone, true)) + "."
        : "Cursor moved; the job is disabled, so no run is due.");
      toggleCursorForm(false);
      $("#history-cursor").focus();
      if (hist.jobId === jobId) await loadHistory();
    } catch (err) {
      showError(form, err);
    } finally {
      go.disabled = false;
    }
  }

  function watchRun(runId, jobId, title) {
    const panel = $("#runs-panel");
    const list = $("#runs-list");
    const state = h("span", { class: "badge wait", text: "queued" });
    const detail = h("span", { class: "muted", text: "" });
    let delay = 500;
    const control = abortControl(runId, "the run of " + title, () => {
      detail.textContent = "aborting…";
      delay = 500; // look again soon: the run ends within about a second
    });
    const change = changeControl(runId, "the run of " + title, (form) => item.append(form));
    const item = h("li", { "data-run": runId },
      h("strong", { text: title }), state, detail, control, change,
      h("a", { href: `#/jobs/${jobId}/history`, text: "History" }),
      h("button", { type: "button", class: "small", onclick: () => { item.remove(); panel.hidden = !list.children.length; } }, "Dismiss"),
    );
    list.prepend(item);
    while (list.children.length > 5) list.lastElementChild.remove();
    panel.hidden = false;
    guard(async () => {
      const started = Date.now();
      while (item.isConnected && Date.now() - started < 15 * 60 * 1000) {
        const { run } = await api("GET", "/runs/{runId}", { params: { runId } });
        if (!FINAL_STATES.includes(run.state)) {
          state.textContent = run.state;
          if (detail.textContent !== "aborting…") {
            detail.textContent = run.state === "running" ? "calling " + run.url : "waiting for the worker";
          }
          await wait(delay);
          delay = Math.min(2000, delay * 1.5);
          continue;
        }
        state.textContent = run.state === "done" ? run.statusText : run.state + ": " + run.statusText;
        state.className = "badge " + (run.state === "done" && run.status === 1 ? "ok" : "fail");
        detail.textContent = (run.httpStatus ? "HTTP " + run.httpStatus + " · " : "") + fmtMs(run.duration);
        control.remove();
        change.close();
        change.remove();
        await afterRun(jobId);
        return;
      }
      if (item.isConnected) detail.textContent = "still " + state.textContent + "; see History later";
    })();
  }

  /** An "Abort" button for a run in flight. It asks in place ("Yes, abort" / "Keep running"),
   * then calls the API; `onAborted` follows the run to its end. A run that ended meanwhile is
   * said so (the API's 409), and the button goes. */
  function abortControl(runId, label, onAborted) {
    const box = h("span", { class: "abort-control" });
    const abort = h("button", { type: "button", class: "small danger", "aria-label": "Abort " + label }, "Abort");
    abort.addEventListener("click", () => {
      const confirm = h("button", { type: "button", class: "small danger", "aria-label": "Yes, abort " + label }, "Yes, abort");
      const keep = h("button", { type: "button", class: "small", "aria-label": "Keep running " + label }, "Keep running");
      confirm.addEventListener("click", guard(async () => {
        confirm.disabled = true;
        keep.disabled = true;
        try {
          await api("POST", "/runs/{runId}/abort", { params: { runId } });
        } catch (err) {
          if (err instanceof ApiError && err.status === 409) {
            box.replaceChildren();
            flash("Not aborted: " + err.message + ".", true);
            return;
          }
          box.replaceChildren(abort);
          abort.focus();
          throw err;
        }
        box.replaceChildren(h("span", { class: "muted", text: "abort asked" }));
        flash(`Abort asked for ${label}.`);
        await onAborted();
      }));
      keep.addEventListener("click", () => {
        box.replaceChildren(abort);
        abort.focus();
      });
      box.replaceChildren(confirm, keep);
      confirm.focus();
    });
    box.append(abort);
    return box;
  }

  let changeSeq = 0; // each change form's ids are its own (a run can show in two places)

  /** A "Change…" button for a run in flight: it opens a small form (placed by `mount`) that
   * sends only its filled fields to PATCH /runs/{runId}, for that run only. A 400 is shown at
   * the field it names; a 409 says the run has ended, and the button goes. */
  function changeControl(runId, label, mount) {
    const box = h("span", { class: "change-control" });
    const open = h("button", { type: "button", class: "small", "aria-expanded": "false", "aria-label": "Change " + label }, "Change…");
    const said = h("span", { class: "muted", role: "status" });
    let form = null;
    const close = (focus) => {
      if (form) (form.closest(".run-change-row") || form).remove();
      form = null;
      open.setAttribute("aria-expanded", "false");
      if (focus && open.isConnected) open.focus();
    };
    open.addEventListener("click", guard(async () => {
      if (form) {
        close(true);
        return;
      }
      said.textContent = "";
      form = changeForm(runId, label, {
        cancel: () => close(true),
        changed: (what) => {
          close(true);
          said.textContent = "changed for this run";
          flash(`Changed for this run (${label}): ${what}.`);
        },
        ended: (message) => {
          close(false);
          box.replaceChildren(h("span", { class: "muted", text: "the run has ended" }));
          flash("Not changed: the run has ended (" + message + ").", true);
        },
      });
      open.setAttribute("aria-expanded", "true");
      mount(form);
      $("input", form).focus();
      await fillChainChoices(form);
    }));
    box.append(open, said);
    box.close = () => close(false);
    return box;
  }

  /** The job ids a chain field offers (typing any id works as well). */
  async function fillChainChoices(form) {
    const list = $("datalist", form);
    let jobs = cache.jobs;
    if (!jobs) {
      try {
        jobs = await loadJobs();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        return; // ids can still be typed
      }
    }
    list.replaceChildren(
      h("option", { value: "0", label: "Nothing (no chained job)" }),
      ...jobs.map((job) => h("option", { value: String(job.jobId), label: `${job.title || job.url} (#${job.jobId})` })),
    );
  }

  function changeForm(runId, label, on) {
    const seq = ++changeSeq;
    const id = (name) => `rc${seq}-${name}`;
    const field = (name, text, input) => {
      input.id = id(name);
      return h("div", { class: "field" }, h("label", { for: input.id, text }), input);
    };
    const number = (name, apiField, min, max) => h("input", {
      type: "number", min: String(min), max: String(max), inputmode: "numeric", "data-field": apiField, "data-name": name,
    });
    const chain = (name, apiField) => h("input", {
      type: "text", inputmode: "numeric", list: id("jobs"), autocomplete: "off", "data-field": apiField, "data-name": name,
      placeholder: "job id, 0 for none",
    });
    const yesNo = (name, apiField) => h("select", { "data-field": apiField, "data-name": name },
      h("option", { value: "", text: "Unchanged" }), h("option", { value: "true", text: "Yes" }), h("option", { value: "false", text: "No" }));
    const go = h("button", { type: "submit", class: "small primary" }, "Change this run");
    const cancel = h("button", { type: "button", class: "small" }, "Cancel");
    cancel.addEventListener("click", on.cancel);
    const form = h("form", { class: "run-change", novalidate: true, "aria-label": "Change " + label },
      h("p", { class: "hint", text: "For this run only; an empty field stays as it is." }),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("div", { class: "run-change-fields" },
        field("timeout", "Timeout (seconds, 1–300)", number("timeout", "requestTimeout", 1, 300)),
        field("retries", "Retries (0–10)", number("retries", "retries", 0, 10)),
        field("delay", "Retry delay (seconds, 1–3600)", number("delay", "retryDelay", 1, 3600)),
        field("success", "Chain on success (job id)", chain("success", "chainSuccess")),
        field("failure", "Chain on failure (job id)", chain("failure", "chainFailure")),
        field("notify-success", "Notify on success", yesNo("notify-success", "notification.onSuccess")),
        field("notify-failure", "Notify on failure", yesNo("notify-failure", "notification.onFailure")),
      ),
      h("datalist", { id: id("jobs") }),
      h("div", { class: "row-actions" }, go, cancel),
    );
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") on.cancel();
    });
    onSubmit(form, async () => {
      clearErrors(form);
      go.disabled = true;
      try {
        const change = readRunChange(form);
        await api("PATCH", "/runs/{runId}", { params: { runId }, body: change });
        on.changed(describeRunChange(change));
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) {
          on.ended(err.message);
          return;
        }
        showError(form, err);
      } finally {
        go.disabled = false;
      }
    });
    return form;
  }

  /** The run change the form gives: only its filled fields, in the API's shape. */
  function readRunChange(form) {
    const value = (name) => $(`[data-name="${name}"]`, form).value;
    const change = {};
    for (const [name, key] of [["timeout", "requestTimeout"], ["retries", "retries"], ["delay", "retryDelay"],
      ["success", "chainSuccess"], ["failure", "chainFailure"]]) {
      const read = intOr(value(name), null);
      if (read !== null) change[key] = read;
    }
    const notification = {};
    if (value("notify-success")) notification.onSuccess = value("notify-success") === "true";
    if (value("notify-failure")) notification.onFailure = value("notify-failure") === "true";
    if (Object.keys(notification).length) change.notification = notification;
    if (!Object.keys(change).length) throw new LocalError(null, "Nothing to change: fill in at least one field.");
    return change;
  }

  function describeRunChange(change) {
    const parts = [];
    if ("requestTimeout" in change) parts.push(`timeout ${change.requestTimeout} s`);
    if ("retries" in change) parts.push(`retries ${change.retries}`);
    if ("retryDelay" in change) parts.push(`retry delay ${change.retryDelay} s`);
    if ("chainSuccess" in change) parts.push(change.chainSuccess ? `on success chain #${change.chainSuccess}` : "no chain on success");
    if ("chainFailure" in change) parts.push(change.chainFailure ? `on failure chain #${change.chainFailure}` : "no chain on failure");
    const n = change.notification || {};
    if ("onSuccess" in n) parts.push(n.onSuccess ? "notify on success" : "no notice on success");
    if ("onFailure" in n) parts.push(n.onFailure ? "notify on failure" : "no notice on failure");
    return parts.join(", ");
  }

  /** Follow a run until it ends (or ABORT_WAIT_MS pass); its last state. */
  async function followRun(runId) {
    const started = Date.now();
    for (;;) {
      const { run } = await api("GET", "/runs/{runId}", { params: { runId } });
      if (FINAL_STATES.includes(run.state) || Date.now() - started > ABORT_WAIT_MS) return run;
      await wait(400);
    }
  }

  /** Refresh whatever the page shows about a job once its run has ended. */
  async function afterRun(jobId) {
    if (!$("#view-jobs").hidden) {
      await loadJobs();
      renderJobs();
    } else if (!$("#view-history").hidden && hist.jobId === jobId) {
      await loadHistory();
    }
  }

  // ---- create / edit --------------------------------------------------------------------------------

  // rendered: what the form read back right after it showed the job (a save sends only what
  // differs from it); bodyCrlf: the job's body used CRLF line ends, which a textarea turns to LF.
  const editor = { jobId: null, source: "cron", previewSeq: 0, saving: false, loaded: null, rendered: null, bodyCrlf: false };

  function fillPickers() {
    for (const f of LIST_FIELDS) {
      const select = $("#p-" + f.key);
      const options = [h("option", { value: "-1", text: f.every })];
      for (let v = f.lo; v <= f.hi; v += 1) options.push(h("option", { value: String(v), text: f.label(v) }));
      select.replaceChildren(...options);
      // A list box does not scroll to what is chosen: say it under the list.
      select.after(h("p", { class: "hint", id: select.id + "-chosen", "aria-live": "polite" }));
      select.setAttribute("aria-describedby", select.id + "-chosen");
    }
  }

  function sayPicked(f) {
    const chosen = [...$("#p-" + f.key).selectedOptions].map((o) => o.textContent);
    $("#p-" + f.key + "-chosen").textContent = chosen.join(", ");
  }

  function setPickers(lists) {
    for (const f of LIST_FIELDS) {
      const values = (lists[f.key] && lists[f.key].length ? lists[f.key] : [-1]).map(String);
      const select = $("#p-" + f.key);
      for (const option of select.options) option.selected = values.includes(option.value);
      select.dataset.prev = JSON.stringify(values);
      sayPicked(f);
    }
  }

  function readPickers() {
    const lists = {};
    for (const f of LIST_FIELDS) {
      const values = [...$("#p-" + f.key).selectedOptions].map((o) => Number(o.value)).filter((v) => v !== -1);
      lists[f.key] = values.length ? values : [-1];
    }
    return lists;
  }

  function pickerChanged(event) {
    const select = event.target;
    const previous = JSON.parse(select.dataset.prev || '["-1"]');
    const chosen = [...select.selectedOptions].map((o) => o.value);
    const every = select.options[0];
    if (chosen.includes("-1") && !previous.includes("-1")) {
      // "Every ..." just picked: it replaces the single values.
      for (const option of select.options) option.selected = option === every;
    } else if (chosen.length > 1 && chosen.includes("-1")) {
      every.selected = false;
    } else if (!chosen.length) {
      every.selected = true;
    }
    select.dataset.prev = JSON.stringify([...select.selectedOptions].map((o) => o.value));
    sayPicked(LIST_FIELDS.find((f) => "p-" + f.key === select.id));
    editor.source = "lists";
    $("#f-cron").value = listsToCron(readPickers());
    updatePickerNote(true);
  }

  function cronChanged() {
    editor.source = "cron";
    const lists = cronToLists($("#f-cron").value);
    if (lists) setPickers(lists);
    updatePickerNote(Boolean(lists));
  }

  function updatePickerNote(representable) {
    $(".pickers").classList.toggle("off", !representable);
    $("#pickers-note").textContent = editor.source === "lists"
      ? "Saved as cron-job.org lists (minutes, hours, days, months, weekdays)."
      : representable
        ? "Saved as the cron expression; the pickers show the same times."
        : "Saved as the cron expression; the pickers cannot show it.";
  }

  function showKind() {
    const kind = $("#f-kind").value;
    for (const el of $$("#schedule-fields [data-kinds]")) el.hidden = !el.dataset.kinds.split(" ").includes(kind);
  }

  function expiresToInput(value) {
    const s = String(value || "");
    if (!/^\d{14}$/.test(s)) return "";
    return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(8, 10)}:${s.slice(10, 12)}:${s.slice(12, 14)}`;
  }

  function inputToExpires(value) {
    if (!value) return 0;
    const digits = value.replace(/\D/g, "");
    return Number(digits.length === 12 ? digits + "00" : digits);
  }

  /** The schedule the form describes, in the API's shape; LocalError when it cannot be built. */
  function readSchedule() {
    const kind = $("#f-kind").value;
    const timezone = $("#f-tz").value.trim() || "UTC";
    checkZone(timezone);
    if (kind === "none") {
      return { timezone, minutes: [], hours: [], mdays: [], months: [], wdays: [] };
    }
    if (kind === "at") {
      const wall = $("#f-at").value;
      if (!wall) throw new LocalError("schedule.at", "give the date and time of the run");
      return { timezone, at: wallToIso(wall, timezone) };
    }
    const expiresAt = inputToExpires($("#f-expires").value);
    if (kind === "timing") {
      let timing;
      try {
        timing = JSON.parse($("#f-timing").value || "{}");
      } catch (err) {
        throw new LocalError("schedule.timing", "is not valid JSON: " + err.message);
      }
      return { timezone, expiresAt, timing };
    }
    if (editor.source === "lists") return { timezone, expiresAt, ...readPickers() };
    const cron = $("#f-cron").value.trim();
    if (!cron) throw new LocalError("schedule.cron", "give a cron expression, or pick times below");
    return { timezone, expiresAt, cron };
  }

  function fillSchedule(schedule) {
    const s = schedule || {};
    $("#f-tz").value = s.timezone || "UTC";
    $("#f-expires").value = expiresToInput(s.expiresAt);
    $("#f-at").value = "";
    $("#f-timing").value = "";
    let kind = "recurring";
    if (s.at) {
      kind = "at";
      $("#f-at").value = zoneParts(Date.parse(s.at), s.timezone || "UTC").wall;
    } else if (s.timing) {
      kind = "timing";
      $("#f-timing").value = JSON.stringify(s.timing);
    } else if (s.cron) {
      $("#f-cron").value = s.cron;
      cronChanged();
    } else if (LIST_FIELDS.some((f) => Array.isArray(s[f.key]) && s[f.key].length)) {
      setPickers(s);
      editor.source = "lists";
      $("#f-cron").value = listsToCron(s);
      updatePickerNote(true);
    } else {
      kind = "none";
    }
    if (kind !== "recurring") {
      // What the builder offers if the user switches this job to a recurring schedule.
      $("#f-cron").value = "*/15 * * * *";
      cronChanged();
    }
    $("#f-kind").value = kind;
    showKind();
  }

  const schedulePreview = debounce(() => guard(preview)(), PREVIEW_DELAY_MS);

  async function preview() {
    const seq = ++editor.previewSeq;
    const fieldset = $("#schedule-fields");
    const description = $("#preview-description");
    const next = $("#preview-next");
    let schedule;
    try {
      schedule = readSchedule();
      const data = await api("POST", "/schedules/preview", { body: { schedule, count: 5 } });
      if (seq !== editor.previewSeq) return;
      clearErrors(fieldset);
      description.textContent = data.description;
      const zone = data.schedule.timezone || "UTC";
      next.replaceChildren(...data.next.map((run) => h("li", {},
        h("time", { datetime: run.utc, text: zoneParts(run.epoch * 1000, zone).wall.replace("T", " ") + " " + zone }),
        zone === "UTC" ? null : h("span", { class: "utc", text: " · " + run.utc.replace("T", " ").replace("Z", " UTC") }),
      )));
      if (!data.next.length) next.replaceChildren(h("li", { text: data.error ? data.error.message : "No run ahead." }));
    } catch (err) {
      if (seq !== editor.previewSeq || !(err instanceof ApiError)) throw err;
      clearErrors(fieldset);
      next.replaceChildren();
      if (err.status === 400) {
        description.textContent = "Not a valid schedule yet.";
        showError(fieldset, err, false);
      } else {
        // Rate-limited, a server error, no network: nothing is known about the schedule.
        description.textContent = "Preview unavailable: " + err.message;
      }
    }
  }

  /** Options and the chosen value; a value with no option (a job or folder this page did not
   * load) gets one of its own rather than leaving the select blank, which would read as 0. */
  function fillSelect(select, options, value) {
    const chosen = String(value);
    const all = options.map(([v, text]) => [String(v), text]);
    if (!all.some(([v]) => v === chosen)) all.push([chosen, `#${chosen} (not loaded)`]);
    select.replaceChildren(...all.map(([v, text]) => h("option", { value: v, text })));
    select.value = chosen;
  }

  function intOr(raw, fallback) {
    const text = String(raw).trim();
    if (text === "") return fallback;
    return /^-?\d+$/.test(text) ? Number(text) : text; // the API names a field it cannot read
  }

  function parseHeaders(text) {
    const headers = {};
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf(":");
      if (at < 1) throw new LocalError("extendedData.headers", `“${line.trim()}” is not a Name: value line`);
      headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return headers;
  }

  function readBody() {
    const body = $("#f-body").value;
    return editor.bodyCrlf ? body.replace(/\r?\n/g, "\r\n") : body;
  }

  /** The job the form describes, whole; LocalError when a field cannot be read. */
  function readJob() {
    const job = {};
    for (const [key, read] of Object.entries(jobReaders())) job[key] = read();
    return job;
  }

  const UNREADABLE = { unreadable: true };

  /** As readJob, but a field that cannot be read is UNREADABLE (so any later reading differs). */
  function readRendered() {
    const job = {};
    for (const [key, read] of Object.entries(jobReaders())) {
      try {
        job[key] = read();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        job[key] = UNREADABLE;
      }
    }
    return job;
  }

  const NESTED = ["auth", "notification", "extendedData"]; // PATCH merges these key by key
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  /** What a PATCH must send for `current`: the fields (and nested keys) that differ from `rendered`. */
  function jobDelta(rendered, current) {
    const delta = {};
    for (const [key, value] of Object.entries(current)) {
      const before = rendered[key];
      if (same(value, before)) continue;
      if (NESTED.includes(key) && isObject(value) && isObject(before)) {
        delta[key] = {};
        for (const [sub, subValue] of Object.entries(value)) {
          if (!same(subValue, before[sub])) delta[key][sub] = subValue;
        }
      } else {
        delta[key] = value;
      }
    }
    return delta;
  }

  /** How to read each field of the job from the form, in the API's shape. */
  function jobReaders() {
    const intField = (id, fallback) => () => intOr($(id).value, fallback);
    const checked = (id) => () => $(id).checked;
    return {
      title: () => $("#f-title").value,
      url: () => $("#f-url").value.trim(),
      enabled: checked("#f-enabled"),
      saveResponses: checked("#f-save"),
      redirectSuccess: checked("#f-redirect"),
      tlsVerify: checked("#f-tls"),
      requestMethod: () => Number($("#f-method").value),
      folderId: () => Number($("#f-folder").value),
      requestTimeout: intField("#f-timeout", -1),
      extendedData: () => ({ headers: parseHeaders($("#f-headers").value), body: readBody() }),
      auth: () => ({ enable: $("#f-auth").checked, user: $("#f-auth-user").value, password: $("#f-auth-password").value }),
      notification: () => {
        const days = intOr($("#n-ssl-days").value, 7);
        return {
          onFailure: $("#n-failure").checked,
          onFailureCount: intOr($("#n-failure-count").value, 1),
          onSuccess: $("#n-success").checked,
          onDisable: $("#n-disable").checked,
          onSslCertExpiry: $("#n-ssl").checked,
          onSslCertExpirySeconds: typeof days === "number" ? days * 86400 : days,
        };
      },
      schedule: readSchedule,
      retries: intField("#a-retries", 0),
      retryDelay: intField("#a-retry-delay", 30),
      catchUp: checked("#a-catch-up"),
      historyStrategy: () => $("#a-history").value,
      retentionDays: intField("#a-retention", 30),
      chainSuccess: () => Number($("#a-chain-success").value),
      chainFailure: () => Number($("#a-chain-failure").value),
      successCodes: () => $("#a-success-codes").value.split(/[\s,]+/).filter(Boolean).map((c) => (/^\d+$/.test(c) ? Number(c) : c)),
      successMatch: () => $("#a-success-match").value,
      errorMatch: () => $("#a-error-match").value,
      maxDuration: intField("#a-max-duration", 0),
      maxConcurrent: intField("#a-max-concurrent", 1),
      queueMax: intField("#a-queue-max", 0),
      notes: () => $("#f-notes").value,
    };
  }

  const NEW_JOB = {
    title: "", url: "", enabled: true, saveResponses: false, redirectSuccess: false, tlsVerify: true,
    requestMethod: 0, folderId: 0, requestTimeout: -1, extendedData: { headers: {}, body: "" },
    auth: { enable: false, user: "", password: "" },
    notification: { onFailure: false, onFailureCount: 1, onSuccess: false, onDisable: false, onSslCertExpiry: false, onSslCertExpirySeconds: 604800 },
    schedule: { timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", cron: "*/15 * * * *", expiresAt: 0 },
    retries: 0, retryDelay: 30, catchUp: false, historyStrategy: "MINIMAL", retentionDays: 30, chainSuccess: 0,
    chainFailure: 0, successCodes: [], successMatch: "", errorMatch: "", maxDuration: 0, maxConcurrent: 1, queueMax: 0,
    notes: "",
  };

  function fillJob(job, jobs, folders) {
    $("#f-title").value = job.title || "";
    $("#f-url").value = job.url || "";
    $("#f-enabled").checked = Boolean(job.enabled);
    $("#f-save").checked = Boolean(job.saveResponses);
    $("#f-redirect").checked = Boolean(job.redirectSuccess);
    $("#f-tls").checked = job.tlsVerify !== false;
    fillSelect($("#f-method"), METHODS.map((m, i) => [i, m]), job.requestMethod || 0);
    fillSelect($("#f-folder"), [[0, "No folder"], ...folders.map((f) => [f.folderId, f.title])], job.folderId || 0);
    $("#f-timeout").value = job.requestTimeout > 0 ? job.requestTimeout : "";
    const extended = job.extendedData || {};
    $("#f-headers").value = Object.entries(extended.headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n");
    const body = extended.body || "";
    // A textarea shows CRLF as LF: a body written with CRLF alone is read back with CRLF.
    editor.bodyCrlf = body.includes("\r\n") && !/(^|[^\r])\n/.test(body);
    $("#f-body").value = body;
    const auth = job.auth || {};
    $("#f-auth").checked = Boolean(auth.enable);
    $("#f-auth-user").value = auth.user || "";
    $("#f-auth-password").value = auth.password || ""; // "********" when set: sent back, it means unchanged
    const n = job.notification || {};
    $("#n-failure").checked = Boolean(n.onFailure);
    $("#n-failure-count").value = n.onFailureCount || 1;
    $("#n-success").checked = Boolean(n.onSuccess);
    $("#n-disable").checked = Boolean(n.onDisable);
    $("#n-ssl").checked = Boolean(n.onSslCertExpiry);
    $("#n-ssl-days").value = Math.round((n.onSslCertExpirySeconds ?? 604800) / 86400);
    fillSchedule(job.schedule);
    $("#a-retries").value = job.retries ?? 0;
    $("#a-retry-delay").value = job.retryDelay ?? 30;
    $("#a-catch-up").checked = Boolean(job.catchUp);
    $("#a-history").value = job.historyStrategy || "MINIMAL";
    $("#a-retention").value = job.retentionDays ?? 30;
    const others = jobs.filter((j) => j.jobId !== job.jobId).map((j) => [j.jobId, `${j.title || j.url} (#${j.jobId})`]);
    fillSelect($("#a-chain-success"), [[0, "Nothing"], ...others], job.chainSuccess || 0);
    fillSelect($("#a-chain-failure"), [[0, "Nothing"], ...others], job.chainFailure || 0);
    $("#a-success-codes").value = (job.successCodes || []).join(", ");
    $("#a-success-match").value = job.successMatch || "";
    $("#a-error-match").value = job.errorMatch || "";
    $("#a-max-duration").value = job.maxDuration ?? 0;
    $("#a-max-concurrent").value = job.maxConcurrent ?? 1;
    $("#a-queue-max").value = job.queueMax ?? 0;
    $("#f-notes").value = job.notes || "";
    $("#editor-meta").textContent = job.jobId ? authorship(job).join("; ") + "." : "";
  }

  /** "Created <time> by <name>" and "last changed <time> by <name>", in the browser's zone. */
  function authorship(job) {
    const by = (name) => (name ? " by " + name : "");
    return [
      "Created " + fmtTime(job.created) + by(job.createdBy),
      "last changed " + fmtTime(job.modified) + by(job.modifiedBy),
    ];
  }

  async function openEditor(jobId) {
    const form = $("#job-form");
    editor.jobId = jobId;
    clearErrors(form);
    $("#editor-secret").hidden = true;
    $("#job-delete-confirm").hidden = true;
    $("#job-delete").hidden = jobId === null;
    $("#job-rotate").hidden = jobId === null;
    $("#job-save").textContent = jobId === null ? "Create job" : "Save changes";
    $("#editor-title").textContent = jobId === null ? "New job" : "Edit job";
    $("#preview-description").textContent = "…";
    $("#preview-next").replaceChildren();
    $("#job-form-body").disabled = true;
    editor.loaded = null;
    editor.rendered = null;
    // Fresh lists: the chain and folder selects must offer what the job names now.
    const [jobs, folders, details] = await Promise.all([
      loadJobs(),
      loadFolders(),
      jobId === null ? Promise.resolve(null) : api("GET", "/jobs/{jobId}", { params: { jobId } }),
    ]);
    if (editor.jobId !== jobId) return; // navigated elsewhere meanwhile
    const job = details ? details.jobDetails : NEW_JOB;
    if (details) $("#editor-title").textContent = "Edit " + (job.title || job.url);
    editor.source = "cron";
    editor.bodyCrlf = false;
    fillJob(job, jobs, folders);
    editor.loaded = job;
    editor.rendered = readRendered();
    $("#job-form-body").disabled = false;
    await preview();
  }

  async function saveJob() {
    if (editor.saving) return;
    const form = $("#job-form");
    clearErrors(form);
    editor.saving = true;
    try {
      const job = readJob();
      if (editor.jobId === null) {
        const created = await api("PUT", "/jobs", { body: { job } });
        cache.jobs = null;
        hist.secret = { jobId: created.jobId, value: created.signingSecret };
        flashNext(`Job “${job.title || job.url}” created.`);
        location.hash = `#/jobs/${created.jobId}/history`;
      } else {
        if (!editor.rendered) return; // still loading: nothing to compare with yet
        // Only what the user changed: a field the form cannot show exactly (a rounded number,
        // CRLF in a textarea) or that changed elsewhere meanwhile keeps its stored value.
        const delta = jobDelta(editor.rendered, job);
        if (Object.keys(delta).length) {
          await api("PATCH", "/jobs/{jobId}", { params: { jobId: editor.jobId }, body: { job: delta } });
          cache.jobs = null;
          flashNext(`Job “${job.title || job.url}” saved.`);
        } else {
          flashNext(`Nothing changed: job “${job.title || job.url}” kept as it was.`);
        }
        location.hash = "#/jobs";
      }
    } catch (err) {
      showError(form, err);
    } finally {
      editor.saving = false;
    }
  }

  async function deleteJob() {
    await api("DELETE", "/jobs/{jobId}", { params: { jobId: editor.jobId } });
    cache.jobs = null;
    flashNext("Job deleted.");
    location.hash = "#/jobs";
  }

  async function rotateSecret() {
    const data = await api("POST", "/jobs/{jobId}/signing-secret", { params: { jobId: editor.jobId } });
    $("#editor-secret-value").value = data.signingSecret;
    $("#editor-secret").hidden = false;
    $("#editor-secret-value").focus();
    flash("New signing secret made; the previous one keeps signing for 24 hours.");
  }

  // ---- history ------------------------------------------------------------------------------------

  const hist = { jobId: null, cursors: [null], page: 0, nextCursor: null, secret: null, chartItems: null };

  async function openHistory(jobId) {
    if (hist.jobId !== jobId) {
      hist.cursors = [null];
      hist.page = 0;
    }
    hist.jobId = jobId;
    clearHistory(jobId);
    $("#history-edit").href = `#/jobs/${jobId}/edit`;
    const secret = hist.secret && hist.secret.jobId === jobId ? hist.secret.value : null;
    hist.secret = null; // shown once
    $("#history-secret").hidden = !secret;
    $("#history-secret-value").value = secret || "";
    try {
      const { jobDetails } = await api("GET", "/jobs/{jobId}", { params: { jobId } });
      if (hist.jobId !== jobId) return; // navigated elsewhere meanwhile
      hist.title = jobDetails.title || jobDetails.url;
      hist.zone = jobDetails.schedule.timezone || "UTC";
      hist.catchUp = Boolean(jobDetails.catchUp);
      $("#history-title").textContent = "History: " + hist.title;
      $("#history-url").textContent = METHODS[jobDetails.requestMethod] + " " + jobDetails.url;
      showAbout(jobDetails);
      fillSelect($("#r-method"), [["", `The job's (${METHODS[jobDetails.requestMethod]})`], ...METHODS.map((m, i) => [i, m])], "");
      $("#r-url").placeholder = jobDetails.url;
      await loadHistory();
    } catch (err) {
      if (hist.jobId === jobId && err instanceof ApiError) {
        const text = (err.status === 404 ? "No such job: " : "Could not load this job's history: ") + err.message;
        $("#history-url").textContent = "";
        $("#history-table tbody").replaceChildren(h("tr", {}, h("td", { class: "empty error-text", colspan: "7", text })));
      }
      throw err; // and the message at the top
    }
    if (hist.jobId === jobId) {
      $("#history-run").disabled = false;
      $("#history-run-custom").disabled = false;
      $("#history-cursor").disabled = false;
    }
  }

  /** The job's notes, and who created and last changed it, when. */
  function showAbout(job) {
    const notes = $("#history-notes");
    notes.textContent = job.notes || "No notes: add some with Edit.";
    notes.classList.toggle("muted", !job.notes);
    $("#history-created").textContent = fmtTime(job.created) + (job.createdBy ? " by " + job.createdBy : "");
    $("#history-modified").textContent = fmtTime(job.modified) + (job.modifiedBy ? " by " + job.modifiedBy : "");
    $("#history-about").hidden = false;
  }

  /** Nothing of the job shown before stays while another loads (or fails to): Run now waits. */
  function clearHistory(jobId) {
    hist.title = null;
    hist.chartItems = null;
    hist.nextCursor = null;
    $("#history-run").disabled = true;
    $("#history-run-custom").disabled = true;
    $("#run-form").reset();
    toggleRunForm(false);
    $("#history-cursor").disabled = true;
    toggleCursorForm(false);
    $("#history-title").textContent = "History: job #" + jobId;
    $("#history-url").textContent = "Loading…";
    $("#history-details").hidden = true;
    $("#history-about").hidden = true;
    for (const id of ["#history-rate", "#history-success", "#history-failure", "#history-next"]) $(id).textContent = "–";
    $("#chart").replaceChildren();
    $("#chart-caption").textContent = "Timing of the last runs (ms)";
    $("#history-table tbody").replaceChildren();
    $("#history-page").textContent = "Page " + (hist.page + 1);
    $("#history-newer").disabled = true;
    $("#history-older").disabled = true;
  }

  async function loadHistory() {
    const jobId = hist.jobId;
    const cursor = hist.cursors[hist.page];
    const [page, recent] = await Promise.all([
      api("GET", "/jobs/{jobId}/history", { params: { jobId }, query: { limit: HISTORY_PAGE, cursor } }),
      api("GET", "/jobs/{jobId}/history", { params: { jobId }, query: { limit: CHART_RUNS } }),
    ]);
    if (hist.jobId !== jobId) return;
    hist.nextCursor = page.cursor;
    renderTotals(recent);
    hist.chartItems = recent.history;
    renderChart(recent.history);
    renderHistoryRows(page.history);
    $("#history-page").textContent = "Page " + (hist.page + 1);
    $("#history-newer").disabled = hist.page === 0;
    $("#history-older").disabled = !page.cursor;
  }

  function renderTotals(data) {
    const totals = data.totals || {};
    $("#history-rate").textContent = totals.successRate === null || totals.successRate === undefined
      ? "No finished runs yet" : totals.successRate + " %";
    $("#history-success").textContent = totals.success ?? "–";
    $("#history-failure").textContent = totals.failure ?? "–";
    const next = $("#history-next");
    next.className = "small";
    const inZone = zoneFormat(hist.zone, true);
    next.textContent = (data.predictions || []).length ? data.predictions.map((epoch) => fmtTime(epoch, inZone)).join(" · ") : "None scheduled";
    next.title = "In the job's time zone, " + hist.zone;
  }

  function runBadge(run) {
    if (run.statusText === "Waiting for callback") {
      return h("span", { class: "badge wait", text: "waiting for callback" });
    }
    if (!FINAL_STATES.includes(run.state)) return h("span", { class: "badge wait", text: run.state });
    const ok = run.state === "done" && run.status === 1;
    const text = run.state === "done" ? run.statusText : `${run.state}: ${run.statusText}`;
    return h("span", { class: "badge " + (ok ? "ok" : "fail"), text });
  }

  function renderHistoryRows(items) {
    const body = $("#history-table tbody");
    body.replaceChildren(...items.map((run) => {
      const details = h("button", { type: "button", class: "small", "aria-label": "Details of the run at " + fmtTime(run.date || run.datePlanned) }, "Details");
      details.addEventListener("click", guard(() => showRunDetails(run.identifier)));
      const actions = h("div", { class: "row-actions" }, details);
      let row = null;
      if (IN_FLIGHT.includes(run.state)) {
        const jobId = hist.jobId;
        const runId = run.runId || run.identifier;
        const label = "the run at " + fmtTime(run.date || run.datePlanned);
        // The change form opens on a row of its own under the run's.
        const change = changeControl(runId, label, (form) => {
          row.after(h("tr", { class: "run-change-row" }, h("td", { colspan: "7" }, form)));
        });
        actions.prepend(abortControl(runId, label, async () => {
          change.close();
          change.remove();
          await followRun(runId);
          if (hist.jobId === jobId && !$("#view-history").hidden) await loadHistory();
        }), change);
      }
      const trigger = run.trigger && run.trigger !== "schedule" ? run.trigger : "";
      const attempt = run.attempt > 1 ? "attempt " + run.attempt : "";
      row = h("tr", {},
        timeCell(run.date, "Time"),
        timeCell(run.datePlanned, "Planned"),
        h("td", { "data-label": "Jitter", class: "num", text: run.date ? fmtMs(run.jitter) : "–" }),
        h("td", { "data-label": "Status" }, h("span", {}, runBadge(run), [trigger, attempt].filter(Boolean).length
          ? h("span", { class: "muted", text: " " + [trigger, attempt].filter(Boolean).join(", ") }) : null)),
        h("td", { "data-label": "HTTP status", class: "num", text: run.httpStatus || "–" }),
        h("td", { "data-label": "Duration", class: "num", text: run.date ? fmtMs(run.duration) : "–" }),
        h("td", { class: "actions-cell" }, actions),
      );
      return row;
    }));
    if (!items.length) {
      body.append(h("tr", {}, h("td", { class: "empty", colspan: "7", text: "No runs yet: use Run now, or wait for the schedule." })));
    }
  }

  async function showRunDetails(identifier) {
    const { jobHistoryDetails: run } = await api("GET", "/jobs/{jobId}/history/{identifier}", {
      params: { jobId: hist.jobId, identifier },
    });
    const rows = [
      ["Run", run.identifier],
      ["State", run.state],
      ["Outcome", run.statusText],
      ["HTTP status", run.httpStatus || "–"],
      ["Trigger", run.trigger + (run.attempt > 1 ? ", attempt " + run.attempt : "")],
      ["URL", run.url],
      ["Started", fmtTime(run.date)],
      ["Planned", fmtTime(run.datePlanned)],
      ["Duration", fmtMs(run.duration)],
    ];
    if (run.remoteIp) rows.push(["Remote address", run.remoteIp]);
    if (run.reason) rows.push(["Reason", run.reason]);
    const phases = segments(run.stats || {});
    rows.push(["Timing", PHASES.map((p, i) => `${p.label} ${(phases[i] / 1000).toFixed(1)} ms`).join(", ")]);
    $("#history-details-list").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]));
    const missing = "Not saved: turn on “Save response headers and body” for this job to keep them.";
    $("#history-details-headers").textContent = run.headers === null || run.headers === undefined ? missing : run.headers;
    $("#history-details-body").textContent = run.body === null || run.body === undefined ? missing : run.body || "(empty body)";
    $("#history-details").hidden = false;
    $("#history-details-title").focus();
  }

  /** A run's phase durations (µs) from libcurl's cumulative figures; no TLS means 0 for it. */
  function segments(stats) {
    let previous = 0;
    return PHASES.map((phase) => {
      let at = Number(stats[phase.key]) || 0;
      if (at < previous) at = previous; // appConnect is 0 without TLS; never go back
      const length = at - previous;
      previous = at;
      return length;
    });
  }

  function niceCeiling(value) {
    if (value <= 0) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
    return 10 * power;
  }

  function renderChart(items) {
    const container = $("#chart");
    const runs = items.filter((r) => FINAL_STATES.includes(r.state)).slice(0, CHART_RUNS).reverse();
    $("#chart-legend").replaceChildren(
      ...PHASES.map((p) => h("li", {}, h("span", { class: "swatch " + p.cls }), p.label)),
      h("li", {}, h("span", { class: "swatch failed" }), "Failed run (mark under its bar)"),
    );
    $("#chart-caption").textContent = runs.length === 1
      ? "Timing of the last run (ms)"
      : `Timing of the last ${runs.length || ""} runs (ms)`.replace("last  runs", "last runs");
    if (!runs.length) {
      container.replaceChildren(h("p", { class: "muted", text: "No finished runs to chart yet." }));
      return;
    }
    // Drawn at the width it is shown at, so that its 11px labels stay readable on a phone.
    const width = Math.max(300, Math.min(1200, Math.round(container.clientWidth || 800)));
    const height = width < 500 ? 200 : 260;
    const left = 52;
    const right = 8;
    const top = 10;
    const bottom = 34;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const totals = runs.map((r) => segments(r.stats || {}).reduce((a, b) => a + b, 0) / 1000);
    const max = niceCeiling(Math.max(...totals));
    const slot = plotW / Math.max(runs.length, 10);
    const barW = Math.max(2, slot * 0.7);
    const y = (ms) => top + plotH - (ms / max) * plotH;
    const sorted = [...totals].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const title = svg("title", { id: "chart-svg-title", text: "Stacked timing of each run" });
    const desc = svg("desc", {
      id: "chart-svg-desc",
      text: `${runs.length} runs, oldest on the left; median ${median.toFixed(1)} ms, slowest ${sorted[sorted.length - 1].toFixed(1)} ms.`,
    });
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-svg-title chart-svg-desc",
      preserveAspectRatio: "xMidYMid meet",
    }, title, desc);
    for (let i = 0; i <= 4; i += 1) {
      const value = (max * i) / 4;
      const at = y(value);
      chart.append(svg("line", { class: i ? "grid-line" : "axis", x1: left, x2: width - right, y1: at, y2: at }));
      chart.append(svg("text", { x: left - 6, y: at + 4, "text-anchor": "end", text: value >= 100 ? value.toFixed(0) : String(+value.toFixed(2)) }));
    }
    chart.append(svg("text", { x: 4, y: top + 8, text: "ms" }));
    runs.forEach((run, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      const parts = segments(run.stats || {});
      const group = svg("g", { class: "bar", "data-run": run.identifier });
      let base = 0;
      parts.forEach((length, p) => {
        const ms = length / 1000;
        if (ms <= 0) return;
        group.append(svg("rect", {
          class: PHASES[p].cls, x: x.toFixed(2), width: barW.toFixed(2),
          y: y(base + ms).toFixed(2), height: Math.max(0.5, y(base) - y(base + ms)).toFixed(2),
        }));
        base += ms;
      });
      if (!(run.state === "done" && run.status === 1)) {
        group.append(svg("rect", { class: "bar-failed", x: x.toFixed(2), width: barW.toFixed(2), y: (top + plotH + 3).toFixed(2), height: 2 }));
      }
      group.append(svg("title", {
        text: `${fmtTime(run.date)} · ${run.statusText}\n` +
          PHASES.map((phase, p) => `${phase.label}: ${(parts[p] / 1000).toFixed(1)} ms`).join("\n") +
          `\nTotal: ${totals[i].toFixed(1)} ms`,
      }));
      chart.append(group);
    });
    const first = runs[0].date || runs[0].datePlanned;
    const last = runs[runs.length - 1].date || runs[runs.length - 1].datePlanned;
    chart.append(svg("text", { x: left, y: height - 8, text: first ? shortDate.format(new Date(first * 1000)) : "" }));
    chart.append(svg("text", { x: width - right, y: height - 8, "text-anchor": "end", text: last ? shortDate.format(new Date(last * 1000)) : "" }));
    container.replaceChildren(chart);
  }

  // ---- account ------------------------------------------------------------------------------------

  async function showAccount() {
    hideSecrets();
    // The form that creates keys stands below the scheduler, the notification settings and
    // the key list: it shows once they are all drawn, so that nothing they add moves it under a
    // click (a click on the moving "Create key" button landed elsewhere and was lost).
    $("#key-form").hidden = true;
    $("#password-card").hidden = !isSession();
    $("#password-current").value = "";
    $("#password-new").value = "";
    const loaded = await Promise.allSettled([loadScheduler(), loadNotifications(), loadKeys()]);
    $("#key-form").hidden = !(loaded[2].status === "fulfilled" && loaded[2].value);
    for (const result of loaded) if (result.status === "rejected") throw result.reason;
  }

  async function loadScheduler() {
    $("#scheduler-enabled").disabled = true;
    const { enabled } = await api("GET", "/scheduler");
    $("#scheduler-enabled").checked = enabled;
    $("#scheduler-enabled").disabled = false;
    describeScheduler(enabled);
  }

  function describeScheduler(enabled) {
    $("#scheduler-status").textContent = enabled
      ? "On: jobs fire on their schedules."
      : "Paused: no job fires on its schedule until this is switched on (Run now still works).";
  }

  async function toggleScheduler() {
    const box = $("#scheduler-enabled");
    box.disabled = true;
    try {
      const { enabled } = await api("PUT", "/scheduler", { body: { enabled: box.checked } });
      box.checked = enabled;
      describeScheduler(enabled);
    } catch (err) {
      box.checked = !box.checked;
      if (err.status === 403) err.message = "Only an admin (key or user) can switch the scheduler.";
      throw err;
    } finally {
      box.disabled = false;
    }
  }

  async function loadNotifications() {
    $("#notify-body").disabled = true;
    const data = await api("GET", "/notifications");
    $("#notify-url").value = data.url || "";
    $("#notify-email").value = data.email || "";
    $("#notify-body").disabled = false;
  }

  async function saveNotifications() {
    const form = $("#notify-form");
    clearErrors(form);
    try {
      const data = await api("PUT", "/notifications", {
        body: { url: $("#notify-url").value.trim(), email: $("#notify-email").value.trim() },
      });
      flash("Notification settings saved.");
      $("#notify-secret").hidden = !data.signingSecret;
      $("#notify-secret-value").value = data.signingSecret || "";
    } catch (err) {
      if (err.status === 403) err.message = "Only an admin (key or user) can change where notifications go.";
      showError(form, err);
    }
  }

  async function loadKeys() {
    const status = $("#keys-status");
    let keys;
    try {
      ({ keys } = await api("GET", "/keys"));
    } catch (err) {
      if (err.status !== 403) throw err;
      status.textContent = "Only an admin (key or user) can list and create API keys.";
      $("#keys-table tbody").replaceChildren();
      $("#key-form").hidden = true;
      return false;
    }
    const mine = (apiKey.match(KEY_FORMAT) || [])[1]; // none while a user's session signs in
    const body = $("#keys-table tbody");
    body.replaceChildren(...keys.map((key) => keyRow(key, key.keyId === mine)));
    const active = keys.filter((k) => !k.revoked).length;
    status.textContent = `${active} active key${active === 1 ? "" : "s"}, ${keys.length - active} revoked.`;
    return true;
  }

  function keyRow(key, mine) {
    const name = (key.name || "(no name)") + (mine ? " (this browser)" : "");
    const actions = h("div", { class: "row-actions" });
    if (!key.revoked) {
      const revoke = h("button", { type: "button", class: "small danger", "aria-label": "Revoke " + name }, "Revoke");
      revoke.addEventListener("click", () => {
        const confirm = h("button", { type: "button", class: "small danger" }, mine ? "Yes, revoke (signs you out)" : "Yes, revoke");
        const keep = h("button", { type: "button", class: "small" }, "Keep");
        confirm.addEventListener("click", guard(async () => {
          await api("DELETE", "/keys/{keyId}", { params: { keyId: key.keyId } });
          if (mine) {
            signOut("You revoked the key this browser used.");
            return;
          }
          flash(`Key “${key.name || key.keyId}” revoked.`);
          await loadKeys();
        }));
        keep.addEventListener("click", () => {
          actions.replaceChildren(revoke);
          revoke.focus();
        });
        actions.replaceChildren(confirm, keep);
        confirm.focus();
      });
      actions.append(revoke);
    }
    return h("tr", {},
      h("td", { "data-label": "Name", text: name }),
      h("td", { "data-label": "Key", class: "mono", text: `chk_${key.keyId}_…` }),
      h("td", { "data-label": "Scopes", text: (key.scopes || []).join(", ") }),
      timeCell(key.createdAt, "Created"),
      timeCell(key.lastUsedAt, "Last used"),
      h("td", { "data-label": "State" }, h("span", { class: "badge " + (key.revoked ? "fail" : "ok"), text: key.revoked ? "revoked" : "active" })),
      h("td", { class: "actions-cell" }, actions),
    );
  }

  async function createKey() {
    const form = $("#key-form");
    clearErrors(form);
    const scopes = $$("input[name=scope]:checked", form).map((box) => box.value);
    const ips = $("#key-ips").value.split(/[\s,]+/).filter(Boolean);
    try {
      const created = await api("POST", "/keys", { body: { name: $("#key-name").value.trim(), scopes, ipAllowlist: ips } });
      $("#key-reveal-value").value = created.key;
      $("#key-reveal").hidden = false;
      $("#key-name").value = "";
      $("#key-ips").value = "";
      // Focus moves to the new key now, not once the list has loaded: a late move would take
      // the caret from whatever the user went on to type in meanwhile.
      $("#key-reveal-value").focus();
      $("#key-reveal-value").select();
      await loadKeys();
    } catch (err) {
      showError(form, err);
    }
  }

  /** A user changes its own password; the API then ends every session of the user, this tab's
   * too, so the tab signs in again with the new password. */
  async function changePassword() {
    const form = $("#password-form");
    clearErrors(form);
    const current = $("#password-current").value;
    const password = $("#password-new").value;
    if (!current) {
      showError(form, new LocalError("currentPassword", "Enter your current password."));
      return;
    }
    if (password.length < 10) {
      showError(form, new LocalError("password", "Use at least 10 characters."));
      return;
    }
    try {
      await api("PUT", "/users/{username}/password", { params: { username: userName }, body: { password, currentPassword: current } });
    } catch (err) {
      showError(form, err);
      return;
    }
    $("#password-current").value = "";
    $("#password-new").value = "";
    const user = userName;
    let signed;
    try {
      signed = await openSession(user, password);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      signOut("Your password was changed, which ended your sessions: sign in with the new one. " + err.message);
      return;
    }
    flashNext("Password changed. Your other sessions have ended.");
    keepCredential(signed.token, signed.user.username || user);
  }

  // ---- start ----------------------------------------------------------------------------------------

  function start() {
    fillPickers();
    fillTimeZones();
    onSubmit($("#signin-form"), signIn);
    onSubmit($("#signin-user-form"), signInUser);
    $("#sign-out").addEventListener("click", guard(signOutClicked));
    $("#jobs-search").addEventListener("input", () => {
      if ($("#jobs-exact").checked) {
        exactSearch.seq += 1; // an answer still coming is for an older text
        searchExactSoon();
      }
      renderJobs();
    });
    $("#jobs-exact").addEventListener("change", guard(searchExact));
    $("#jobs-folder").addEventListener("change", () => renderJobs());
    onSubmit($("#folder-form"), addFolder);
    onSubmit($("#job-form"), saveJob);
    $("#f-cron").addEventListener("input", cronChanged);
    for (const f of LIST_FIELDS) $("#p-" + f.key).addEventListener("change", pickerChanged);
    $("#f-kind").addEventListener("change", showKind);
    $("#schedule-fields").addEventListener("input", schedulePreview);
    $("#schedule-fields").addEventListener("change", schedulePreview);
    $("#job-delete").addEventListener("click", () => {
      $("#job-delete-confirm").hidden = false;
      $("#job-delete-confirm").focus();
    });
    $("#job-delete-confirm").addEventListener("click", guard(deleteJob));
    $("#job-rotate").addEventListener("click", guard(rotateSecret));
    $("#history-run").addEventListener("click", guard(() => runNow(hist.jobId, hist.title, $("#history-run"))));
    $("#history-run-custom").addEventListener("click", () => toggleRunForm($("#run-form").hidden));
    $("#run-form-cancel").addEventListener("click", () => {
      toggleRunForm(false);
      $("#history-run-custom").focus();
    });
    onSubmit($("#run-form"), runWithChanges);
    $("#history-cursor").addEventListener("click", () => toggleCursorForm($("#cursor-form").hidden));
    $("#cursor-cancel").addEventListener("click", () => {
      toggleCursorForm(false);
      $("#history-cursor").focus();
    });
    onSubmit($("#cursor-form"), moveCursor);
    $("#history-older").addEventListener("click", guard(async () => {
      if (!hist.nextCursor) return;
      hist.cursors[hist.page + 1] = hist.nextCursor;
      hist.page += 1;
      await loadHistory();
    }));
    $("#history-newer").addEventListener("click", guard(async () => {
      if (hist.page === 0) return;
      hist.page -= 1;
      await loadHistory();
    }));
    $("#scheduler-enabled").addEventListener("change", guard(toggleScheduler));
    onSubmit($("#notify-form"), saveNotifications);
    onSubmit($("#key-form"), createKey);
    onSubmit($("#password-form"), changePassword);
    onSubmit($("#monitor-form"), createMonitor);
    for (const input of $$(".notice input")) input.addEventListener("focus", () => input.select());
    window.addEventListener("hashchange", route);
    window.addEventListener("resize", debounce(() => {
      if (!$("#view-history").hidden && hist.chartItems) renderChart(hist.chartItems);
    }, 200));
    route();
  }

  start();
})();
