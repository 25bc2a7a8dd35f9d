// Reconnect storm: N clients of one outlet drop and come back within a window, each
// re-subscribing with the last id it saw. Driven over stdin/stdout by bench/storm.py.
import { io } from "socket.io-client";
import readline from "node:readline";

const config = JSON.parse(process.argv[2]);
const clients = [];
const lines = readline.createInterface({ input: process.stdin });
const say = (data) => process.stdout.write(JSON.stringify(data) + "\n");

function newSocket(client) {
  const socket = io(config.url, {
    transports: ["websocket"], extraHeaders: { Cookie: config.cookie }, reconnection: false, forceNew: true,
    localAddress: `127.0.0.${2 + (client.index % 250)}`, // the proxy is sticky by client address
  });
  socket.on("live_pos_sale", (event) => { client.received.add(event.invoice); client.lastId = event.id; });
  socket.on("daily_sales_update", (event) => { client.lastId = event.id; });
  return socket;
}

function subscribe(client) {
  return client.socket.timeout(60000).emitWithAck("subscribe", { outlet: config.outlet, after: client.lastId })
    .then((ack) => {
      for (const event of ack.events || []) if (event.invoice) client.received.add(event.invoice);
      if (ack.last_id) client.lastId = ack.last_id;
      return ack;
    });
}

function start(client) {
  return new Promise((resolve) => {
    client.socket = newSocket(client);
    client.socket.on("connect", () => subscribe(client).then(resolve, resolve));
    client.socket.on("connect_error", () => resolve(null));
  });
}

for (let i = 0; i < config.clients; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(config.clients, i + 100); j++) {
    const client = { index: j, received: new Set(), lastId: null };
    clients.push(client);
    batch.push(start(client));
  }
  await Promise.all(batch);
}
say({ ready: true, connected: clients.filter((c) => c.socket.connected).length });

lines.on("line", async (line) => {
  const order = JSON.parse(line);
  if (order.storm) {
    const began = Date.now();
    const times = [];
    let snapshots = 0;
    for (const client of clients) client.socket.close();
    await Promise.all(clients.map((client) => new Promise((resolve) => {
      setTimeout(async () => {
        const back = Date.now();
        const ack = await start(client);
        if (ack && ack.ok && ack.snapshot) snapshots += 1;
        times.push(Date.now() - back); // from this client's reconnect to its snapshot
        resolve();
      }, Math.random() * config.window_ms);
    })));
    times.sort((a, b) => a - b);
    const pick = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    say({ resynced: times.length, snapshots, p50_ms: pick(0.5), p99_ms: pick(0.99),
      max_ms: times[times.length - 1], all_done_ms: Date.now() - began });
  } else if (order.expected) {
    let missed = 0;
    let short = 0;
    for (const client of clients) {
      const lost = order.expected.filter((invoice) => !client.received.has(invoice)).length;
      missed += lost;
      if (lost) short += 1;
    }
    say({ missed, clients_missing: short });
    for (const client of clients) client.socket.close();
    process.exit(0);
  }
});
