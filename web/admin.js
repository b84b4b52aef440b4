// The operator's dashboard: lists the events, shows the chosen one's live
// counts with a chart of the last minutes, edits its settings, promotes
// from the line and resets it. The admin token stays in this tab's
// sessionStorage and travels only as the X-Token header.
'use strict';

(() => {
  const TEXT = {
    refused: 'The admin token was refused.',
    loggedOut: 'Logged out.',
    network: 'Cannot reach the server; still trying.',
    busy: (s) => `The server is busy; trying again in ${s} s.`,
    failed: (status) => `The request failed (HTTP ${status}).`,
    created: (e) => `Event “${e}” created.`,
    exists: (e) => `Event “${e}” exists already: change its settings below.`,
    badName: 'An event name is 1 to 64 letters, digits, dots, underscores or dashes.',
    saved: (e) => `Settings of “${e}” saved.`,
    nothingChanged: 'Nothing to save: no setting was changed.',
    badInteger: (label) => `${label}: enter a whole number, 0 or more.`,
    badRate: 'Admit rate: enter a number of 0 or more, or “manual”.',
    badPromote: 'How many: enter a whole number from 1 to 1000.',
    promoted: (n, rest) => `Promoted ${n}; ${rest} still waiting.`,
    resetQuestion: (e) => `Reset “${e}”? Everyone in line and every seat holder is dropped.`,
    resetDone: (e) => `“${e}” was reset.`,
    seats: (info) =>
      `${info.reserved} of ${info.capacity} seats taken · line holds up to ${info.queue_limit} · ` +
      `admit rate ${info.admit_rate === 'manual' ? 'manual' : `${info.admit_rate}/s`}`,
    chartTop: (n) => `(scale: 0 to ${n})`,
  };

  const REFRESH_MS = 2000;
  const HISTORY_MS = 10 * 60 * 1000;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const TOKEN_KEY = 'tq-admin-token';
  const EVENT_KEY = 'tq-admin-event';
  const EVENT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

  const $ = (id) => document.getElementById(id);
  const ui = {
    message: $('message'),
    logout: $('logout'),
    loginSection: $('login-section'),
    loginForm: $('login-form'),
    token: $('token'),
    app: $('app'),
    events: $('events'),
    eventsTruncated: $('events-truncated'),
    refreshEvents: $('refresh-events'),
    createForm: $('create-form'),
    eventName: $('event-name'),
    eventCapacity: $('event-capacity'),
    eventQueueLimit: $('event-queue-limit'),
    detail: $('detail'),
    detailTitle: $('detail-title'),
    detailState: $('detail-state'),
    detailSeats: $('detail-seats'),
    chart: $('chart'),
    chartMax: $('chart-max'),
    settingsForm: $('settings-form'),
    settingInputs: Array.from(document.querySelectorAll('#settings-form [data-field]')),
    promoteForm: $('promote-form'),
    promoteN: $('promote-n'),
    reset: $('reset'),
    resetAsk: $('reset-ask'),
    resetQuestion: $('reset-question'),
    resetConfirm: $('reset-confirm'),
    resetCancel: $('reset-cancel'),
  };
  const COUNTS = {
    waiting: $('count-waiting'),
    admitted: $('count-admitted'),
    confirmed: $('count-confirmed'),
    admitted_last_minute: $('count-per-minute'),
    expired: $('count-expired'),
    left: $('count-left'),
  };

  let token = '';
  let eventNames = [];
  let selected = null; // the event shown
  let history = []; // {t, waiting, admitted} of the shown event, oldest first
  let historyRun = 0; // a newer history read makes older ones be dropped
  let prefill = {}; // field -> the text last written into the settings form
  let refreshTimer = 0;
  let refreshRun = 0; // a newer refresh loop makes older ones stop
  let transientMessage = false; // the message is about the connection

  // --- small helpers ----------------------------------------------------

  const storage = {
    get(key) {
      try {
        return sessionStorage.getItem(key) || '';
      } catch {
        return '';
      }
    },
    set(key, value) {
      try {
        if (value) sessionStorage.setItem(key, value);
        else sessionStorage.removeItem(key);
      } catch {
        /* storage disabled: the login lasts as long as the page */
      }
    },
  };

  function say(text, kind = 'ok', transient = false) {
    ui.message.textContent = text;
    ui.message.dataset.kind = kind;
    transientMessage = transient;
  }

  function sayError(r) {
    if (r.status === 0) return say(TEXT.network, 'error', true);
    if (r.status === 503) return say(TEXT.busy(r.retryAfter || 1), 'error', true);
    say((r.data && r.data.error) || TEXT.failed(r.status), 'error');
  }

  const eventPath = (name) => `/v1/events/${encodeURIComponent(name)}`;

  // One call to the admin API. Resolves with {ok, status, data, retryAfter};
  // status 0 when the server could not be reached. A refused token logs out.
  async function api(method, path, body) {
    const headers = { 'X-Token': token, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      return { ok: false, status: 0, data: null, retryAfter: 0 };
    }
    const data = await res.json().catch(() => null);
    const retryAfter = Number(res.headers.get('Retry-After')) || 0;
    if (res.status === 401 && token) logout(TEXT.refused);
    return { ok: res.ok, status: res.status, data, retryAfter };
  }

  // --- login --------------------------------------------------------------

  async function login(e) {
    e.preventDefault();
    const value = ui.token.value.trim();
    if (!value) return;
    token = value;
    if (await loadEvents()) {
      ui.token.value = '';
      storage.set(TOKEN_KEY, token);
      showApp();
    }
  }

  function showApp() {
    ui.loginSection.hidden = true;
    ui.app.hidden = false;
    ui.logout.hidden = false;
    const remembered = storage.get(EVENT_KEY);
    if (remembered && eventNames.includes(remembered)) select(remembered);
    else ui.events.querySelector('button')?.focus();
  }

  function logout(message = TEXT.loggedOut) {
    token = '';
    storage.set(TOKEN_KEY, '');
    storage.set(EVENT_KEY, '');
    stopRefresh();
    selected = null;
    ui.app.hidden = true;
    ui.detail.hidden = true;
    ui.logout.hidden = true;
    ui.loginSection.hidden = false;
    say(message, message === TEXT.loggedOut ? 'ok' : 'error');
    ui.token.focus();
  }

  // --- the event list -----------------------------------------------------

  // Reads the event names; true when the token was accepted.
  async function loadEvents() {
    const r = await api('GET', '/v1/events');
    if (!r.ok) {
      if (r.status === 401) return false; // api() has said so
      sayError(r);
      return false;
    }
    eventNames = r.data.events;
    ui.eventsTruncated.hidden = !r.data.truncated;
    renderEventList();
    if (transientMessage) say('');
    return true;
  }

  function renderEventList() {
    ui.events.replaceChildren(
      ...eventNames.map((name) => {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = name;
        button.dataset.event = name;
        if (name === selected) button.setAttribute('aria-current', 'true');
        button.addEventListener('click', () => select(name));
        const li = document.createElement('li');
        li.append(button);
        return li;
      }),
    );
  }

  async function createEvent(e) {
    e.preventDefault();
    const name = ui.eventName.value.trim();
    if (!EVENT_NAME.test(name)) return say(TEXT.badName, 'error');
    const capacity = parseInteger(ui.eventCapacity.value);
    const queueLimit = parseInteger(ui.eventQueueLimit.value);
    if (capacity === undefined) return say(TEXT.badInteger('Seats'), 'error');
    if (queueLimit === undefined) return say(TEXT.badInteger('Places in line'), 'error');
    if (eventNames.includes(name)) {
      say(TEXT.exists(name), 'error');
      return select(name);
    }
    const r = await api('PUT', eventPath(name), { capacity, queue_limit: queueLimit });
    if (!r.ok) return sayError(r);
    ui.createForm.reset();
    say(r.status === 201 ? TEXT.created(name) : TEXT.exists(name));
    await loadEvents();
    select(name);
  }

  // --- the chosen event -----------------------------------------------------

  function select(name) {
    selected = name;
    storage.set(EVENT_KEY, name);
    history = [];
    prefill = {};
    for (const input of ui.settingInputs) input.value = '';
    for (const node of Object.values(COUNTS)) node.textContent = '–';
    ui.detailTitle.textContent = name;
    ui.detailState.textContent = '';
    ui.detailSeats.textContent = '';
    hideResetQuestion();
    delete ui.chart.dataset.history;
    drawChart();
    for (const button of ui.events.querySelectorAll('button')) {
      if (button.dataset.event === name) button.setAttribute('aria-current', 'true');
      else button.removeAttribute('aria-current');
    }
    ui.detail.hidden = false;
    loadHistory();
    refresh();
  }

  // The chart's past, from the server (the same on every instance): the
  // points before the first refresh's go in front of them. Times are
  // Redis's clock, moved onto this browser's by the difference of the two.
  async function loadHistory() {
    const run = ++historyRun;
    const name = selected;
    const r = await api('GET', `${eventPath(name)}/history`);
    if (run !== historyRun || name !== selected || !r.ok) return;
    const now = Date.now();
    const shift = now - r.data.now_ms;
    const first = history.length ? history[0].t : Infinity;
    const past = r.data.points
      .map((p) => ({ t: p.t_ms + shift, waiting: p.waiting, admitted: p.admitted }))
      .filter((p) => p.t < first);
    history = trimmed(past.concat(history), now);
    ui.chart.dataset.history = String(history.filter((p) => p.t < first).length);
    drawChart();
  }

  // The points of the chart's window ending at `now`: the last point before
  // the window is kept, moved to its start, so that a count that stood still
  // for the whole window still draws a line across it.
  function trimmed(points, now) {
    const from = now - HISTORY_MS;
    let start = 0;
    while (start + 1 < points.length && points[start + 1].t <= from) start++;
    const kept = points.slice(start);
    if (kept.length && kept[0].t < from) kept[0] = { ...kept[0], t: from };
    return kept;
  }

  function stopRefresh() {
    refreshRun++;
    clearTimeout(refreshTimer);
  }

  // Reads the chosen event now, then every REFRESH_MS.
  async function refresh() {
    stopRefresh();
    const run = refreshRun;
    const name = selected;
    if (!name || !token) return;
    const r = await api('GET', eventPath(name));
    if (run !== refreshRun) return; // another event was chosen, or a newer refresh began
    let delay = REFRESH_MS;
    if (r.ok) {
      showEvent(r.data);
      if (transientMessage) say('');
    } else if (r.status !== 401) {
      sayError(r);
      delay = Math.max(delay, r.retryAfter * 1000);
    }
    refreshTimer = setTimeout(refresh, delay);
  }

  function showEvent(info) {
    for (const [field, node] of Object.entries(COUNTS)) node.textContent = String(info[field]);
    ui.detailState.textContent = info.state;
    ui.detailState.dataset.state = info.state;
    ui.detailSeats.textContent = TEXT.seats(info);
    fillSettings(info, false);

    const now = Date.now();
    history.push({ t: now, waiting: info.waiting, admitted: info.admitted });
    history = trimmed(history, now);
    drawChart();
  }

  // Writes the event's settings into the form. Without force, a field the
  // operator has changed (or is in) is left alone.
  function fillSettings(info, force) {
    for (const input of ui.settingInputs) {
      const field = input.dataset.field;
      if (!(field in info)) continue;
      const text = String(info[field]);
      const untouched = input.value === (prefill[field] ?? '') && document.activeElement !== input;
      if (force || untouched) {
        input.value = text;
        prefill[field] = text;
      }
    }
  }

  function parseInteger(text) {
    const t = String(text).trim();
    return /^\d+$/.test(t) ? Number(t) : undefined;
  }

  // The value to send for a settings field, or undefined when it is not valid.
  function parseSetting(field, text) {
    if (field === 'state') return text;
    if (field === 'admit_rate') {
      if (text.toLowerCase() === 'manual') return 'manual';
      const rate = Number(text);
      return text !== '' && Number.isFinite(rate) && rate >= 0 ? rate : undefined;
    }
    return parseInteger(text);
  }

  async function saveSettings(e) {
    e.preventDefault();
    if (!selected) return;
    const name = selected;
    const changes = {};
    for (const input of ui.settingInputs) {
      const field = input.dataset.field;
      const text = input.value.trim();
      if (text === prefill[field]) continue;
      const value = parseSetting(field, text);
      if (value === undefined) {
        const label = document.querySelector(`label[for="${input.id}"]`).textContent;
        say(field === 'admit_rate' ? TEXT.badRate : TEXT.badInteger(label), 'error');
        input.focus();
        return;
      }
      changes[field] = value;
    }
    if (Object.keys(changes).length === 0) return say(TEXT.nothingChanged);
    const r = await api('PUT', eventPath(name), changes);
    if (!r.ok) return sayError(r);
    if (name !== selected) return;
    fillSettings(r.data, true);
    say(TEXT.saved(name));
    refresh();
  }

  async function promote(e) {
    e.preventDefault();
    const n = parseInteger(ui.promoteN.value);
    if (!selected || n === undefined || n < 1 || n > 1000) return say(TEXT.badPromote, 'error');
    const r = await api('POST', `${eventPath(selected)}/process_queue?limit=${n}`);
    if (!r.ok) return sayError(r);
    say(TEXT.promoted(r.data.promoted_count, r.data.remaining));
    refresh();
  }

  function askReset() {
    ui.resetQuestion.textContent = TEXT.resetQuestion(selected);
    ui.reset.hidden = true;
    ui.resetAsk.hidden = false;
    ui.resetConfirm.focus();
  }

  function hideResetQuestion() {
    ui.resetAsk.hidden = true;
    ui.reset.hidden = false;
  }

  async function reset() {
    const name = selected;
    hideResetQuestion();
    ui.reset.focus();
    const r = await api('POST', `${eventPath(name)}/reset`);
    if (!r.ok) return sayError(r);
    say(TEXT.resetDone(name));
    refresh();
  }

  // --- the chart ------------------------------------------------------------

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    return node;
  }

  // Waiting and admitted over the last ten minutes, drawn at the chart's
  // own size in pixels (so nothing is stretched); the y axis runs from 0 to
  // the largest value shown.
  function drawChart() {
    const width = ui.chart.clientWidth || 600;
    const height = ui.chart.clientHeight || 160;
    const pad = { left: 36, right: 8, top: 10, bottom: 10 };
    const now = Date.now();
    const top = Math.max(1, ...history.map((p) => Math.max(p.waiting, p.admitted)));
    const x = (t) => pad.left + ((width - pad.left - pad.right) * (t - (now - HISTORY_MS))) / HISTORY_MS;
    const y = (v) => height - pad.bottom - ((height - pad.top - pad.bottom) * v) / top;

    ui.chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const nodes = [
      svg('line', { class: 'axis', x1: pad.left, y1: y(0), x2: width - pad.right, y2: y(0) }),
      svg('line', { class: 'scale', x1: pad.left, y1: y(top), x2: width - pad.right, y2: y(top) }),
      svg('text', { class: 'tick', x: pad.left - 6, y: y(0), 'text-anchor': 'end', 'dominant-baseline': 'middle' }),
      svg('text', { class: 'tick', x: pad.left - 6, y: y(top), 'text-anchor': 'end', 'dominant-baseline': 'middle' }),
    ];
    nodes[2].textContent = '0';
    nodes[3].textContent = String(top);
    for (const series of ['waiting', 'admitted']) {
      const points = history.map((p) => `${x(p.t).toFixed(1)},${y(p[series]).toFixed(1)}`);
      nodes.push(svg('polyline', { class: `line-${series}`, points: points.join(' ') }));
      const last = history[history.length - 1];
      if (last) nodes.push(svg('circle', { class: `dot-${series}`, cx: x(last.t), cy: y(last[series]), r: 3 }));
    }
    ui.chart.replaceChildren(...nodes);
    ui.chartMax.textContent = history.length ? TEXT.chartTop(top) : '';
  }

  // --- wiring -----------------------------------------------------------------

  ui.loginForm.addEventListener('submit', login);
  ui.logout.addEventListener('click', () => logout());
  ui.refreshEvents.addEventListener('click', loadEvents);
  ui.createForm.addEventListener('submit', createEvent);
  ui.settingsForm.addEventListener('submit', saveSettings);
  ui.promoteForm.addEventListener('submit', promote);
  ui.reset.addEventListener('click', askReset);
  ui.resetCancel.addEventListener('click', () => {
    hideResetQuestion();
    ui.reset.focus();
  });
  ui.resetConfirm.addEventListener('click', reset);
  window.addEventListener('resize', () => {
    if (selected) drawChart();
  });

  // The login form is hidden until this script runs (it needs it).
  token = storage.get(TOKEN_KEY);
  if (token) {
    loadEvents().then((ok) => {
      if (ok) showApp();
      else ui.loginSection.hidden = false;
    });
  } else {
    ui.loginSection.hidden = false;
    ui.token.focus();
  }
})();
