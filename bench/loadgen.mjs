// Load generator for bench/token-throughput.ts, run in a child process (child_process.fork) so that
// autocannon's own HTTP client work does not share the server's event loop. Plain JavaScript on
// purpose: it starts with bare `node`, no tsx loader.
//
// Protocol: the parent sends { type: 'run', url, body, connections, seconds } as often as it likes
// (the bench alternates load rounds with raw-signing windows); the child answers each with
// { result, cpuMicros } (the autocannon result and its own CPU time during the run) or { error }.
// { type: 'exit' } ends it.
import autocannon from 'autocannon';

function run(options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

process.on('message', async (message) => {
  if (message.type === 'exit') process.exit(0);
  const before = process.cpuUsage();
  try {
    const result = await run({
      url: message.url,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: message.body,
      connections: message.connections,
      pipelining: 1,
      duration: message.seconds,
    });
    const cpu = process.cpuUsage(before);
    process.send({ result, cpuMicros: cpu.user + cpu.system });
  } catch (error) {
    process.send({ error: String(error?.stack ?? error) });
  }
});
