// The waiting room: shows a visitor their place in line and hands them over
// to booking when their turn comes. Changes arrive by the event stream
// (Server-Sent Events); polling /status is the fallback when streams are
// unavailable. The visitor's token lives in an HttpOnly cookie that this
// script never sees: every call and the stream carry it by themselves.
'use strict';

(() => {
  const S = window.TQ_STRINGS;
  const event = document.body.dataset.event;
  const bookingUrl = document.body.dataset.bookingUrl || '';
  const apiBase = `/wait/${encodeURIComponent(event)}`;
  const streamUrl = `${apiBase}/stream`;

  const STREAM_EVENTS = ['waiting', 'admitted', 'confirmed', 'expired', 'left', 'closed', 'reconnect'];
  const FINAL_EVENTS = new Set(['confirmed', 'expired', 'left', 'closed']); // the server ends the stream
  const WATCHED = new Set(['waiting', 'admitted']); // states that can still change
  const DEFAULT_POLL_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    eventLabel: $('event-label'),
    state: $('state'),
    notice: $('notice'),
    line: $('line'),
    position: $('position'),
    progress: $('progress'),
    eta: $('eta'),
    admission: $('admission'),
    hold: $('hold'),
    continueLink: $('continue'),
    tokenBox: $('token-box'),
    token: $('admission-token'),
    copy: $('copy'),
    join: $('join'),
    leave: $('leave'),
    error: $('error'),
    live: $('live'),
    mode: $('mode'),
  };

  let stream = null; // the open EventSource, if any
  let pollTimer = 0;
  let reconnectTimer = 0;
  let generation = 0; // bumped by join and leave: answers to older calls are dropped
  let announced = '';

  // The position the visitor had when first seen, per event and tab: the
  // start of the progress bar.
  const firstPosition = {
    key: `tq-first-position:${event}`,
    get() {
      try {
        return Number(sessionStorage.getItem(this.key)) || 0;
      } catch {
        return 0; // storage disabled: the bar starts afresh
      }
    },
    set(n) {
      try {
        sessionStorage.setItem(this.key, String(n));
      } catch {
        /* storage disabled */
      }
    },
    clear() {
      try {
        sessionStorage.removeItem(this.key);
      } catch {
        /* storage disabled */
      }
    },
  };

  // --- text -----------------------------------------------------------

  function lookup(path) {
    return path.split('.').reduce((o, k) => (o == null ? o : o[k]), S);
  }

  function fillStaticText() {
    document.documentElement.lang = S.lang;
    document.title = `${S.title} – ${event}`;
    for (const node of document.querySelectorAll('[data-text]')) {
      node.textContent = lookup(node.dataset.text) ?? '';
    }
    ui.eventLabel.textContent = S.eventLabel(event);
  }

  function showText(node, text) {
    node.textContent = text;
    node.hidden = !text;
  }

  function etaWords(seconds) {
    if (seconds == null) return S.etaUnknown;
    if (seconds < 60) return S.etaSoon;
    const minutes = Math.ceil(seconds / 60);
    if (minutes < 60) return S.etaMinutes(minutes);
    return S.etaHours(Math.floor(minutes / 60), minutes % 60);
  }

  function announce(text) {
    if (text && text !== announced) {
      announced = text;
      ui.live.textContent = text;
    }
  }

  function setMode(mode) {
    ui.mode.dataset.mode = mode;
    ui.mode.textContent = mode === 'live' ? S.modeLive : mode === 'polling' ? S.modePolling : '';
    ui.mode.parentElement.hidden = !mode;
  }

  // --- rendering ------------------------------------------------------

  // Shows one snapshot of the visitor's state (the stream's data, or the
  // answer of status, join or leave).
  function render(s) {
    const state = Object.prototype.hasOwnProperty.call(S.states, s.state) ? s.state : 'none';
    const paused = state === 'waiting' && s.event_state === 'paused';
    const closedToNewcomers = s.event_state === 'closed';
    document.body.dataset.state = state;
    document.body.dataset.eventState = s.event_state || '';

    ui.state.dataset.state = state;
    if (paused) ui.state.textContent = S.states.paused;
    else if (state === 'none' && closedToNewcomers) ui.state.textContent = S.states.closed;
    else ui.state.textContent = S.states[state];

    // A second line that explains the state (a key of S.notices).
    let notice = '';
    if (paused) notice = 'paused';
    else if (state === 'waiting' && closedToNewcomers) notice = 'closedKeepPlace';
    else if (state === 'left') notice = s.reason || 'left';
    else if (state === 'expired') notice = s.reason || '';
    else if (state === 'sold_out') notice = 'soldOutJoin';
    showText(ui.notice, S.notices[notice] || '');
    ui.notice.dataset.notice = notice;

    if (!WATCHED.has(state)) firstPosition.clear();
    ui.line.hidden = state !== 'waiting';
    if (state === 'waiting') renderLine(s);
    ui.admission.hidden = state !== 'admitted';
    if (state === 'admitted') renderAdmission(s);

    const canJoin = (state === 'none' && !closedToNewcomers) || state === 'left' || state === 'expired';
    ui.join.hidden = !canJoin;
    ui.join.textContent = state === 'none' ? S.join : S.joinAgain;
    ui.leave.hidden = !WATCHED.has(state);
    ui.leave.textContent = state === 'admitted' ? S.giveBack : S.leave;

    if (state === 'waiting') {
      announce(paused ? `${S.announcePosition(s.position)} ${S.notices.paused}` : S.announcePosition(s.position));
    } else {
      announce(ui.state.textContent);
    }
  }

  function renderLine(s) {
    const position = s.position;
    let first = firstPosition.get();
    if (!first || first < position) {
      first = position;
      firstPosition.set(first);
    }
    ui.position.textContent = position.toLocaleString(S.lang);
    // From the first position seen to the head of the line (position 1).
    ui.progress.max = Math.max(first - 1, 1);
    ui.progress.value = first === 1 ? 1 : first - position;
    ui.eta.textContent = etaWords(s.eta_s);
  }

  function renderAdmission(s) {
    if (s.hold_expires_at) {
      const until = new Date(s.hold_expires_at * 1000);
      ui.hold.textContent = S.heldUntil(until.toLocaleTimeString(S.lang, { hour: '2-digit', minute: '2-digit' }));
    } else {
      ui.hold.textContent = S.heldNoLimit;
    }
    const token = s.admission_token || '';
    ui.continueLink.hidden = !(token && bookingUrl);
    ui.tokenBox.hidden = !(token && !bookingUrl);
    if (!token) return;
    if (bookingUrl) {
      const sep = bookingUrl.includes('?') ? '&' : '?';
      ui.continueLink.href =
        `${bookingUrl}${sep}event=${encodeURIComponent(event)}&token=${encodeURIComponent(token)}`;
    } else {
      ui.token.value = token;
    }
  }

  // --- talking to the server -----------------------------------------

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function retryAfterSeconds(res) {
    const value = Number(res.headers.get('Retry-After'));
    return Number.isFinite(value) && value > 0 ? Math.min(value, 60) : 0;
  }

  // Calls the waiting room's API and resolves with its answer (an object
  // with a state), or null when the request cannot succeed. A busy (503)
  // or unreachable server is retried, with a polite note on the page.
  async function call(method, path) {
    for (let attempt = 0; ; attempt++) {
      const backoff = Math.min(2 ** attempt, 30);
      let waitS;
      try {
        const res = await fetch(apiBase + path, {
          method,
          cache: 'no-store',
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
        });
        const body = await res.json().catch(() => null);
        if (body && typeof body.state === 'string') {
          showText(ui.error, '');
          return body;
        }
        if (res.status === 404) return { state: 'closed' }; // no such event (any more)
        if (res.status < 500 && res.status !== 429) {
          showText(ui.error, S.failed);
          return null;
        }
        waitS = retryAfterSeconds(res) || backoff;
        showText(ui.error, S.busy(waitS));
      } catch {
        waitS = backoff;
        showText(ui.error, S.offline(waitS));
      }
      // A little jitter, so that a crowd does not come back all at once.
      await sleep(waitS * 1000 * (1 + Math.random() / 4));
    }
  }

  function stopWatching() {
    clearTimeout(pollTimer);
    clearTimeout(reconnectTimer);
    if (stream) {
      stream.close();
      stream = null;
    }
  }

  // Follows the state while it can change: by the stream, or by polling
  // when the stream is unavailable.
  function watch(state) {
    if (WATCHED.has(state)) openStream();
    else setMode('');
  }

  function openStream() {
    stopWatching();
    const es = new EventSource(streamUrl);
    let heard = false;
    stream = es;

    const onEvent = (e) => {
      if (stream !== es) return;
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      heard = true;
      setMode('live');
      if (e.type === 'reconnect') {
        // This instance is shutting down: connect again (to another one).
        stopWatching();
        reconnectTimer = setTimeout(openStream, Number(data.retry_ms) || 1000);
        return;
      }
      if (FINAL_EVENTS.has(e.type)) stopWatching(); // else EventSource would reconnect forever
      render(data);
      if (FINAL_EVENTS.has(e.type)) setMode('');
    };
    for (const name of STREAM_EVENTS) es.addEventListener(name, onEvent);

    es.onerror = () => {
      if (stream !== es) return;
      // Once events came, a dropped connection is reconnected by the browser
      // itself (with Last-Event-ID). Polling when the stream never worked,
      // or when the browser gave up on it.
      if (!heard || es.readyState === EventSource.CLOSED) {
        stopWatching();
        startPolling(0);
      }
    };
  }

  function startPolling(delayMs) {
    setMode('polling');
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, delayMs);
  }

  async function poll() {
    const mine = generation;
    const s = await call('GET', '/status');
    if (!s || mine !== generation) return;
    render(s);
    if (WATCHED.has(s.state)) startPolling(Number(s.poll_after_ms) || DEFAULT_POLL_MS);
    else setMode('');
  }

  // --- actions ---------------------------------------------------------

  async function act(button, path) {
    const mine = ++generation;
    stopWatching();
    button.disabled = true;
    const s = await call('POST', path);
    button.disabled = false;
    if (!s || mine !== generation) return;
    if (path === '/join') firstPosition.clear(); // a new place: the bar starts here
    render(s);
    ui.state.focus(); // the pressed button may be gone: keep the keyboard's place
    watch(s.state);
  }

  async function copyToken() {
    let ok = false;
    try {
      await navigator.clipboard.writeText(ui.token.value);
      ok = true;
    } catch {
      ui.token.select();
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
    }
    announced = '';
    announce(ok ? S.copied : S.copyFailed);
  }

  // Asks where the visitor stands and follows it from there.
  async function start() {
    stopWatching();
    const mine = generation;
    const s = await call('GET', '/status');
    if (!s || mine !== generation) return;
    render(s);
    watch(s.state);
  }

  fillStaticText();
  ui.state.textContent = S.states.loading;
  setMode('');
  ui.join.addEventListener('click', () => act(ui.join, '/join'));
  ui.leave.addEventListener('click', () => act(ui.leave, '/leave'));
  ui.copy.addEventListener('click', copyToken);
  window.addEventListener('pagehide', stopWatching);
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) start(); // back from the back/forward cache: the stream was closed
  });
  start();
})();
