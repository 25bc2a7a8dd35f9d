// Load generator: N Socket.IO clients spread over outlet rooms, each subscribed like a browser.
// Reads a JSON config on argv[2], prints one JSON result line when done.
//   {url, cookie, clients, outlets: [...], seconds, mode: "rooms"|"broadcast", extra_all: n,
//    batch: clients connecting at once (200), pause_ms: between batches (0)}
// Event invoices carry their publish time: "B-<epoch ns>-<seq>", so latency = receive - publish.
import { io } from "socket.io-client";

const config = JSON.parse(process.argv[2]);
const latencies = [];
let delivered = 0;
let misrouted = 0;
let bytes = 0;
let connected = 0;
let subscribed = 0;
const sockets = [];

function record(socket, event) {
  const now = process.hrtime.bigint() + offset;
  const published = BigInt(event.invoice.split("-")[1]);
  latencies.push(Number(now - published) / 1e6);
  delivered += 1;
  bytes += JSON.stringify(event).length;
  if (!socket.watching.has(event.outlet)) misrouted += 1;
}

// hrtime is monotonic; align it once with the wall clock the publisher uses.
const offset = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();

// Clients come from many loopback addresses, as browsers come from many hosts.
const spread = (index) => `127.0.0.${2 + (index % 250)}`;

function connect(index) {
  return new Promise((resolve) => {
    const socket = io(config.url, {
      transports: ["websocket"],
      extraHeaders: config.cookie ? { Cookie: config.cookie } : {},
      reconnection: false,
      forceNew: true,
      localAddress: spread(index), // the proxy is sticky by client address
    });
    const headOffice = index < (config.extra_all || 0);
    // The outlets this client's person may see; with the broadcast baseline it cannot choose,
    // so everything else it receives counts as misrouted (Frappe's leak).
    const assigned = headOffice ? config.outlets : [config.outlets[index % config.outlets.length]];
    const outlets = config.mode === "broadcast" ? [] : assigned;
    socket.watching = new Set(assigned);
    socket.on("live_pos_sale", (event) => record(socket, event));
    socket.on("connect", async () => {
      connected += 1;
      for (const outlet of outlets) {
        const ack = await socket.timeout(30000).emitWithAck("subscribe", { outlet, after: null }).catch(() => null);
        if (ack && ack.ok) subscribed += 1;
      }
      resolve();
    });
    socket.on("connect_error", () => resolve());
    setTimeout(resolve, 30000); // a client that never gets in is reported, not waited for
    sockets.push(socket);
  });
}

const started = Date.now();
const batch = config.batch || 200;
for (let i = 0; i < config.clients; i += batch) {
  await Promise.all(Array.from({ length: Math.min(batch, config.clients - i) }, (_, j) => connect(i + j)));
  if (config.pause_ms) await new Promise((resolve) => setTimeout(resolve, config.pause_ms));
}
process.stdout.write(JSON.stringify({ ready: true, connected, subscribed, setup_s: (Date.now() - started) / 1000 }) + "\n");

// Wait for the orchestrator to say the load is over, then report.
process.stdin.once("data", () => {
  latencies.sort((a, b) => a - b);
  const pick = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : null);
  const result = {
    connected, subscribed, delivered, misrouted, bytes,
    p50: pick(0.5), p95: pick(0.95), p99: pick(0.99), max: latencies.length ? latencies[latencies.length - 1] : null,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
  for (const socket of sockets) socket.close();
  process.exit(0);
});
