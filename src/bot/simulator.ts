/**
 * Simulated patients for tests and the demo: each is a Telegram user of the local emulator (telegram-test-api's
 * client API) who opens a deep link (`/start <token>`), presses inline buttons, sends /stop or /help, or blocks the
 * bot. Who links and what each presses is decided by a hash of (seed, patient id, purpose), so a seed gives the same
 * patients the same behaviour on every run and machine.
 */
import { createHash } from 'node:crypto';
import { TelegramClient } from 'telegram-test-api/lib/modules/telegramClient.js';
import type { ReminderFacts } from '../domain/reminders.js';
import type { SentMessage } from '../stack/telegram-emulator.js';

/** A uniform number in [0, 1) from (seed, patient, purpose): the simulator's only source of chance. */
export function draw(seed: number, patientId: number, purpose: string): number {
  const h = createHash('sha256').update(`${seed}:${patientId}:${purpose}`).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

/** The chat (and user) id a simulated patient has: distinct per patient, far from real small ids. */
export const simulatedChatId = (patientId: number): number => 1_000_000_000_000 + patientId;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One simulated patient talking to the bot through the emulator at `emulatorUrl`. */
export class SimulatedPatient {
  readonly chatId: number;
  private readonly client: TelegramClient;

  constructor(
    readonly emulatorUrl: string,
    readonly botToken: string,
    readonly patientId: number,
    readonly languageCode: string = 'pt-br',
    chatId?: number,
  ) {
    this.chatId = chatId ?? simulatedChatId(patientId);
    this.client = new TelegramClient(emulatorUrl, botToken, {
      chatId: this.chatId,
      userId: this.chatId,
      firstName: `Patient ${patientId}`,
      userName: `patient${patientId}`,
    });
  }

  private get from() {
    return {
      id: this.chatId,
      is_bot: false,
      first_name: `Patient ${this.patientId}`,
      language_code: this.languageCode,
    };
  }

  /** Sends a command such as `/help` or `/start <token>`. */
  async command(text: string): Promise<void> {
    await this.client.sendCommand(this.client.makeCommand(text, { from: this.from }));
  }

  /** Opens a deep link t.me/<bot>?start=<token>: Telegram sends `/start <token>` on the patient's behalf. */
  async openLink(link: string): Promise<void> {
    const token = new URL(link).searchParams.get('start');
    if (!token) throw new Error(`not a deep link: ${link}`);
    await this.command(`/start ${token}`);
  }

  /**
   * Sends `text` replying to the bot's message `messageId` in this chat (default: the bot's newest message to this
   * chat), as a patient answering a ForceReply does: the emulator attaches the replied-to message.
   */
  async reply(text: string, messageId?: number): Promise<void> {
    const target = messageId ?? (await this.messages()).at(-1)?.messageId;
    if (target === undefined) throw new Error(`no bot message in chat ${this.chatId} to reply to`);
    await this.client.sendMessage(
      this.client.makeMessage(text, { from: this.from, reply_to_message_id: target } as Record<string, unknown>),
    );
  }

  /** Sends a plain message with its own (possibly forged) `reply_to_message`: what tests use to fake a reply. */
  async sendWithReplyTo(text: string, replyTo: { message_id: number; text: string }): Promise<void> {
    await this.client.sendMessage(
      this.client.makeMessage(text, {
        from: this.from,
        reply_to_message: {
          ...replyTo,
          date: Math.floor(Date.now() / 1000),
          chat: { id: this.chatId, type: 'private' },
        },
      } as Record<string, unknown>),
    );
  }

  /** Presses a button whose callback data is `data` (as if on a message the bot sent to this chat). */
  async press(data: string): Promise<void> {
    const cb = this.client.makeCallbackQuery(data, { from: this.from });
    await this.client.sendCallback(cb);
  }

  /** Blocks (or unblocks) the bot: the emulator then answers the bot's sends to this chat with 403. */
  async block(blocked = true): Promise<void> {
    await control(this.emulatorUrl, 'faults', { chatId: this.chatId, blocked });
  }

  /** Every message the bot sent to this chat, oldest first. */
  async messages(): Promise<SentMessage[]> {
    const query = new URLSearchParams({ chatId: String(this.chatId), botToken: this.botToken });
    const res = await fetch(`${this.emulatorUrl}/_emulator/sent?${query}`);
    return ((await res.json()) as { result: SentMessage[] }).result;
  }

  /** Waits until the bot has sent this chat more than `count` messages; returns the newest. */
  async waitForMessage(count: number, timeoutMs = 10_000): Promise<SentMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = await this.messages();
      if (all.length > count) return all[all.length - 1]!;
      if (Date.now() > deadline) throw new Error(`no message from the bot to chat ${this.chatId} in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Sends `text` as a command and returns the bot's reply. */
  async ask(text: string, timeoutMs?: number): Promise<SentMessage> {
    const before = (await this.messages()).length;
    await this.command(text);
    return this.waitForMessage(before, timeoutMs);
  }

  /** The callback data of every inline button on the bot's newest message to this chat. */
  async buttons(): Promise<string[]> {
    const all = await this.messages();
    const markup = all[all.length - 1]?.replyMarkup as { inline_keyboard?: { callback_data?: string }[][] } | undefined;
    return (markup?.inline_keyboard ?? []).flat().flatMap((b) => (b.callback_data ? [b.callback_data] : []));
  }
}

/** Posts to one of the emulator's control routes (`faults`, …). */
export async function control(emulatorUrl: string, route: string, body: object): Promise<void> {
  const res = await fetch(`${emulatorUrl}/_emulator/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`emulator ${route}: HTTP ${res.status}`);
}

/** The answerCallbackQuery calls the emulator received from the bot with `botToken`, oldest first. */
export async function callbackAnswers(
  emulatorUrl: string,
  botToken: string,
): Promise<{ callbackQueryId: string; text?: string; at: number }[]> {
  const res = await fetch(`${emulatorUrl}/_emulator/callback-answers?${new URLSearchParams({ botToken })}`);
  if (!res.ok) throw new Error(`emulator callback-answers: HTTP ${res.status}`);
  return ((await res.json()) as { result: { callbackQueryId: string; text?: string; at: number }[] }).result;
}

/** How a simulated population behaves; shares are probabilities per patient. */
export interface SimulationPlan {
  seed: number;
  /** Share of patients who open their deep link (default 0.6). */
  linkShare?: number;
  /** Share of linked patients who later send /stop (default 0.02). */
  stopShare?: number;
  /** Share of linked patients who prefer English (default 0.1); the rest write in Portuguese. */
  englishShare?: number;
  /** Share of ratings followed by a comment (default 0.25), drawn per (seed, patient, appointment). */
  commentShare?: number;
}

/** Whether the patient who rated `appointmentId` also comments, under `plan`: deterministic per seed. */
export function commentsOn(
  plan: Pick<SimulationPlan, 'seed' | 'commentShare'>,
  patientId: number,
  appointmentId: number,
): boolean {
  return draw(plan.seed, patientId, `comment:${appointmentId}`) < (plan.commentShare ?? 0.25);
}

/** A simulated comment: one of a few short sentences, in the patient's language, chosen per seed. */
export function simulatedComment(
  seed: number,
  patientId: number,
  appointmentId: number,
  stars: number,
  english: boolean,
): string {
  const good = english
    ? ['Very kind doctor, explained everything.', 'Quick and attentive, thank you.', 'Great care.']
    : ['Médico muito atencioso, explicou tudo.', 'Rápido e atencioso, obrigado.', 'Ótimo atendimento.'];
  const bad = english
    ? ['Waited too long to be seen.', 'The doctor seemed rushed.', 'Hard to find the clinic.']
    : ['Esperei muito para ser atendido.', 'O médico pareceu apressado.', 'Difícil encontrar a clínica.'];
  return choose(seed, patientId, `comment-text:${appointmentId}`, stars >= 4 ? good : bad);
}

/**
 * Which of `patientIds` link, and in which language, under `plan`: deterministic per seed. The caller gives each
 * chosen patient a deep link (`healthsynth link` / createLinkToken) and calls {@link SimulatedPatient.openLink}.
 */
export function planPatients(
  patientIds: readonly number[],
  plan: SimulationPlan,
): { patientId: number; links: boolean; stops: boolean; languageCode: string }[] {
  const linkShare = plan.linkShare ?? 0.6;
  const stopShare = plan.stopShare ?? 0.02;
  const englishShare = plan.englishShare ?? 0.1;
  return patientIds.map((patientId) => {
    const links = draw(plan.seed, patientId, 'link') < linkShare;
    return {
      patientId,
      links,
      stops: links && draw(plan.seed, patientId, 'stop') < stopShare,
      languageCode: draw(plan.seed, patientId, 'language') < englishShare ? 'en' : 'pt-br',
    };
  });
}

/** Picks one of `choices` for (seed, patient, purpose) with the given weights (default: equal). */
export function choose<T>(
  seed: number,
  patientId: number,
  purpose: string,
  choices: readonly T[],
  weights?: number[],
): T {
  const w = weights ?? choices.map(() => 1);
  const total = w.reduce((a, b) => a + b, 0);
  let x = draw(seed, patientId, purpose) * total;
  for (let i = 0; i < choices.length; i++) {
    x -= w[i]!;
    if (x < 0) return choices[i]!;
  }
  return choices[choices.length - 1]!;
}

/**
 * The facts of a reminder for a simulated patient's own appointment (its id is the patient's), starting at
 * `startsAt`: what the reminders benchmark and the fault suite start `appointmentReminder` with, past the selection.
 */
export function simulatedReminderFacts(
  patientId: number,
  startsAt: Date,
  names: Pick<ReminderFacts, 'doctorName' | 'clinicName'>,
): ReminderFacts {
  const day = startsAt.toISOString().slice(0, 10);
  return {
    appointmentId: patientId,
    patientId,
    decidedOn: day,
    appointmentOn: day,
    probability: 0.5,
    arm: 'reminded',
    startsAt: startsAt.toISOString(),
    localTime: startsAt.toISOString().slice(11, 16),
    ...names,
  };
}
