import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { addressProblem, OutboundRequestRefused, outboundFetch, outboundPoster } from '../src/http/outbound.ts';

/** A server on 127.0.0.1 and a random port, counting the connections made to it. */
async function loopbackServer(handler: http.RequestListener) {
  const server = http.createServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

const publicOnly = { allowPrivateNetwork: false };
const local = { allowPrivateNetwork: true };

describe('which addresses outbound requests may reach', () => {
  const refused = ['127.0.0.1', '127.8.9.10', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '::ffff:7f00:1'];
  for (const address of refused) {
    it(`refuses ${address}`, () => assert.ok(addressProblem(address, publicOnly)));
  }
  for (const address of ['8.8.8.8', '140.82.112.3', '2001:4860:4860::8888']) {
    it(`allows ${address}`, () => assert.equal(addressProblem(address, publicOnly), undefined));
  }
  it('allows everything when the private network is allowed (local development, tests)', () => {
    assert.equal(addressProblem('127.0.0.1', local), undefined);
  });
});

describe('outbound fetch', () => {
  let server: Awaited<ReturnType<typeof loopbackServer>>;
  let origin: string;
  const connections = () => server.connections();

  before(async () => {
    server = await loopbackServer((request, response) => {
      if (request.url === '/redirect') return response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (request.url === '/large') return response.end(Buffer.alloc(2 * 1024 * 1024, 'x'));
      if (request.url === '/silent') return;
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => response.writeHead(200, { 'content-type': 'application/json', 'x-seen': 'yes' }).end(JSON.stringify({ method: request.method, body })));
    });
    origin = server.origin;
  });

  after(() => server.close());

  it('refuses loopback by address and by name before connecting, and plain http, unless the private network is allowed', async () => {
    const before = connections();
    await assert.rejects(outboundFetch(publicOnly)(`${origin}/`), OutboundRequestRefused);
    await assert.rejects(outboundFetch(publicOnly)(`https://127.0.0.1:${new URL(origin).port}/`), /not a public address/);
    await assert.rejects(outboundFetch(publicOnly)(`https://localhost:${new URL(origin).port}/`), /localhost: .*not a public address/);
    assert.equal(connections(), before, 'no connection was made');
  });

  it('sends and answers like fetch when allowed', async () => {
    const response = await outboundFetch(local)(`${origin}/echo`, { method: 'POST', body: new URLSearchParams({ a: '1' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-seen'), 'yes');
    assert.deepEqual(await response.json(), { method: 'POST', body: 'a=1' });
  });

  it('returns a redirect instead of following it', async () => {
    const response = await outboundFetch(local)(`${origin}/redirect`);
    assert.equal(response.status, 302);
  });

  it('refuses a response over the size limit and a server that does not answer in time', async () => {
    await assert.rejects(outboundFetch({ ...local, maxBytes: 1024 * 1024 })(`${origin}/large`), /larger than/);
    await assert.rejects(outboundFetch({ ...local, timeoutMs: 200 })(`${origin}/silent`), /did not answer within 200 ms/);
  });
});

describe('outbound poster (webhook deliveries)', () => {
  let server: Awaited<ReturnType<typeof loopbackServer>>;
  let origin: string;
  const connections = () => server.connections();
  let endless = 0;
  const posted: string[] = [];

  before(async () => {
    server = await loopbackServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        posted.push(`${request.url} ${request.headers['content-type']} ${body}`);
        if (request.url === '/redirect') return response.writeHead(307, { location: `${origin}/elsewhere` }).end();
        if (request.url === '/silent') return;
        if (request.url === '/endless') {
          // An answer that never ends: the poster must stop reading (64 KB) rather than wait for it.
          response.writeHead(200);
          const more = () => {
            while (!response.destroyed && response.write(Buffer.alloc(16 * 1024, 'x'))) endless += 16 * 1024;
            if (!response.destroyed) response.once('drain', more);
          };
          return more();
        }
        if (request.url === '/once-per-connection') {
          // Answers the first request of each connection and drops the connection at the second.
          const socket = request.socket as typeof request.socket & { served?: boolean };
          if (socket.served) return socket.destroy();
          socket.served = true;
        }
        response.writeHead(request.url === '/missing' ? 404 : 204).end();
      });
    });
    origin = server.origin;
  });

  after(() => server.close());

  it('posts the body and answers with the status, over one kept-alive connection', async () => {
    const poster = outboundPoster(local);
    try {
      const before = connections();
      assert.equal(await poster.post(`${origin}/in`, 'eyJ.one', 'application/jwt'), 204);
      assert.equal(await poster.post(`${origin}/missing`, 'eyJ.two', 'application/jwt'), 404);
      assert.equal(await poster.post(`${origin}/in`, 'eyJ.three', 'application/jwt'), 204);
      assert.deepEqual(posted.slice(-3), ['/in application/jwt eyJ.one', '/missing application/jwt eyJ.two', '/in application/jwt eyJ.three']);
      assert.equal(connections() - before, 1, 'one connection for three deliveries');
    } finally {
      poster.close();
    }
  });

  it('sends again on a new connection when a kept-alive one turns out closed', async () => {
    const poster = outboundPoster(local);
    try {
      const before = connections();
      assert.equal(await poster.post(`${origin}/once-per-connection`, 'first', 'application/jwt'), 204);
      assert.equal(await poster.post(`${origin}/once-per-connection`, 'second', 'application/jwt'), 204);
      assert.equal(connections() - before, 2);
    } finally {
      poster.close();
    }
  });

  it('refuses loopback by address and a name that DNS resolves to loopback, on every attempt, before connecting', async () => {
    const poster = outboundPoster(publicOnly);
    try {
      const before = connections();
      const port = new URL(origin).port;
      for (let attempt = 0; attempt < 2; attempt++) {
        await assert.rejects(poster.post(`https://127.0.0.1:${port}/in`, 'x', 'application/jwt'), /not a public address/);
        await assert.rejects(poster.post(`https://localhost:${port}/in`, 'x', 'application/jwt'), /localhost: .*not a public address/);
        await assert.rejects(poster.post(`${origin}/in`, 'x', 'application/jwt'), /http: requests are not allowed/);
      }
      assert.equal(connections(), before, 'no connection was made');
    } finally {
      poster.close();
    }
  });

  it('returns a redirect instead of following it', async () => {
    const poster = outboundPoster(local);
    try {
      assert.equal(await poster.post(`${origin}/redirect`, 'x', 'application/jwt'), 307);
      assert.ok(!posted.some((line) => line.startsWith('/elsewhere')), 'nothing reached the redirect target');
    } finally {
      poster.close();
    }
  });

  it('stops reading an answer after 64 KB and drops the connection', async () => {
    const poster = outboundPoster({ ...local, maxBytes: 64 * 1024 });
    try {
      assert.equal(await poster.post(`${origin}/endless`, 'x', 'application/jwt'), 200);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const written = endless;
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(endless, written, 'the receiver could write no more: the connection is closed');
    } finally {
      poster.close();
    }
  });

  it('gives up on a receiver that does not answer in time, and when stopped', async () => {
    const poster = outboundPoster({ ...local, timeoutMs: 200 });
    try {
      await assert.rejects(poster.post(`${origin}/silent`, 'x', 'application/jwt'), /did not answer within 200 ms/);
      const stop = new AbortController();
      const pending = poster.post(`${origin}/silent`, 'x', 'application/jwt', stop.signal);
      stop.abort();
      await assert.rejects(pending, { name: 'AbortError' });
    } finally {
      poster.close();
    }
  });
});
