import type { Context } from 'koa';

/** Past this, an oversized body is not read to its end: the connection is closed after the answer instead. */
const DRAIN_LIMIT = 1024 * 1024;

/**
 * Reads a request body of at most `limit` bytes; undefined when it is larger. An oversized body is
 * still read to its end and dropped (up to 1 MiB), so the connection stays in step for the next
 * request on it; beyond that the answer carries `Connection: close` and the connection ends after it
 * (RFC 9112 §9.6). Abandoning a body half-read on a kept-alive connection would make its remaining
 * bytes the next "request".
 */
export function readBodyWithin(ctx: Context, limit: number): Promise<Buffer | undefined> {
  const request = ctx.req;
  if (Number(ctx.get('content-length') || 0) > DRAIN_LIMIT) {
    ctx.set('Connection', 'close');
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT) {
        stop();
        request.pause();
        ctx.set('Connection', 'close');
        resolve(undefined);
      } else if (size <= limit) chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(size > limit ? undefined : Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}
