// The bare engine of bench/token-paths.ts in a process of its own: its in-memory store grows with
// every rotated token (oidc-provider's MemoryAdapter keeps, per grant, every token it issued), and in
// the bench's process that heap slowed the later phases (the SSO open-loop p99 doubled after the peer
// rounds). Started by `startBareUserEngineProcess`; answers { origin } once it listens.
import { startBareUserEngine } from './bare-engine.ts';

process.once('message', async (message: { client: { id: string; secret: string }; callback: string }) => {
  const engine = await startBareUserEngine(message.client, message.callback);
  process.send!({ origin: engine.origin });
  process.once('disconnect', () => void engine.close().finally(() => process.exit(0)));
});
