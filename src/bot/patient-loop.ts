/**
 * The patient loop of `npm run demo -- --days N`, on the local stack: the patients' bot (long polling against the
 * Telegram emulator) runs in this process, and simulated patients (./simulator.ts) behave as ./demo-patients.ts
 * says: before each day's run, a share of the patients tomorrow's schedule holds open a real deep link
 * (`/start <token>`); after it, they press the real buttons of the reminders and rating requests the workflows sent
 * them, and a share of those who rate (`commentShare`, a hash of seed, patient and appointment) reply to the invitation
 * to comment. At the end, what the warehouse recorded: links, reminders by outcome, rating requests, ratings and
 * comments.
 *
 * A reminder waits for its answer only until its appointment starts (real time): the reminders of a past day end as
 * no-answer as soon as they are sent, so their presses are refused ("expired") and only the last day's reminders,
 * when it is today, can be confirmed or cancelled. Rating requests wait 72 hours, so every day's can be answered.
 * PostgreSQL warehouse only (like the contacts and reminder events).
 */
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { createPool } from '../pg-pool.js';
import type { Config } from '../config.js';
import { scheduledAppointments, nextWeekday, parseDayIndex, dayString } from '../domain/generator/index.js';
import type { ScaleInput } from '../domain/types.js';
import { REMINDER_EVENTS_TABLE } from '../domain/reminders.js';
import { RATING_REQUESTS } from '../domain/rating-requests.js';
import { PATIENT_CONTACTS } from './contacts.js';
import { plannedLinks, ratingReply, reminderReply } from './demo-patients.js';
import { createLinkToken, deepLink } from './link-token.js';
import { startBot, type RunningBot } from './run.js';
import { callbackAnswers, commentsOn, SimulatedPatient, simulatedChatId, simulatedComment } from './simulator.js';
import type { SentMessage } from '../stack/telegram-emulator.js';

export interface PatientLoopOptions {
  /** The demo's config: the local warehouse, and Telegram pointed at the emulator with a bot token and link secret. */
  config: Config;
  temporal: Client;
  emulatorUrl: string;
  seed: number;
  /** Share of the schedule's patients who link (0..1). */
  linkShare: number;
  /** At most this many new links a day (a medium scale's schedule holds 65,000 patients). */
  linkLimit: number;
  log: (line: string) => void;
  /** How long to wait for a day's messages before going on with those that came (default 3 minutes). */
  waitMs?: number;
  /** Share of ratings followed by a comment (default 0.25). */
  commentShare?: number;
}

/** What the simulated patients did after one day's run. */
export interface DayAnswers {
  runDate: string;
  reminders: { received: number; confirm: number; cancel: number; ignore: number };
  ratings: { received: number; answered: number; ignored: number; commented: number };
  /** Reminder presses the bot refused as expired: the reminder had ended, as its appointment had started. */
  expired: number;
}

/** The loop's result over the demo's days, read back from the warehouse. */
export interface LoopTotals {
  linked: number;
  linkedThisRun: number;
  reminders: {
    selected: number;
    holdout: number;
    sent: number;
    confirmed: number;
    cancelled: number;
    noAnswer: number;
    undeliverable: number;
    /** Sent and not yet ended: waiting for an answer until the appointment starts. */
    waiting: number;
  };
  ratingRequests: {
    sent: number;
    rated: number;
    noResponse: number;
    undeliverable: number;
    meanStars?: number;
    /** Rated requests whose row holds a comment. */
    commented: number;
  };
  /** Reminder presses refused as expired (see {@link DayAnswers.expired}). */
  pressesExpired: number;
}

/** One row of marts.reminder_effect. */
export interface EffectRow {
  period: string;
  period_start: string;
  period_end: string;
  reminded: number;
  reminded_no_shows: number;
  holdout: number;
  holdout_no_shows: number;
  cancelled: number;
  relative_risk: number | null;
  relative_risk_low: number | null;
  relative_risk_high: number | null;
  prevented_no_shows: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BOT_USERNAME = 'HealthSynthLocalBot';
/** Presses and links in flight at once: the bot answers each through Temporal; more only queues. */
const CONCURRENCY = 8;

async function pool<T>(items: readonly T[], run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
      while (next < items.length) await run(items[next++] as T);
    }),
  );
}

/** A button the bot sent: kind `r` (reminder) or `q` (rating request), the appointment, the action, its data. */
interface Button {
  kind: 'r' | 'q';
  appointmentId: number;
  action: string;
  data: string;
}

function buttonsOf(m: SentMessage): Button[] {
  const markup = m.replyMarkup as { inline_keyboard?: { callback_data?: string }[][] } | undefined;
  return (markup?.inline_keyboard ?? []).flat().flatMap((b) => {
    const match = /^([rq]):(\d+):(\w+):/.exec(b.callback_data ?? '');
    return match
      ? [
          {
            kind: match[1] as 'r' | 'q',
            appointmentId: Number(match[2]),
            action: match[3] as string,
            data: b.callback_data as string,
          },
        ]
      : [];
  });
}

interface Press {
  patient: SimulatedPatient;
  data: string;
  appointmentId: number;
}

/** The day index of an appointment id (`day * 10^7 + index`, see the generator). */
const appointmentDay = (appointmentId: number): string => dayString(Math.floor(appointmentId / 10_000_000));

export class PatientLoop {
  private readonly patients = new Map<number, SimulatedPatient>();
  private readonly byChat = new Map<string, SimulatedPatient>();
  private readonly probability = new Map<number, number>();
  private readonly handled = new Set<string>();
  private linkedAtStart = 0;
  /** Only messages sent since the loop started are this demo's (the emulator keeps every earlier demo's too). */
  private readonly since = Date.now();
  private linkedHere = 0;
  private expired = 0;

  private constructor(
    private readonly opts: PatientLoopOptions,
    private readonly bot: RunningBot,
    private readonly db: pg.Pool,
    private readonly linked: Set<number>,
  ) {}

  /** Starts the bot and reads who is linked already (a rerun links nobody twice). */
  static async start(opts: PatientLoopOptions): Promise<PatientLoop> {
    const { config } = opts;
    if (config.warehouse.kind !== 'postgres') throw new Error('the patient loop needs the PostgreSQL warehouse');
    // The bot's routine lines (links, polling) would drown the demo's; its failures are worth showing.
    const log = (line: string) => {
      if (/fail|stopped/i.test(line)) opts.log(`  ${line}`);
    };
    const bot = await startBot(config, { mode: 'polling', temporal: opts.temporal, log });
    const db = createPool({ connectionString: config.warehouse.databaseUrl, max: 2 });
    const { rows } = await db.query<{ patient_id: string }>(`select patient_id from ${PATIENT_CONTACTS}`);
    const loop = new PatientLoop(opts, bot, db, new Set(rows.map((r) => Number(r.patient_id))));
    loop.linkedAtStart = rows.length;
    return loop;
  }

  private patient(patientId: number, languageCode = 'pt-br'): SimulatedPatient {
    let p = this.patients.get(patientId);
    if (!p) {
      const token = this.opts.config.telegram.botToken as string;
      p = new SimulatedPatient(this.opts.emulatorUrl, token, patientId, languageCode);
      this.patients.set(patientId, p);
      this.byChat.set(String(p.chatId), p);
    }
    return p;
  }

  /**
   * Before `runDate`'s run: the patients of the schedule it will load (the next weekday's appointments booked by
   * then, derived from the seed as the generator derives them) who link open their deep link; waits until the bot
   * has stored every link. Returns how many linked.
   */
  async linkBefore(runDate: string, scale: ScaleInput): Promise<number> {
    const { config, seed, linkShare, linkLimit } = this.opts;
    const schedule = scheduledAppointments(config.seed, runDate, scale);
    for (const a of schedule) this.probability.set(a.appointmentId, a.noShowProbability);
    const links = plannedLinks(schedule, { seed, linkShare, linked: this.linked, limit: linkLimit });
    const secret = config.bot.linkSecret as string;
    const expires = new Date(Date.now() + config.bot.linkTtlDays * 86_400_000);
    const before = await this.linkedCount();
    await pool(links, async ({ patientId, languageCode }) => {
      const link = deepLink(config.bot.username ?? BOT_USERNAME, createLinkToken(patientId, expires, secret));
      await this.patient(patientId, languageCode).openLink(link);
    });
    await this.until(`${links.length} links`, async () => (await this.linkedCount()) >= before + links.length);
    for (const l of links) this.linked.add(l.patientId);
    this.linkedHere += links.length;
    return links.length;
  }

  /**
   * After `runDate`'s run: waits for the reminders it chose (for the next weekday) to be sent and for its rating
   * requests to arrive, then presses what each patient answers. `expected` comes from the run's summary.
   */
  async answerAfter(runDate: string, expected: { reminded: number; ratings: number }): Promise<DayAnswers> {
    const appointmentOn = dayString(nextWeekday(parseDayIndex(runDate) as number));
    // The next run generates its outcomes from the reminders recorded as sent by then: all of them must be.
    await this.until(`${expected.reminded} reminders sent`, async () => {
      const { rows } = await this.db.query<{ n: string }>(
        `select count(distinct appointment_id) as n from ${REMINDER_EVENTS_TABLE}
          where appointment_on = cast($1 as date) and arm = 'reminded' and event in ('sent', 'undeliverable')`,
        [appointmentOn],
      );
      return Number(rows[0]?.n ?? 0) >= expected.reminded;
    });
    let messages: { chatId: string; button: Button }[] = [];
    await this.until(`${expected.ratings} rating requests`, async () => {
      messages = await this.ourButtons();
      const ratings = new Set(
        messages
          .filter((m) => m.button.kind === 'q' && appointmentDay(m.button.appointmentId) === runDate)
          .map((m) => m.button.appointmentId),
      );
      return ratings.size >= expected.ratings;
    });

    const day: DayAnswers = {
      runDate,
      reminders: { received: 0, confirm: 0, cancel: 0, ignore: 0 },
      ratings: { received: 0, answered: 0, ignored: 0, commented: 0 },
      expired: 0,
    };
    const presses = { r: [] as Press[], q: [] as Press[] };
    const offers = new Map<string, { chatId: string; buttons: Button[] }>();
    for (const m of messages) {
      const key = `${m.button.kind}:${m.button.appointmentId}`;
      const on = appointmentDay(m.button.appointmentId);
      if (this.handled.has(key) || on !== (m.button.kind === 'r' ? appointmentOn : runDate)) continue;
      const offer = offers.get(key) ?? { chatId: m.chatId, buttons: [] };
      offer.buttons.push(m.button);
      offers.set(key, offer);
    }
    for (const [key, offer] of offers) {
      const patient = this.byChat.get(offer.chatId);
      const first = offer.buttons[0];
      if (!patient || !first) continue;
      this.handled.add(key);
      const p = this.probability.get(first.appointmentId);
      let action: string | undefined;
      if (first.kind === 'r') {
        const reply = reminderReply(this.opts.seed, patient.patientId, first.appointmentId, p ?? 0.2);
        day.reminders.received++;
        day.reminders[reply]++;
        action = reply === 'ignore' ? undefined : reply;
      } else {
        const stars = ratingReply(this.opts.seed, patient.patientId, first.appointmentId, p);
        day.ratings.received++;
        if (stars === undefined) day.ratings.ignored++;
        else day.ratings.answered++;
        action = stars === undefined ? undefined : String(stars);
      }
      const button = offer.buttons.find((b) => b.action === action);
      if (button) presses[first.kind].push({ patient, data: button.data, appointmentId: first.appointmentId });
    }
    // Each is pressed until its workflow has ended it: a press that comes before the workflow has noted its message
    // as sent is refused, and a patient tries again. A reminder whose appointment has started ends as no-answer and
    // refuses every press as expired: those are counted.
    const reminderIds = presses.r.map((x) => x.appointmentId);
    await this.pressUntilEnded(
      presses.r,
      `select distinct appointment_id from ${REMINDER_EVENTS_TABLE}
        where appointment_id = any($1) and event in ('confirmed', 'cancelled', 'no-answer', 'undeliverable')`,
    );
    const answered = await this.ids(
      `select distinct appointment_id from ${REMINDER_EVENTS_TABLE}
        where appointment_id = any($1) and event in ('confirmed', 'cancelled')`,
      reminderIds,
    );
    day.expired = reminderIds.filter((id) => !answered.has(id)).length;
    this.expired += day.expired;
    await this.pressUntilEnded(
      presses.q,
      `select appointment_id from ${RATING_REQUESTS} where appointment_id = any($1)`,
    );
    day.ratings.commented = await this.comment(
      presses.q.filter((x) =>
        commentsOn(
          { seed: this.opts.seed, commentShare: this.opts.commentShare },
          x.patient.patientId,
          x.appointmentId,
        ),
      ),
    );
    return day;
  }

  /**
   * The patients of `rated` reply to their invitation to comment (a sentence chosen per seed, in their language);
   * returns how many comments the warehouse then holds for them.
   */
  private async comment(rated: readonly Press[]): Promise<number> {
    if (rated.length === 0) return 0;
    const token = this.opts.config.telegram.botToken ?? '';
    let invitations = new Map<number, SentMessage>();
    await this.until(`${rated.length} invitations to comment`, async () => {
      const res = await fetch(`${this.opts.emulatorUrl}/_emulator/sent?botToken=${encodeURIComponent(token)}`);
      const { result } = (await res.json()) as { result: SentMessage[] };
      invitations = new Map(
        result.flatMap((m) => {
          const ref = /\nref\. (\d+)-[\w-]+$/.exec(m.text);
          return ref && m.at >= this.since ? [[Number(ref[1]), m] as const] : [];
        }),
      );
      return rated.every((x) => invitations.has(x.appointmentId));
    });
    const replies = rated.filter((x) => invitations.has(x.appointmentId));
    await pool(replies, async ({ patient, data, appointmentId }) => {
      const stars = Number(data.split(':')[2]);
      const text = simulatedComment(
        this.opts.seed,
        patient.patientId,
        appointmentId,
        stars,
        patient.languageCode === 'en',
      );
      await patient.reply(text, invitations.get(appointmentId)?.messageId);
    });
    const ids = replies.map((x) => x.appointmentId);
    const sql = `select appointment_id from ${RATING_REQUESTS} where appointment_id = any($1) and comment is not null`;
    await this.until(`${ids.length} comments`, async () => (await this.ids(sql, ids)).size >= ids.length);
    return (await this.ids(sql, ids)).size;
  }

  /** Presses each button and waits until the bot has answered every press. */
  private async pressAll(presses: readonly Press[]): Promise<void> {
    const answered = async () =>
      (await callbackAnswers(this.opts.emulatorUrl, this.opts.config.telegram.botToken ?? '')).length;
    const before = await answered();
    await pool(presses, ({ patient, data }) => patient.press(data));
    await this.until(`${presses.length} answers to presses`, async () => (await answered()) - before >= presses.length);
  }

  /** Presses, then presses again (up to four rounds) those `endedSql` does not find ended. */
  private async pressUntilEnded(presses: readonly Press[], endedSql: string): Promise<void> {
    let todo = presses;
    for (let round = 0; round < 4 && todo.length > 0; round++) {
      if (round > 0) await sleep(1000 * round);
      await this.pressAll(todo);
      const deadline = Date.now() + 10_000;
      let done = new Set<number>();
      for (;;) {
        done = await this.ids(
          endedSql,
          todo.map((x) => x.appointmentId),
        );
        if (done.size >= todo.length || Date.now() > deadline) break;
        await sleep(250);
      }
      todo = todo.filter((x) => !done.has(x.appointmentId));
    }
    if (todo.length > 0)
      this.opts.log(`  (${todo.length} presses were not answered by their workflow after four tries)`);
  }

  private async ids(sql: string, ids: number[]): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.db.query<{ appointment_id: string }>(sql, [ids]);
    return new Set(rows.map((r) => Number(r.appointment_id)));
  }

  /** The loop over `runDates` as the warehouse recorded it (reminders of their next weekdays, their ratings). */
  async totals(runDates: readonly string[]): Promise<LoopTotals> {
    const days = runDates.map((d) => dayString(nextWeekday(parseDayIndex(d) as number)));
    const { rows: events } = await this.db.query<{ arm: string; event: string; n: string }>(
      `select arm, event, count(*) as n from ${REMINDER_EVENTS_TABLE}
        where appointment_on = any(cast($1 as date[])) group by arm, event`,
      [days],
    );
    const count = (arm: string, event: string) =>
      Number(events.find((e) => e.arm === arm && e.event === event)?.n ?? 0);
    const sent = count('reminded', 'sent');
    const ended = count('reminded', 'confirmed') + count('reminded', 'cancelled') + count('reminded', 'no-answer');
    const { rows: rated } = await this.db
      .query<{ status: string; n: string; stars: string | null; comments: string }>(
        `select status, count(*) as n, avg(rating) as stars, count(comment) as comments from ${RATING_REQUESTS}
        where appointment_day = any(cast($1 as date[])) group by status`,
        [runDates],
      )
      .catch(() => ({ rows: [] as { status: string; n: string; stars: string | null; comments: string }[] }));
    const status = (s: string) => rated.find((r) => r.status === s);
    const ratingSent = (await this.ourButtons()).filter(
      (m) => m.button.kind === 'q' && runDates.includes(appointmentDay(m.button.appointmentId)),
    );
    const stars = status('rated')?.stars;
    return {
      linked: await this.linkedCount(),
      linkedThisRun: this.linkedHere,
      reminders: {
        selected: count('reminded', 'selected') + count('holdout', 'selected'),
        holdout: count('holdout', 'selected'),
        sent,
        confirmed: count('reminded', 'confirmed'),
        cancelled: count('reminded', 'cancelled'),
        noAnswer: count('reminded', 'no-answer'),
        undeliverable: count('reminded', 'undeliverable'),
        waiting: Math.max(0, sent - ended),
      },
      ratingRequests: {
        sent: new Set(ratingSent.map((m) => m.button.appointmentId)).size,
        rated: Number(status('rated')?.n ?? 0),
        noResponse: Number(status('no-response')?.n ?? 0),
        undeliverable: Number(status('undeliverable')?.n ?? 0),
        ...(stars ? { meanStars: Number(stars) } : {}),
        commented: Number(status('rated')?.comments ?? 0),
      },
      pressesExpired: this.expired,
    };
  }

  /** The rows of marts.reminder_effect (built by the last run's dbt), the overall row first. */
  async effect(): Promise<EffectRow[]> {
    const { rows } = await this.db
      .query<EffectRow>(
        `select period, cast(period_start as text) as period_start, cast(period_end as text) as period_end,
                reminded, reminded_no_shows, holdout, holdout_no_shows, cancelled,
                relative_risk, relative_risk_low, relative_risk_high, prevented_no_shows
           from marts.reminder_effect order by period = 'all' desc, period_start`,
      )
      .catch(() => ({ rows: [] as EffectRow[] }));
    return rows;
  }

  async stop(): Promise<void> {
    await this.bot.stop();
    await this.db.end();
  }

  private async linkedCount(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(`select count(*) as n from ${PATIENT_CONTACTS}`);
    return Number(rows[0]?.n ?? 0);
  }

  /** Every button the bot sent to the simulated patients' chats. */
  private async ourButtons(): Promise<{ chatId: string; button: Button }[]> {
    const token = this.opts.config.telegram.botToken;
    const res = await fetch(`${this.opts.emulatorUrl}/_emulator/sent?botToken=${encodeURIComponent(token ?? '')}`);
    const { result } = (await res.json()) as { result: SentMessage[] };
    // Simulated chats are 10^12 + patient id: patients linked by an earlier demo on this warehouse answer too.
    const first = simulatedChatId(0);
    return result
      .filter((m) => m.botToken === token && m.at >= this.since && Number(m.chatId) > first)
      .flatMap((m) => {
        if (!this.byChat.has(m.chatId)) this.patient(Number(m.chatId) - first);
        return buttonsOf(m).map((button) => ({ chatId: m.chatId, button }));
      });
  }

  /** Polls `done` until it holds; after the wait, logs what is missing and goes on. */
  private async until(what: string, done: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + (this.opts.waitMs ?? 180_000);
    while (!(await done())) {
      if (Date.now() > deadline) {
        this.opts.log(`  (gave up waiting for ${what}; going on with what arrived)`);
        return;
      }
      await sleep(250);
    }
  }

  /** Patients linked before the loop started (an earlier demo on the same warehouse). */
  get linkedBefore(): number {
    return this.linkedAtStart;
  }
}
