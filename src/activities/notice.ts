/**
 * The weekend notice to patients. Its text comes from configuration (WEEKEND_NOTICE_TEXT, EMERGENCY_PHONE), read
 * here because workflow code cannot read settings; it is delivered like every other message, through the
 * delivery record `deliveries/weekend-notice-<date>/weekend-notice/telegram.json`, so a retry, a second schedule
 * action or a manual `temporal workflow start` for the same date sends nothing again, whatever its workflow id.
 */
import type { Config } from '../config.js';
import { weekendNoticeMessage } from '../domain/messages.js';
import type { NotificationResult, PatientMessage } from '../domain/types.js';
import { workflowIds } from '../workflow-ids.js';
import { createDeliverer, settleLegacy } from './delivery.js';
import type { Notifier } from './notifier.js';
import type { ObjectStore } from './storage.js';

/** Result of the legacy `sendWeekendNotice` activity. */
export interface WeekendNoticeSend {
  notifications: NotificationResult[];
  /** True when the delivery record showed an earlier send for this date; nothing was sent now. */
  alreadySent: boolean;
}

/** The weekend-notice activities, built with configuration (the text) and the delivery dependencies. */
export function createNoticeActivities({
  config,
  store,
  notifier,
}: {
  config: Config;
  store: ObjectStore;
  notifier: Notifier;
}) {
  const message = (date: string): PatientMessage =>
    weekendNoticeMessage(
      workflowIds.weekendNotice(date),
      date,
      config.weekendNotice.text,
      config.weekendNotice.emergencyPhone,
    );
  const deliver = createDeliverer({ store, notifier });
  return {
    /**
     * The weekend notice for `date` as a patient message (scope `weekend-notice-<date>`, whatever the workflow id).
     * A pure read of configuration: idempotent, and a retry returns the same message.
     */
    async weekendNoticeMessage({ date }: { date: string }): Promise<PatientMessage> {
      return message(date);
    },

    /**
     * For runs started before per-message delivery: sends the notice to the patients' Telegram chat (only) through
     * the same delivery record as {@link weekendNoticeMessage}'s message, one request, and resolves with the outcome.
     * Idempotent: a retry or rerun finds the record and sends nothing again.
     */
    async sendWeekendNotice({ date }: { date: string }): Promise<WeekendNoticeSend> {
      const result = await settleLegacy('telegram', message(date), deliver);
      if (result.alreadyDelivered) return { notifications: [], alreadySent: true };
      return { notifications: [result], alreadySent: false };
    },
  };
}
