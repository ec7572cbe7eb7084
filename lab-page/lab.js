// The lock lab page: plain browser JavaScript, no framework, no build step.
// It draws what the lab server streams (server-sent events: 'hello', 'view',
// 'entry', 'bye') and POSTs one command per click, the same words as
// `--script` ("kill 2", "park 2", "chaos on 4"). Every state is written in
// words and marked with a shape; colour only repeats them.
'use strict';

const token = new URLSearchParams(location.search).get('token') || sessionStorage.getItem('lab-token') || '';
if (token) sessionStorage.setItem('lab-token', token);
// Keep the token out of the address bar, screenshots and history.
if (location.search) history.replaceState(null, '', '/');

const STATE = {
  starting: ['…', 'starting'],
  running: ['●', 'running'],
  waiting: ['◌', 'waiting'],
  critical: ['◆', 'in critical section'],
  parked: ['⏸', 'PARKED in critical section'],
  stopped: ['■', 'STOPPED (SIGSTOP)'],
  dead: ['✕', 'DEAD'],
  exited: ['○', 'exited'],
};
const KIND = { pool: 'pool thread', worker: 'worker thread', process: 'process' };
const KILL = { process: 'SIGKILL', worker: 'terminate()', pool: 'abort' };
const MARK = { killed: '✕', abandoned: '⚠', 'abandoned → repaired': '✓', repaired: '✓', 'share reclaimed': '↺', 'heap recovered': '↺', 'job redelivered': '↻', parked: '⏸', stopped: '■', continued: '▶', respawned: '+', started: '+', added: '+', died: '✕', hang: '⌛', 'queue failed': '✕', refused: '–', chaos: '⚡' };
const QUIET = new Set(['started', 'refused', 'chaos', 'added', 'respawned', 'unparked', 'continued']);
const BINS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, Infinity];

const $ = (id) => document.getElementById(id);
let view = null;
const entries = new Map();
const cards = new Map();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'title' || k === 'role' || k === 'type') node.setAttribute(k, v === true ? '' : String(v));
    else node[k] = v;
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}.${String(Math.floor(ms % 1000)).padStart(3, '0')}`;
}

function ms(x) {
  return x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`;
}

// ---- commands ----------------------------------------------------------------

async function send(command) {
  say(`${command}…`);
  try {
    const res = await fetch('/api/command', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Lab-Token': token }, body: JSON.stringify({ command }) });
    const body = await res.json().catch(() => ({ ok: false, message: `HTTP ${res.status}` }));
    say(`${command}: ${body.message}`, !body.ok);
  } catch (error) {
    say(`${command}: ${error.message}`, true);
  }
}

function say(text, bad) {
  const m = $('message');
  m.textContent = text;
  m.classList.toggle('bad', Boolean(bad));
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-command]');
  if (button && !button.disabled) void send(button.dataset.command);
});

// The rate box sends its own changes (below), and a box left for the switch
// has sent its change first: the lab's rate is the one to use. Reading the box
// here raced with a view still in flight from before the last rate change,
// which had just put the old rate back in the box.
$('chaos-switch').addEventListener('change', (event) => {
  void send(event.target.checked ? 'chaos on' : 'chaos off');
});
$('chaos-rate').addEventListener('change', (event) => {
  const rate = Number(event.target.value);
  if (rate > 0 && rate <= 50) void send(`rate ${rate}`);
  else say('the chaos rate is from 0.25 to 50 kills per second', true);
});
$('quiet').addEventListener('change', (event) => document.body.classList.toggle('quiet', event.target.checked));

// ---- participants ---------------------------------------------------------------

function buttonsFor(p) {
  const n = p.number;
  const dead = p.status === 'dead' || p.status === 'exited';
  if (dead) return [el('button', { 'data-command': 'respawn', title: 'start the dead again (every dead participant)' }, 'respawn')];
  const list = [el('button', { class: 'kill', 'data-command': `kill ${n}`, title: `kill #${n} with ${KILL[p.kind]}`, 'aria-label': `${KILL[p.kind]} #${n}` }, KILL[p.kind])];
  if (p.status === 'parked') list.push(el('button', { 'data-command': `unpark ${n}`, 'aria-label': `unpark #${n}` }, 'unpark'));
  else if (p.status !== 'stopped') {
    list.push(el('button', { 'data-command': `park ${n}`, title: 'park it inside its critical section', 'aria-label': `park #${n}` }, 'park'));
    if (p.role !== 'auditor') list.push(el('button', { 'data-command': `park ${n} heap`, title: 'park it inside a heap operation', 'aria-label': `park #${n} in the heap` }, 'park in heap'));
  }
  if (p.kind === 'process') {
    list.push(p.status === 'stopped'
      ? el('button', { 'data-command': `cont ${n}`, 'aria-label': `continue #${n}` }, 'continue')
      : el('button', { 'data-command': `stop ${n}`, 'aria-label': `stop #${n}` }, 'stop'));
  }
  return list;
}

function drawCards(v) {
  const box = $('cards');
  const seen = new Set();
  for (const p of v.participants) {
    seen.add(p.number);
    let card = cards.get(p.number);
    if (!card) {
      card = {
        root: el('article', { class: 'card', 'data-participant': p.number }),
        head: el('h3'),
        state: el('p', { class: 'state' }),
        facts: el('p', { class: 'facts' }),
        locks: el('p', { class: 'locks-held' }),
        buttons: el('div', { class: 'buttons' }),
        key: '',
      };
      card.root.append(card.head, card.state, card.facts, card.locks, card.buttons);
      cards.set(p.number, card);
      box.append(card.root);
    }
    const [shape, word] = STATE[p.status] || ['?', p.status];
    card.root.dataset.state = p.status;
    card.root.dataset.kind = p.kind;
    card.head.textContent = `#${p.number} ${p.role === 'auditor' ? `auditor (${KIND[p.kind]})` : KIND[p.kind]}`;
    card.state.replaceChildren(el('span', { class: 'shape', 'aria-hidden': 'true' }, shape), ` ${word}${p.hung ? ' — HUNG' : ''}`);
    card.facts.textContent = `tid ${p.tid || '–'} · pid ${p.pid || '–'} · ops ${p.ops}${p.generation > 1 ? ` · life ${p.generation}` : ''}`;
    const held = p.holds.length ? `holds ${p.holds.join(' + ')}` : 'holds nothing';
    card.locks.textContent = p.waitsFor ? `${held}; waits for ${p.waitsFor}` : held;
    card.locks.classList.toggle('holding', p.holds.length > 0);
    const key = `${p.status}|${p.kind}|${p.role}`;
    if (key !== card.key) {
      card.key = key;
      card.buttons.replaceChildren(...buttonsFor(p));
    }
  }
  for (const [n, card] of cards) if (!seen.has(n)) (card.root.remove(), cards.delete(n));
}

// ---- the lock panel ----------------------------------------------------------------

function who(h) {
  if (!h) return 'none';
  return `${h.number ? `#${h.number}` : 'a thread'} (tid ${h.tid})${h.alive === false ? ' DEAD' : ''}`;
}

function drawPanel(v) {
  const m = v.mutex;
  const rw = v.rwlock;
  const h = v.heap;
  const l = v.ledger;
  const q = v.queue;
  const holder = (j) => `${j.id}→${j.holder ? `#${j.holder}` : `tid ${j.tid}`}${j.alive ? '' : ' DEAD'}${j.deliveries > 1 ? ` (try ${j.deliveries})` : ''}`;
  const inv = { holds: ['✓', 'holds'], repaired: ['✓', 'REPAIRED, holds'], 'mid-transfer': ['◆', 'holds (a transfer is in flight)'], broken: ['✕', 'BROKEN'] }[l.invariant];
  const row = (name, state, ...text) => [el('dt', {}, name), el('dd', { 'data-state': state }, ...text)];
  $('lock-panel').replaceChildren(
    ...row('mutex', m.state, el('b', {}, m.state), ` · owner ${who(m.owner)} · depth ${m.depth} · waiters ${m.waiters}${m.waitersExact ? '' : '+'} · abandoned ${m.timesAbandoned}×`),
    ...row('rwlock', rw.state, el('b', {}, rw.state), ` · writer ${who(rw.writer)} · readers ${rw.readers.length ? rw.readers.map(who).join(', ') : 'none'} · waiting ${rw.waitingWriters} writers, ${rw.waitingReaders} readers · shares reclaimed ${rw.sharesReclaimed}`),
    ...(q.failed
      ? row('queue', 'failed', el('b', {}, 'FAILED'), ` · ${q.failed} · the lab no longer touches it; last seen ${q.waiting} waiting, ${q.acked} of ${q.enqueued} acked`)
      : row('queue', q.deadLetters.length ? 'dead-letters' : 'ok', el('b', {}, `${q.waiting} waiting`), ` · in flight ${q.inFlight.length ? q.inFlight.map(holder).join(', ') : 'none'} · redelivered ${q.redelivered} (${v.counters.jobsAlreadyApplied} moved already, acked only) · dead letters ${q.deadLetters.length ? q.deadLetters.join(', ') : 'none'}${q.deadLettersCleared ? ` (${q.deadLettersCleared} older cleared)` : ''} · ${q.acked} of ${q.enqueued} acked`)),
    ...row('semaphore', 'absent', v.semaphore ? JSON.stringify(v.semaphore) : 'not in this lab: its participants share the mutex and the rwlock'),
    ...row('heap', h.state, el('b', {}, h.state), ` · used ${h.used} B, free ${h.free} B · records ${h.liveRecords} · poisoned ${h.timesPoisoned}×, recovered ${h.recoveries}×`),
    ...row('ledger', l.invariant, el('span', { class: 'shape', 'aria-hidden': 'true' }, inv[0]), ' invariant ', el('b', { id: 'invariant' }, inv[1]), ` · sum ${l.sum} of ${l.total} · ${l.txCount} transfers · ${l.repairs} repairs`),
    ...row('counts', 'counts', `kills ${v.counters.kills} · abandoned ${v.counters.abandonedObserved} · repaired ${v.counters.repairs} · shares reclaimed ${v.counters.sharesReclaimed} · heap recoveries ${v.counters.heapRecoveries} · respawns ${v.counters.respawns} · hangs ${v.counters.hangs}`),
  );
}

function drawHeader(v) {
  const alive = v.participants.filter((p) => p.status !== 'dead' && p.status !== 'exited').length;
  $('summary').textContent = `${alive}/${v.participants.length} alive · up ${Math.floor(v.uptimeS / 60)}:${String(v.uptimeS % 60).padStart(2, '0')}`;
  const sw = $('chaos-switch');
  if (document.activeElement !== sw) sw.checked = v.chaos.on;
  $('chaos-state').textContent = v.chaos.on ? `ON ⚡ ${v.chaos.rate}/s` : 'off';
  document.body.classList.toggle('chaos-on', v.chaos.on);
  const rate = $('chaos-rate');
  if (document.activeElement !== rate) rate.value = String(v.chaos.rate);
  $('chaos-kills').textContent = `${v.chaos.kills} chaos kills`;
  $('region').textContent = `region ${v.regionPath}`;
}

// ---- timeline and histogram ----------------------------------------------------------

function entryNode(e) {
  const li = el('li', { 'data-kind': e.kind, 'data-label': e.label, 'data-id': e.id });
  fillEntry(li, e);
  return li;
}

function fillEntry(li, e) {
  li.dataset.label = e.label;
  const latency = [];
  if (e.latencyMs !== null && e.cause) latency.push(`${ms(e.latencyMs)} after the kill of #${e.cause.participant}`);
  if (e.repairLatencyMs !== null) latency.push(`repaired ${ms(e.repairLatencyMs)} after it`);
  const parts = [
    el('time', {}, clock(e.t)),
    el('span', { class: 'label' }, el('span', { class: 'shape', 'aria-hidden': 'true' }, MARK[e.label] || '•'), ` ${e.label}`),
    el('span', { class: 'text' }, e.text),
  ];
  if (latency.length) parts.push(el('span', { class: 'latency' }, latency.join('; ')));
  li.replaceChildren(...parts);
}

function addEntry(e) {
  const old = entries.get(e.id);
  if (old) {
    old.entry = e;
    fillEntry(old.node, e);
  } else {
    const node = entryNode(e);
    entries.set(e.id, { entry: e, node });
    $('timeline').prepend(node);
    if (QUIET.has(e.kind)) node.classList.add('quiet-kind');
    while (entries.size > 300) {
      const first = entries.keys().next().value;
      entries.get(first).node.remove();
      entries.delete(first);
    }
  }
}

function drawHistogram() {
  const values = [...entries.values()].map((x) => x.entry).filter((e) => e.detection && e.latencyMs !== null).map((e) => e.latencyMs);
  const counts = BINS.map(() => 0);
  for (const x of values) counts[BINS.findIndex((b) => x < b)]++;
  const max = Math.max(1, ...counts);
  const box = $('histogram');
  box.dataset.total = String(values.length);
  const sorted = values.slice().sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const rows = BINS.map((b, i) => {
    const lo = i === 0 ? 0 : BINS[i - 1];
    const label = b === Infinity ? `≥ ${lo} ms` : `${lo}–${b} ms`;
    const bar = el('span', { class: 'bar' });
    bar.style.width = `${(counts[i] / max) * 100}%`;
    return el('div', { class: 'bin', 'data-count': counts[i] }, el('span', { class: 'range' }, label), el('span', { class: 'track' }, bar), el('span', { class: 'count' }, String(counts[i])));
  });
  box.replaceChildren(
    el('p', { class: 'stats' }, values.length ? `${values.length} detections · median ${ms(q(0.5))} · p90 ${ms(q(0.9))} · max ${ms(sorted[sorted.length - 1])}` : 'no detections yet: kill an owner, or switch chaos on'),
    ...rows,
  );
}

// ---- the stream ----------------------------------------------------------------------

function drawView(v) {
  view = v;
  drawHeader(v);
  drawCards(v);
  drawPanel(v);
}

function connect() {
  if (!token) {
    $('connection').textContent = 'no token: open the address the lab printed';
    return;
  }
  const source = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
  source.onopen = () => ($('connection').textContent = 'live');
  source.onerror = () => ($('connection').textContent = 'reconnecting…');
  source.addEventListener('hello', (m) => {
    const data = JSON.parse(m.data);
    entries.clear();
    $('timeline').replaceChildren();
    for (const e of data.timeline) addEntry(e);
    drawView(data.view);
    drawHistogram();
    document.body.dataset.ready = 'true';
  });
  source.addEventListener('view', (m) => drawView(JSON.parse(m.data)));
  source.addEventListener('entry', (m) => {
    addEntry(JSON.parse(m.data));
    drawHistogram();
  });
  source.addEventListener('bye', () => {
    source.close();
    $('connection').textContent = 'the lab quit';
    document.body.classList.add('ended');
    for (const b of document.querySelectorAll('button')) b.disabled = true;
  });
}

connect();
