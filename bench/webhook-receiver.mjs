// Webhook receiver for bench/webhook-burst.ts, in a child process so that receiving does not share
// Gatehouse's event loop. Plain JavaScript (bare node). Answers 200 to every POST and counts distinct
// event ids. Tells the parent { listening: port } once; { expect: n } asks for { received } once n
// more distinct events than so far have arrived; { count: true } is answered with { count, cpuMicros }
// (its own CPU time so far: on one machine, the receiver competes with Gatehouse for the cores).
import http from 'node:http';

const seen = new Set();
let expected = Infinity;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const token = Buffer.concat(chunks).toString('utf8');
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    seen.add(payload.event_id);
    res.writeHead(200).end();
    if (seen.size >= expected) {
      process.send({ received: seen.size });
      expected = Infinity;
    }
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.send({ listening: server.address().port }));
process.on('message', (message) => {
  if (message.expect !== undefined) expected = seen.size + message.expect;
  if (message.count) {
    const { user, system } = process.cpuUsage();
    process.send({ count: seen.size, cpuMicros: user + system });
  }
  if (message.exit) process.exit(0);
});
