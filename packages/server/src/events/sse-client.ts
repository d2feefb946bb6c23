/**
 * A small Server-Sent Events client over fetch (as a browser's EventSource reads the stream), for tests and
 * benchmarks: `openSse(url, {cookie})` → messages in order, comments (`: ping`), and the `retry:` field.
 */

export interface SseMessage {
  event: string;
  data: string;
  /** performance.now() when the message was parsed */
  receivedAt: number;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** the body when the answer was not a stream (problem+json) */
  errorBody?: string;
  retry?: number;
  comments: string[];
  /** every message received so far, in order */
  messages: SseMessage[];
  /** resolves once the server ended the stream (or it failed) */
  ended: Promise<void>;
  isEnded(): boolean;
  /** the next message not yet taken by next(); rejects after timeoutMs or when the stream ends */
  next(timeoutMs?: number): Promise<SseMessage>;
  /** a callback for every message (benchmarks) */
  onMessage?: (m: SseMessage) => void;
  close(): void;
}

export async function openSse(url: string, opts: { cookie?: string } = {}): Promise<SseStream> {
  const ac = new AbortController();
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...(opts.cookie !== undefined ? { cookie: opts.cookie } : {}) },
    signal: ac.signal,
  });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let taken = 0;
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  let resolveEnded: () => void = () => undefined;
  const endedP = new Promise<void>((r) => {
    resolveEnded = r;
  });
  const stream: SseStream = {
    status: res.status,
    headers: res.headers,
    comments,
    messages,
    ended: endedP,
    isEnded: () => ended,
    next(timeoutMs = 5000) {
      return new Promise<SseMessage>((resolve, reject) => {
        const timer = setTimeout(() => {
          remove();
          reject(new Error(`no SSE message within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = (): boolean => {
          const m = messages[taken];
          if (m !== undefined) {
            taken++;
            clearTimeout(timer);
            resolve(m);
            return true;
          }
          if (ended) {
            clearTimeout(timer);
            reject(new Error('the SSE stream ended'));
            return true;
          }
          return false;
        };
        const waiter = (): void => {
          if (!check()) waiters.push(waiter);
        };
        const remove = (): void => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiter();
      });
    },
    close() {
      ac.abort();
    },
  };
  const finish = (): void => {
    ended = true;
    wake();
    resolveEnded();
  };
  if (!res.ok || res.body === null) {
    stream.errorBody = await res.text().catch(() => '');
    finish();
    return stream;
  }
  const body = res.body;
  /** one block (the text between blank lines) */
  const block = (text: string): void => {
    let event = '';
    const data: string[] = [];
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) {
        comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) stream.retry = Number(value);
    }
    if (data.length === 0) return;
    const m: SseMessage = {
      event: event === '' ? 'message' : event,
      data: data.join('\n'),
      receivedAt: performance.now(),
    };
    messages.push(m);
    stream.onMessage?.(m);
  };
  void (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        const text = decoder.decode(chunk as Uint8Array, { stream: true });
        buf += text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
        let start = 0;
        for (;;) {
          const end = buf.indexOf('\n\n', start);
          if (end < 0) break;
          block(buf.slice(start, end));
          start = end + 2;
        }
        if (start > 0) buf = buf.slice(start);
        wake();
      }
    } catch {
      // aborted or reset
    } finally {
      finish();
    }
  })();
  return stream;
}
