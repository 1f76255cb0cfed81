import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  contentType: string | undefined;
  body: string;
}

type Answer = { status: number; body?: string | Buffer; headers?: Record<string, string> } | 'hang';

/**
 * A webhook receiver on 127.0.0.1 and a random port. It answers what `answer` says (200 by default),
 * keeps every request, and lets a test await the moment a condition on them holds: no sleeps.
 */
export class WebhookReceiver {
  readonly requests: Delivery[] = [];
  answer: (delivery: Delivery, index: number) => Answer = () => ({ status: 200 });
  private readonly server = http.createServer((req, res) => this.receive(req, res));
  private readonly waiters = new Set<() => void>();
  private readonly hanging = new Set<http.ServerResponse>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const delivery = { contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') };
      this.requests.push(delivery);
      const answer = this.answer(delivery, this.requests.length - 1);
      if (answer === 'hang') this.hanging.add(res);
      else {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      }
      for (const waiter of this.waiters) waiter();
    });
  }

  /** Resolves once `condition` holds over the requests received (checked at each one), or fails after `ms`. */
  until(condition: (requests: Delivery[]) => boolean, ms = 15_000): Promise<void> {
    if (condition(this.requests)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`the receiver did not get what was expected within ${ms} ms (${this.requests.length} requests)`));
      }, ms);
      const check = () => {
        if (!condition(this.requests)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}
