// The waiting room: shows a visitor their place in line and hands them over
// to booking when their turn comes. Changes arrive by the event stream
// (Server-Sent Events); polling /status is the fallback when streams are
// unavailable. The visitor's token lives in an HttpOnly cookie that this
// script never sees: every call and the stream carry it by themselves. The
// server paints the page in the visitor's state (data-view holds that
// state), so the first paint is right before and without this script.
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
  const NEWCOMER_STATES = new Set(['none', 'closed', 'sold_out']); // what a page without a place says
  // The states the page shows; anything else shows as 'none'.
  const PAGE_STATES = new Set(['none', 'waiting', 'admitted', 'confirmed', 'expired', 'left', 'closed',
    'sold_out', 'unknown']);
  const DEFAULT_POLL_MS = 2000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    eventLabel: $('event-label'),
    state: $('state'),
    notice: $('notice'),
    line: $('line'),
    position: $('position'),
    progressBox: $('progress-box'),
    progress: $('progress'),
    progressOf: $('progress-of'),
    etaBox: $('eta-box'),
    eta: $('eta'),
    keepOpen: $('keep-open'),
    admission: $('admission'),
    hold: $('hold'),
    continueForm: $('continue'),
    continueToken: $('continue-token'),
    noLink: $('no-link'),
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
  let shownState = ''; // the state on the page now

  // --- text -----------------------------------------------------------

  function lookup(path) {
    return path.split('.').reduce((o, k) => (o == null ? o : o[k]), S);
  }

  function fillStaticText() {
    document.documentElement.lang = S.lang;
    document.title = S.pageTitle.replace('{event}', event);
    for (const node of document.querySelectorAll('[data-text]')) {
      node.textContent = lookup(node.dataset.text) ?? '';
    }
    ui.eventLabel.textContent = S.eventLabel.replace('{event}', event);
    // What only this script makes true.
    ui.keepOpen.hidden = false;
    ui.copy.hidden = false;
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

  // The words a snapshot is shown with: keys of S.states (heading) and
  // S.notices (notice, '' for none). The server's first paint chooses the
  // same (told() in src/visitor.cpp); `before` is the state shown before.
  function told(s, before) {
    const state = PAGE_STATES.has(s.state) ? s.state : 'none';
    const eventState = s.event_state || '';
    let reason = s.reason || '';
    // A seat this page showed, gone (given back here or in another tab, or
    // cancelled by an operator): the stream says only "left".
    if (state === 'left' && reason === 'left' && before === 'admitted') reason = 'seat_released';
    // The same seen by a status call (polling, or after a reload): the seat
    // is simply no longer there.
    if (state === 'expired' && reason === 'not_in_line' && before === 'admitted') {
      return { state, heading: 'seat_released', notice: 'seat_released' };
    }
    let heading = state;
    let notice = '';
    if (state === 'waiting' && eventState === 'paused') {
      heading = 'paused';
      notice = 'paused';
    } else if (state === 'waiting' && eventState === 'closed') {
      notice = 'closedKeepPlace';
    } else if (state === 'none' && eventState === 'paused') {
      notice = 'pausedJoin';
    } else if (state === 'left') {
      notice = reason || 'left';
      if (reason === 'seat_given_up' || reason === 'seat_released') heading = reason;
    } else if (state === 'expired') {
      notice = reason;
    } else if (state === 'unknown') {
      notice = 'unknown';
    }
    return { state, heading, notice };
  }

  // Shows one snapshot of the visitor's state (the stream's data, or the
  // answer of status, join or leave, or the server's first paint).
  function render(s) {
    const t = told(s, shownState);
    const state = t.state;
    shownState = state;
    document.body.dataset.state = state;
    document.body.dataset.eventState = s.event_state || '';

    ui.state.dataset.state = state;
    ui.state.textContent = S.states[t.heading];
    showText(ui.notice, S.notices[t.notice] || '');
    ui.notice.dataset.notice = t.notice;

    ui.line.hidden = state !== 'waiting';
    if (state === 'waiting') renderLine(s);
    ui.admission.hidden = state !== 'admitted';
    if (state === 'admitted') renderAdmission(s);

    const canJoin = state === 'none' || state === 'left' || state === 'expired';
    ui.join.hidden = !canJoin;
    ui.join.textContent = state === 'none' ? S.join : S.joinAgain;
    ui.leave.hidden = !WATCHED.has(state);
    ui.leave.textContent = state === 'admitted' ? S.giveBack : S.leave;

    if (state === 'waiting') {
      const place = S.announcePosition(s.position);
      announce(t.notice === 'paused' ? `${place} ${S.notices.paused}` : place);
    } else {
      announce(ui.state.textContent);
    }
  }

  // The place, and the way to the front as the server counts it: of the
  // people ahead when the visitor joined, how many have gone (none shown for
  // a visitor who joined at the front).
  function renderLine(s) {
    ui.position.textContent = s.position.toLocaleString(S.lang);
    const p = s.progress;
    ui.progressBox.hidden = !p;
    if (p) {
      ui.progress.max = p.of;
      ui.progress.value = p.passed;
      ui.progressOf.textContent = S.progressOf.replace('{passed}', p.passed).replace('{of}', p.of);
    }
    ui.etaBox.hidden = false;
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
    ui.continueForm.hidden = !(token && bookingUrl);
    ui.noLink.hidden = !(token && !bookingUrl);
    if (!token) return;
    // The token goes to the booking site in the form's body (POST), never in
    // a URL: URLs end up in logs, in history and in Referer headers.
    if (bookingUrl) ui.continueToken.value = token;
    else ui.token.value = token;
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
        if (res.status === 404) return { state: 'unknown' }; // no such event
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

  // The state the server painted the page in; null when it could not tell.
  function paintedView() {
    try {
      const view = JSON.parse(document.body.dataset.view || 'null');
      return view && typeof view.state === 'string' ? view : null;
    } catch {
      return null;
    }
  }

  fillStaticText();
  setMode('');
  ui.join.addEventListener('click', () => act(ui.join, '/join'));
  ui.leave.addEventListener('click', () => act(ui.leave, '/leave'));
  ui.copy.addEventListener('click', copyToken);
  window.addEventListener('pagehide', stopWatching);
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) start(); // back from the back/forward cache: the stream was closed
  });
  const painted = paintedView();
  if (painted && NEWCOMER_STATES.has(painted.state)) {
    // Painted for a newcomer, shown at once; then asked once with the
    // cookie: a visitor who came by a link from another site has a place
    // the page could not see (the browser holds a SameSite=Strict cookie
    // back on such a navigation, and sends it with this page's own calls).
    render(painted);
    start();
  } else if (painted) {
    render(painted);
    watch(painted.state); // the page came with the visitor's state: no need to ask
  } else {
    ui.state.textContent = S.states.loading;
    start();
  }
})();
