/**
 * The local Telegram Bot API emulator (see telegram-emulator.ts) as a stack service: a Node process on loopback,
 * its journal under `<dataDir>/telegram/`, its log in `<dataDir>/logs/telegram.log`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL } from '../config.js';
import { processAlive, spawnDetached, waitFor } from './process.js';
import { type ServiceContext, type ServiceUp, foreignServer, movedPort } from './service.js';
import { updateState } from './state.js';

/** What identifies the emulator's process in /proc/<pid>/cmdline (pid reuse check). */
export const TELEGRAM_EMULATOR_MARK = 'telegram-emulator-main';

/** True when the emulator on `port` answers its health route. */
export async function telegramEmulatorAnswers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/_emulator/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { ok?: boolean; emulator?: string };
    return res.ok && body.emulator === 'telegram-test-api';
  } catch {
    return false;
  }
}

/** The Bot API root and the bot token of the local emulator on `port`. */
export function localTelegram(port: number): { apiRoot: string; botToken: string } {
  return { apiRoot: `http://127.0.0.1:${port}`, botToken: LOCAL.telegramBotToken };
}

/** Starts the emulator, or reuses the one this stack started. */
export async function telegramUp(ctx: ServiceContext): Promise<ServiceUp> {
  const port = ctx.config.localPorts.telegram;
  const endpoint = `http://127.0.0.1:${port}`;
  const rec = ctx.state.services.telegram;
  const logFile = path.join(ctx.logsDir, 'telegram.log');
  if (rec && processAlive(rec.pid, TELEGRAM_EMULATOR_MARK)) {
    if (rec.port !== port) throw movedPort('the Telegram emulator', rec.port, port);
    await waitFor('Telegram emulator', () => telegramEmulatorAnswers(port), { timeoutMs: 20_000, logFile });
    return { name: 'telegram', status: 'reused', pid: rec.pid, endpoint };
  }
  const foreign = await foreignServer(ctx, {
    name: 'telegram',
    port,
    endpoint,
    envName: 'HEALTHSYNTH_TELEGRAM_PORT',
    answers: telegramEmulatorAnswers,
    prepare: async () => undefined,
  });
  if (foreign) return foreign;

  const dir = path.join(ctx.config.dataDir, 'telegram');
  await ctx.mkdir(dir);
  // Beside this module: telegram-emulator-main.ts under src/ (run through tsx), .js under the compiled dist/.
  const ext = path.extname(fileURLToPath(import.meta.url));
  const main = fileURLToPath(new URL(`./telegram-emulator-main${ext}`, import.meta.url));
  const loader = ext === '.ts' ? ['--import', import.meta.resolve('tsx')] : [];
  ctx.log(`Starting the Telegram Bot API emulator on ${endpoint} (log: ${logFile})`);
  const args = [...loader, main, '--port', String(port), '--journal', path.join(dir, 'messages.jsonl')];
  const { pid, exited } = await spawnDetached(process.execPath, args, { logFile, cwd: ctx.config.dataDir });
  await updateState(ctx.config.dataDir, (s) => {
    s.services.telegram = { pid, port, dir, startedAt: new Date().toISOString(), logFile, bin: process.execPath };
  });
  ctx.onStarted('telegram');
  await waitFor('Telegram emulator', () => telegramEmulatorAnswers(port), { timeoutMs: 30_000, exited, logFile });
  return { name: 'telegram', status: 'started', pid, endpoint };
}
