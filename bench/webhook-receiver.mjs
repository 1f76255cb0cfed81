// Webhook receiver for bench/webhook-burst.ts, in a child process so that receiving does not share
// Gatehouse's event loop. Plain JavaScript (bare node). Answers 200 to every POST, counts distinct
// event ids, and tells the parent { listening: port } once, then { received: n } when n reaches
// the target it was given ({ expect: n }).
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
server.listen(0, '127.0.0.1', () => process.send({ listening: server.address().port }));
process.on('message', (message) => {
  if (message.expect !== undefined) expected = message.expect;
  if (message.exit) process.exit(0);
});
