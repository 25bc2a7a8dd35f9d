// What Frappe's realtime server does, for comparison: every event on Frappe's Redis channel
// goes to every connected client of the site (socket.io 4, one Node process).
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createClient } from "redis";

const [port, redisUrl] = process.argv.slice(2);
const http = createServer();
const io = new Server(http, { cors: { origin: "*" } });
const subscriber = createClient({ url: redisUrl });
await subscriber.connect();
await subscriber.subscribe("events", (raw) => {
  const message = JSON.parse(raw);
  io.emit(message.event, message.message);
});
http.listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\n"));
