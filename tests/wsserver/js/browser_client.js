'use strict';
// The upstream JS client as a browser runs it: its browser build (the package picks it when
// `window` exists) over a standard WebSocket, Node 20's own (--experimental-websocket), which
// offers permessage-deflate as browsers do. Two clients join CHANNEL, the first broadcasts
// COUNT messages of SIZE characters, and both must receive all of them intact.
//
//   NODE_PATH=<node_modules> node --experimental-websocket browser_client.js URL CHANNEL SIZE COUNT
//
// Prints one JSON line: {"ok": bool, "extensions": [...], "received": [n, n], "error": ...}.

const [url, channel, size, count] = process.argv.slice(2);
const SIZE = Number(size);
const COUNT = Number(count);
const extensions = [];

class RecordingWebSocket extends globalThis.WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('open', () => extensions.push(this.extensions));
  }
}
globalThis.WebSocket = RecordingWebSocket;
globalThis.window = globalThis;
const { PondClient } = require('@eleven-am/pondsocket-client');
const { ChannelState } = require('@eleven-am/pondsocket-common');

function done(ok, extra) {
  process.stdout.write(`${JSON.stringify({ ok, extensions, ...extra })}\n`, () => process.exit(ok ? 0 : 1));
}
setTimeout(() => done(false, { error: 'timed out', received }), 10000);

const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'theta', 'kappa'];
const texts = [];
for (let m = 0; m < COUNT; m += 1) {
  let text = '';
  for (let i = 0; text.length < SIZE; i += 1) text += `${words[(i * 5 + m) % words.length]} `;
  texts.push(text.slice(0, SIZE));
}

const clients = [new PondClient(url), new PondClient(url)];
const received = [0, 0];
let joined = 0;
const channels = clients.map((client, k) => {
  client.connect();
  const ch = client.createChannel(channel, {});
  ch.onMessage((event, payload) => {
    if (event !== 'said') return;
    if (payload.text !== texts[received[k]]) {
      done(false, { error: `client ${k} got message ${received[k]} wrong`, received });
      return;
    }
    received[k] += 1;
    if (received[0] === COUNT && received[1] === COUNT) done(true, { received });
  });
  ch.onChannelStateChange((state) => {
    if (state !== ChannelState.JOINED) return;
    joined += 1;
    if (joined === 2) texts.forEach((text) => channels[0].sendMessage('say', { text }));
  });
  ch.join();
  return ch;
});
