import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { addressProblem, OutboundRequestRefused, outboundFetch } from '../src/http/outbound.ts';

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
  let server: http.Server;
  let origin: string;
  let connections = 0;

  before(async () => {
    server = http.createServer((request, response) => {
      if (request.url === '/redirect') return response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (request.url === '/large') return response.end(Buffer.alloc(2 * 1024 * 1024, 'x'));
      if (request.url === '/silent') return;
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => response.writeHead(200, { 'content-type': 'application/json', 'x-seen': 'yes' }).end(JSON.stringify({ method: request.method, body })));
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('refuses loopback by address and by name before connecting, and plain http, unless the private network is allowed', async () => {
    const before = connections;
    await assert.rejects(outboundFetch(publicOnly)(`${origin}/`), OutboundRequestRefused);
    await assert.rejects(outboundFetch(publicOnly)(`https://127.0.0.1:${new URL(origin).port}/`), /not a public address/);
    await assert.rejects(outboundFetch(publicOnly)(`https://localhost:${new URL(origin).port}/`), /localhost: .*not a public address/);
    assert.equal(connections, before, 'no connection was made');
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
