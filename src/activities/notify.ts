/**
 * The legacy generic `notify` activity, kept so runs started before per-message delivery (alerts, summaries,
 * cleanup notes sent in one activity) can finish and replay. New workflow code sends each message through the
 * delivery activities (`delivery.ts`); the Slack and Telegram transport is the notifier (`notifier.ts`).
 */
import { Context } from '@temporalio/activity';
import type { NotificationResult, SlackMessage, StaffMessage, TelegramContent } from '../domain/types.js';
import { createDeliverer, settleLegacy } from './delivery.js';
import type { Notifier } from './notifier.js';
import type { ObjectStore } from './storage.js';

/** Input of the legacy `notify` activity: any combination of channels; the photo travels as an object key. */
export interface NotifyInput {
  slack?: SlackMessage;
  telegramText?: string;
  /** A PNG already in the object store, sent to Telegram with a caption. */
  telegramPhoto?: { key: string; caption: string };
  /** Label of the message. Default: the Slack message's name, else "message". */
  name?: string;
}

/** The legacy generic `notify` activity, kept for runs started before per-message delivery. */
export function createNotifyActivities({ notifier, store }: { notifier: Notifier; store: ObjectStore }) {
  const deliver = createDeliverer({ store, notifier });
  return {
    /**
     * For runs started before per-message delivery (alerts, summaries, cleanup notes): sends to STAFF only — the
     * Slack message to Slack, the Telegram text or photo to the staff chat — at most once per run through the
     * delivery records (scope: the workflow id, name: the message name and run id). Resolves with one result per
     * channel call and never throws for a delivery failure, as its callers expect.
     */
    async notify(input: NotifyInput): Promise<NotificationResult[]> {
      const name = input.name ?? input.slack?.name ?? 'message';
      let scope = 'legacy';
      let runId = 'run';
      try {
        const execution = Context.current().info.workflowExecution;
        scope = execution?.workflowId ?? scope;
        runId = execution?.runId ?? runId;
      } catch {
        // Called outside an activity (a script): records go under deliveries/legacy/.
      }
      const message = (slackText: string, telegram: TelegramContent): StaffMessage => ({
        audience: 'staff',
        scope,
        name: `${name}-${runId}`,
        slack: { text: slackText, ...(input.slack?.blocks ? { blocks: input.slack.blocks } : {}) },
        telegram,
      });
      const fallback = input.slack?.text ?? input.telegramText ?? input.telegramPhoto?.caption ?? name;
      const sends: Promise<NotificationResult>[] = [];
      if (input.slack) sends.push(settleLegacy('slack', message(input.slack.text, { text: fallback }), deliver));
      if (input.telegramText !== undefined) {
        sends.push(settleLegacy('telegram', message(fallback, { text: input.telegramText }), deliver));
      } else if (input.telegramPhoto) {
        const photo = { photoKey: input.telegramPhoto.key, caption: input.telegramPhoto.caption };
        sends.push(settleLegacy('telegram', message(fallback, photo), deliver));
      }
      return Promise.all(sends);
    },
  };
}
