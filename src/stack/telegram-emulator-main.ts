/**
 * Entry point of the local Telegram Bot API emulator process that `healthsynth stack up` starts:
 * `node --import tsx src/stack/telegram-emulator-main.ts --port 8081 --journal .data/telegram/messages.jsonl`.
 * Runs until SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startTelegramEmulator } from './telegram-emulator.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, journal: { type: 'string' } },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error('--port must be a port number');
  const emulator = await startTelegramEmulator({ host: values.host, port, journalFile: values.journal });
  console.log(`Telegram Bot API emulator (telegram-test-api) listening on ${emulator.url}`);
  const stop = () => {
    void emulator.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
