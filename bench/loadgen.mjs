// Load generator for bench/token-throughput.ts, run in a child process (child_process.fork) so that
// autocannon's own HTTP client work does not share the server's event loop. Plain JavaScript on
// purpose: it starts with bare `node`, no tsx loader.
//
// Protocol: the parent sends one message { url, body, connections, warmupSeconds, durationSeconds };
// the child answers { warmup, result, cpuMicros } (autocannon results, its own CPU time) or { error }
// and exits.
import autocannon from 'autocannon';

function run(options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

process.once('message', async (message) => {
  const before = process.cpuUsage();
  try {
    const request = {
      url: message.url,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: message.body,
      connections: message.connections,
      pipelining: 1,
    };
    const warmup = message.warmupSeconds > 0 ? await run({ ...request, duration: message.warmupSeconds }) : undefined;
    const result = await run({ ...request, duration: message.durationSeconds });
    const cpu = process.cpuUsage(before);
    process.send({ warmup, result, cpuMicros: cpu.user + cpu.system }, () => process.exit(0));
  } catch (error) {
    process.send({ error: String(error?.stack ?? error) }, () => process.exit(1));
  }
});
