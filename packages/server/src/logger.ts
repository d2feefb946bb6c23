/** Minimal structured logger (JSON lines on stderr), level-filtered. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string, extra?: Record<string, unknown>) => void;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(
  min: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
): Log {
  return (level, msg, extra) => {
    if (ORDER[level] < ORDER[min]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...extra })}\n`);
  };
}

export const silentLog: Log = () => undefined;
