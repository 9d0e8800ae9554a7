'use strict';
// Drives the real upstream JS client (@eleven-am/pondsocket-client, installed by
// tests/compat/install_clients.py) against a running server through one scenario.
//
//   node driver.js <ws-or-http-url-of-the-endpoint> <scenario>
//
// Prints one JSON object per line: an observation per client-visible event (connection and
// channel state changes, presence callbacks, messages, raw frames in and out, errors), then a
// final {"result": "pass" | "fail", ...} line. Exits 0 on pass, 1 on fail, 2 on bad usage.
// The module path of the installed clients comes from NODE_PATH.

const T0 = Date.now();
const observations = [];
const waiters = new Set();

const MAX_PRINTED_STRING = 2000;

// Long strings (large payloads) are shortened in the printed line only.
function shorten(key, value) {
  if (typeof value === 'string' && value.length > MAX_PRINTED_STRING) {
    return `${value.slice(0, 40)}...<${value.length} chars>`;
  }
  return value;
}

function emit(obj) {
  const line = { t: Date.now() - T0, ...obj };
  observations.push(line);
  process.stdout.write(`${JSON.stringify(line, shorten)}\n`);
  for (const waiter of [...waiters]) waiter.check();
}

let finished = false;

function finish(ok, extra) {
  if (finished) return;
  finished = true;
  emit({ result: ok ? 'pass' : 'fail', scenario: SCENARIO, ...extra });
  // Exit only once everything printed has reached the pipe.
  process.stdout.write('', () => process.exit(ok ? 0 : 1));
}

process.on('uncaughtException', (err) => {
  finish(false, { error: `uncaught exception in the client: ${err && err.stack ? err.stack : err}` });
});
process.on('unhandledRejection', (err) => {
  finish(false, { error: `unhandled rejection: ${err && err.stack ? err.stack : err}` });
});

function parse(text) {
  try {
    return JSON.parse(text);
  } catch (e) {
    return text;
  }
}

// Resolves once pred() is true; re-checked on every observation and on a slow tick.
function until(pred, what, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    let timer;
    let tick;
    const waiter = {
      check() {
        let value;
        try {
          value = pred();
        } catch (e) {
          value = false;
        }
        if (value) {
          waiters.delete(waiter);
          clearTimeout(timer);
          clearInterval(tick);
          resolve(value);
        }
      },
    };
    timer = setTimeout(() => {
      waiters.delete(waiter);
      clearInterval(tick);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    tick = setInterval(() => waiter.check(), 50);
    waiters.add(waiter);
    waiter.check();
  });
}

function withTimeout(promise, what, timeoutMs = 5000) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

const find = (pred) => observations.find(pred);
const filter = (pred) => observations.filter(pred);

const [URL_ARG, SCENARIO] = process.argv.slice(2);
if (!URL_ARG || !SCENARIO) {
  process.stderr.write('usage: node driver.js <url> <scenario>\n');
  process.exit(2);
}

const upstream = require('@eleven-am/pondsocket-client');
const { PondClient, SSEClient } = upstream;
const ROOM = `/chat/${SCENARIO}-${Math.random().toString(36).slice(2, 10)}`;
const UNICODE_TEXT = 'h\u00e9llo from B \u2713 \ud83d\ude00 \u65e5\u672c';
const ORDERING_COUNT = 50;
const LARGE_REPEAT = 40000; // 120k characters, ~240 KB of UTF-8
const TOO_LARGE_BYTES = 1536 * 1024;
const WS_URL = URL_ARG.replace(/^http/, 'ws');
const HTTP_URL = URL_ARG.replace(/^ws/, 'http');

// -- tracing the raw frames -----------------------------------------------------------------

function traceWebSocket(client, label) {
  const connect = client.connect;
  // The client reconnects by calling this.connect(), so the instance property catches that too.
  client.connect = function tracedConnect() {
    connect.call(this);
    const socket = this._socket;
    const { onopen, onmessage, onclose, onerror } = socket;
    socket.onopen = (e) => {
      emit({ client: label, event: 'ws_open' });
      return onopen(e);
    };
    socket.onmessage = (m) => {
      emit({ client: label, event: 'frame_in', frame: parse(m.data) });
      try {
        return onmessage(m);
      } catch (err) {
        emit({ client: label, event: 'client_exception', error: String(err) });
        throw err;
      }
    };
    socket.onerror = (e) => {
      emit({ client: label, event: 'ws_error' });
      return onerror(e);
    };
    socket.onclose = (e) => {
      emit({ client: label, event: 'ws_close', code: e.code, reason: e.reason });
      return onclose(e);
    };
    if (socket._client) {
      socket._client.on('connectFailed', (err) => {
        emit({ client: label, event: 'connect_failed', error: String(err && err.message ? err.message : err) });
      });
    }
    const send = socket.send.bind(socket);
    socket.send = (data) => {
      emit({ client: label, event: 'frame_out', frame: parse(data) });
      return send(data);
    };
  };
}

let sseLabel = 'S';

function installEventSource() {
  const { EventSource } = require('eventsource');
  class TracedEventSource extends EventSource {
    constructor(url, init) {
      super(url, init);
      emit({ client: sseLabel, event: 'sse_open_request', url: String(url) });
      this.addEventListener('open', () => emit({ client: sseLabel, event: 'sse_open' }));
      this.addEventListener('message', (e) => emit({ client: sseLabel, event: 'frame_in', frame: parse(e.data) }));
      this.addEventListener('error', (e) => emit({ client: sseLabel, event: 'sse_error', code: e.code, message: e.message }));
    }
  }
  globalThis.EventSource = TracedEventSource;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init = {}) => {
    const method = (init.method || 'GET').toUpperCase();
    if (method === 'GET') return realFetch(input, init);
    const res = await realFetch(input, init);
    emit({
      client: sseLabel,
      event: method === 'POST' ? 'frame_out' : 'sse_delete',
      frame: init.body === undefined ? undefined : parse(init.body),
      status: res.status,
      url: String(input),
    });
    return res;
  };
}

// -- clients and channels ---------------------------------------------------------------------

const state = {};

function watchClient(client, label) {
  state[label] = { conn: client.getState() };
  client.onConnectionChange((s) => {
    state[label].conn = s;
    emit({ client: label, event: 'connection_state', state: s });
  });
  client.onError((err) => emit({ client: label, event: 'client_error', error: String(err && err.message ? err.message : err) }));
}

function makeClient(label, params = { token: 'secret' }, options = {}) {
  const client = new PondClient(WS_URL, params, options);
  traceWebSocket(client, label);
  watchClient(client, label);
  return client;
}

function makeSSEClient(label, params = { token: 'secret' }) {
  sseLabel = label;
  installEventSource();
  const client = new SSEClient(HTTP_URL, params);
  watchClient(client, label);
  return client;
}

function join(client, label, name, params) {
  const channel = client.createChannel(name, params);
  const ch = { channel, state: channel.channelState };
  state[`${label}:${name}`] = ch;
  channel.onChannelStateChange((s) => {
    ch.state = s;
    emit({ client: label, channel: name, event: 'channel_state', state: s });
  });
  channel.onJoin((changed) => emit({ client: label, channel: name, event: 'presence_join', changed }));
  channel.onLeave((changed) => emit({ client: label, channel: name, event: 'presence_leave', changed }));
  channel.onPresenceChange((payload) => emit({ client: label, channel: name, event: 'presence_update', payload }));
  channel.onUsersChange((users) => emit({ client: label, channel: name, event: 'users', users }));
  channel.onMessage((event, payload) => emit({ client: label, channel: name, event: 'message', name: event, payload }));
  channel.join();
  return channel;
}

const connected = (label) => until(() => state[label].conn === 'connected', `${label} to be connected`);
const channelIs = (label, name, s, ms) => until(() => state[`${label}:${name}`].state === s, `${label} on ${name} to be ${s}`, ms);
const saw = (label, event, pred = () => true, what = event, ms = 10000) =>
  until(() => find((o) => o.client === label && o.event === event && pred(o)), `${label} to see ${what}`, ms);
const frames = (label, pred = () => true) =>
  filter((o) => o.client === label && o.event === 'frame_in' && typeof o.frame === 'object' && pred(o.frame));

async function request(channel, label, event, payload) {
  const reply = await withTimeout(channel.sendForResponse(event, payload), `a reply to ${event}`);
  emit({ client: label, event: 'response', request: event, payload: reply });
  return reply;
}

// alice (A) joins first, then bob (B): each sees the JOINs that follow its own.
async function two() {
  const a = makeClient('A');
  const b = makeClient('B');
  a.connect();
  b.connect();
  const ca = join(a, 'A', ROOM, { name: 'alice' });
  await channelIs('A', ROOM, 'JOINED');
  await saw('A', 'presence_join', (o) => o.changed.name === 'alice', 'its own JOIN');
  const cb = join(b, 'B', ROOM, { name: 'bob' });
  await channelIs('B', ROOM, 'JOINED');
  await saw('A', 'presence_join', (o) => o.changed.name === 'bob', "bob's JOIN");
  await saw('B', 'presence_join', (o) => o.changed.name === 'bob', 'its own JOIN');
  return { a, b, ca, cb };
}

// -- scenarios ------------------------------------------------------------------------------

const scenarios = {
  async connect() {
    const a = makeClient('A');
    a.connect();
    await connected('A');
    const connect = frames('A', (f) => f.action === 'CONNECT')[0];
    return { state: a.getState(), connect_frame: connect && connect.frame };
  },

  async connect_declined() {
    const a = makeClient('A', { token: 'wrong' });
    a.connect();
    await until(() => find((o) => o.client === 'A' && (o.event === 'connect_failed' || o.event === 'ws_close')),
      'the handshake to fail');
    await saw('A', 'connection_state', (o) => o.state === 'disconnected', 'state disconnected');
    const failed = find((o) => o.event === 'connect_failed');
    return {
      ever_connected: Boolean(find((o) => o.event === 'connection_state' && o.state === 'connected')),
      error: failed && failed.error,
    };
  },

  async join_accepted() {
    const a = makeClient('A');
    a.connect();
    join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    await saw('A', 'presence_join', (o) => o.changed.name === 'alice', 'its own presence JOIN');
    return { state: state[`A:${ROOM}`].state, presence: state[`A:${ROOM}`].channel.presence };
  },

  async join_declined() {
    const a = makeClient('A');
    a.connect();
    join(a, 'A', ROOM, { name: 'mallory', deny: true });
    await channelIs('A', ROOM, 'DECLINED');
    return { state: state[`A:${ROOM}`].state };
  },

  async join_unknown() {
    const a = makeClient('A');
    a.connect();
    join(a, 'A', '/nope/1', { name: 'alice' });
    await channelIs('A', '/nope/1', 'DECLINED');
    return { state: state['A:/nope/1'].state };
  },

  async broadcast() {
    const { ca, cb } = await two();
    ca.sendMessage('message', { text: 'hello from A' });
    await saw('A', 'message', (o) => o.name === 'message' && o.payload.text === 'hello from A', 'its own message');
    await saw('B', 'message', (o) => o.name === 'message' && o.payload.text === 'hello from A', "A's message");
    cb.sendMessage('message', { text: UNICODE_TEXT });
    await saw('A', 'message', (o) => o.name === 'message' && o.payload.text === UNICODE_TEXT, "B's message");
    return {};
  },

  async presence() {
    const { cb } = await two();
    cb.sendMessage('status', { status: 'away' });
    await saw('A', 'presence_update', (o) => o.payload.changed.name === 'bob' && o.payload.changed.status === 'away', "bob's UPDATE");
    await saw('B', 'presence_update', (o) => o.payload.changed.status === 'away', 'its own UPDATE');
    const presenceAfterUpdate = state[`A:${ROOM}`].channel.presence;
    cb.leave();
    await saw('A', 'presence_leave', (o) => o.changed.name === 'bob', "bob's LEAVE");
    return { presence_after_update: presenceAfterUpdate, presence_after_leave: state[`A:${ROOM}`].channel.presence };
  },

  async request_reply() {
    const a = makeClient('A');
    a.connect();
    const ca = join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    const reply = await request(ca, 'A', 'ping', {});
    return { reply };
  },

  async unknown_event() {
    const a = makeClient('A');
    a.connect();
    const ca = join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    const reply = await request(ca, 'A', 'no_such_event', {});
    const pong = await request(ca, 'A', 'ping', {});
    return { reply, pong, state: state[`A:${ROOM}`].state };
  },

  async leave() {
    const { a, ca, cb } = await two();
    ca.leave();
    await channelIs('A', ROOM, 'CLOSED');
    await saw('B', 'presence_leave', (o) => o.changed.name === 'alice', "alice's LEAVE");
    await until(() => frames('A', (f) => f.event === 'EXIT_ACKNOWLEDGE').length, 'EXIT_ACKNOWLEDGE for A');
    cb.sendMessage('message', { text: 'after leave' });
    await saw('B', 'message', (o) => o.payload.text === 'after leave', 'its own message');
    // A is no longer a member: ping A's connection through another channel to be sure every
    // frame the server had for it has arrived before we look.
    const other = join(a, 'A', `${ROOM}-probe`, { name: 'alice' });
    await channelIs('A', `${ROOM}-probe`, 'JOINED');
    await request(other, 'A', 'ping', {});
    const leaked = frames('A', (f) => f.channelName === ROOM && f.action === 'BROADCAST');
    // Joining the same channel again works (the client makes a new channel once CLOSED).
    const again = join(a, 'A', ROOM, { name: 'alice' });
    await until(() => again.channelState === 'JOINED', 'A to rejoin');
    await saw('B', 'presence_join', (o) => o.changed.name === 'alice', "alice's second JOIN");
    return { leaked_after_leave: leaked.map((o) => o.frame), rejoined: again.channelState };
  },

  async evict() {
    const { ca } = await two();
    ca.sendMessage('kick', { ids: ['bob'] });
    await saw('B', 'message', (o) => o.name === 'EVICTED', 'EVICTED');
    await saw('A', 'presence_leave', (o) => o.changed.name === 'bob', "bob's LEAVE");
    return { b_state_after_evict: state[`B:${ROOM}`].state };
  },

  async legacy_ping() {
    const a = makeClient('A', { token: 'secret' }, { pingInterval: 50 });
    a.connect();
    const ca = join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    await until(() => filter((o) => o.client === 'A' && o.event === 'frame_out' && o.frame.action === 'ping').length >= 3,
      'three {"action":"ping"} frames to be sent');
    const reply = await request(ca, 'A', 'ping', {});
    return { reply, errors: frames('A', (f) => f.action === 'ERROR').map((o) => o.frame) };
  },

  async reconnect() {
    const a = makeClient('A');
    a.connect();
    join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    emit({ client: 'A', event: 'ready_for_restart' });
    await channelIs('A', ROOM, 'STALLED', 30000);
    await channelIs('A', ROOM, 'JOINED', 45000);
    const joins = filter((o) => o.client === 'A' && o.event === 'frame_out' && o.frame.action === 'JOIN_CHANNEL');
    const ch = state[`A:${ROOM}`].channel;
    const reply = await request(ch, 'A', 'ping', {});
    ch.sendMessage('message', { text: 'after restart' });
    await saw('A', 'message', (o) => o.payload.text === 'after restart', 'its broadcast after the restart');
    return { reply, join_frames_sent: joins.length, opens: filter((o) => o.event === 'ws_open').length };
  },

  async ordering() {
    const a = makeClient('A');
    a.connect();
    const ca = join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    for (let i = 0; i < ORDERING_COUNT; i += 1) ca.sendMessage('message', { seq: i });
    const reply = await request(ca, 'A', 'ping', {});
    const seqs = filter((o) => o.client === 'A' && o.event === 'message' && o.name === 'message').map((o) => o.payload.seq);
    return { reply, seqs_before_reply: seqs };
  },

  async disconnect() {
    const { a } = await two();
    a.disconnect();
    await saw('B', 'presence_leave', (o) => o.changed.name === 'alice', "alice's LEAVE after her disconnect");
    return { presence: state[`B:${ROOM}`].channel.presence };
  },

  async sse_declined() {
    const s = makeSSEClient('S', { token: 'wrong' });
    s.connect();
    const err = await saw('S', 'sse_error', () => true, 'the stream to be refused');
    s.disconnect();
    return {
      ever_connected: Boolean(find((o) => o.event === 'connection_state' && o.state === 'connected')),
      status: err.code,
    };
  },

  async sse_reconnect() {
    const s = makeSSEClient('S');
    s.connect();
    const cs = join(s, 'S', ROOM, { name: 'sse-user' });
    await channelIs('S', ROOM, 'JOINED');
    emit({ client: 'S', event: 'ready_for_restart' });
    await channelIs('S', ROOM, 'STALLED', 30000);
    await channelIs('S', ROOM, 'JOINED', 45000);
    const reply = await request(cs, 'S', 'ping', {});
    const connects = frames('S', (f) => f.action === 'CONNECT').length;
    const joinPosts = filter((o) => o.client === 'S' && o.event === 'frame_out' && o.frame.action === 'JOIN_CHANNEL');
    s.disconnect();
    return { reply, connects, join_posts: joinPosts.map((o) => o.status) };
  },

  async double_join() {
    // An app calling join() twice before the socket is up sends two JOINs for one channel:
    // the second must not decline (or otherwise break) the channel the first one joined.
    const a = makeClient('A');
    const ch = a.createChannel(ROOM, { name: 'alice' });
    ch.join();
    join(a, 'A', ROOM, { name: 'alice' });
    a.connect();
    await channelIs('A', ROOM, 'JOINED');
    await until(() => filter((o) => o.client === 'A' && o.event === 'frame_out' && o.frame.action === 'JOIN_CHANNEL').length === 2,
      'both JOINs to be sent');
    const reply = await request(ch, 'A', 'ping', {});
    return { reply, state: state[`A:${ROOM}`].state };
  },

  async channel_names() {
    // The server must echo the channel name exactly as requested (query string, non-ASCII):
    // the client routes every frame by it.
    const a = makeClient('A');
    a.connect();
    const names = [`${ROOM}?lang=en&x=1`, `${ROOM}-caf\u00e9-\u65e5\u672c`, `${ROOM}-a%20b`];
    const replies = {};
    for (const name of names) {
      const ch = join(a, 'A', name, { name: 'alice' });
      await channelIs('A', name, 'JOINED');
      replies[name] = await request(ch, 'A', 'ping', {});
    }
    return { replies };
  },

  async large_message() {
    const a = makeClient('A');
    a.connect();
    const ca = join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    const text = 'x\u00e9\u2713'.repeat(LARGE_REPEAT);
    ca.sendMessage('message', { text });
    await saw('A', 'message', (o) => o.name === 'message' && o.payload.text === text, 'the large message back');
    return { length: text.length };
  },

  async too_large() {
    const a = makeClient('A');
    a.connect();
    const ca = join(a, 'A', ROOM, { name: 'alice' });
    await channelIs('A', ROOM, 'JOINED');
    let answer = null;
    try {
      answer = await withTimeout(ca.sendForResponse('message', { blob: 'y'.repeat(TOO_LARGE_BYTES) }), 'an answer to the oversized message', 3000);
      emit({ client: 'A', event: 'response', request: 'message', payload: answer });
    } catch (err) {
      emit({ client: 'A', event: 'no_answer', error: String(err.message || err) });
    }
    const reply = await request(ca, 'A', 'ping', {});
    const errors = frames('A', (f) => f.action === 'ERROR').map((o) => o.frame);
    return { answer, reply, errors, still_connected: state.A.conn === 'connected' };
  },

  async sse() {
    const s = makeSSEClient('S');
    const b = makeClient('B');
    s.connect();
    b.connect();
    await connected('S');
    const cs = join(s, 'S', ROOM, { name: 'sse-user' });
    await channelIs('S', ROOM, 'JOINED');
    await saw('S', 'presence_join', (o) => o.changed.name === 'sse-user', 'its own JOIN');
    const cb = join(b, 'B', ROOM, { name: 'bob' });
    await channelIs('B', ROOM, 'JOINED');
    await saw('S', 'presence_join', (o) => o.changed.name === 'bob', "bob's JOIN");
    cb.sendMessage('message', { text: 'from ws' });
    await saw('S', 'message', (o) => o.name === 'message' && o.payload.text === 'from ws', 'the WebSocket message');
    cs.sendMessage('message', { text: 'from sse' });
    await saw('B', 'message', (o) => o.name === 'message' && o.payload.text === 'from sse', 'the SSE message');
    const reply = await request(cs, 'S', 'ping', {});
    cs.sendMessage('status', { status: 'away' });
    await saw('B', 'presence_update', (o) => o.payload.changed.name === 'sse-user' && o.payload.changed.status === 'away', 'the SSE UPDATE');
    s.disconnect();
    await saw('B', 'presence_leave', (o) => o.changed.name === 'sse-user', 'the SSE LEAVE');
    await saw('S', 'sse_delete', () => true, 'the DELETE answer');
    return { reply, connection_id: s.getConnectionId() === undefined ? 'cleared' : 'kept' };
  },
};

async function main() {
  const run = scenarios[SCENARIO];
  if (!run) {
    process.stderr.write(`unknown scenario ${SCENARIO}; known: ${Object.keys(scenarios).join(', ')}\n`);
    process.exit(2);
  }
  emit({
    event: 'start',
    scenario: SCENARIO,
    room: ROOM,
    client_version: require('@eleven-am/pondsocket-client/package.json').version,
  });
  try {
    const summary = await withTimeout(run(), `scenario ${SCENARIO}`, 90000);
    finish(true, { summary });
  } catch (err) {
    finish(false, { error: String(err && err.message ? err.message : err) });
  }
}

main();
