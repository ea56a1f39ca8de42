/**
 * The weekend notice to patients, sent at most once per date. A marker object in the store
 * (`notices/weekend-notice/dt=<date>.json`) records a successful send, so a retry, a second
 * schedule action or a manual `temporal workflow start` for the same date sends nothing again.
 */
import type { Config } from '../config.js';
import type { NotificationResult } from '../domain/types.js';
import type { Notifier } from './notify.js';
import type { ObjectStore } from './storage.js';

export const noticeMarkerKey = (date: string): string => `notices/weekend-notice/dt=${date}.json`;

export interface WeekendNoticeSend {
  notifications: NotificationResult[];
  /** True when the marker showed an earlier send for this date; nothing was sent now. */
  alreadySent: boolean;
}

export function createNoticeActivities({
  config,
  store,
  notifier,
}: {
  config: Config;
  store: ObjectStore;
  notifier: Notifier;
}) {
  return {
    /**
     * Sends the weekend notice for `date` to Telegram (patients) and Slack (staff) unless its marker
     * exists. Idempotent: the marker is written after a send in which Telegram did not fail, so a
     * retry after a crash between send and marker could repeat one message, never more.
     */
    async sendWeekendNotice({ date }: { date: string }): Promise<WeekendNoticeSend> {
      const key = noticeMarkerKey(date);
      if (await store.head(key)) return { notifications: [], alreadySent: true };
      const { text, emergencyPhone } = config.weekendNotice;
      const message = `${text} ${emergencyPhone}. (${date})`;
      const notifications = await Promise.all([
        notifier.telegramText(message, 'weekend-notice'),
        notifier.slack({ name: 'weekend-notice', text: message }),
      ]);
      const telegram = notifications[0];
      if (telegram.status !== 'failed') {
        await store.put(
          key,
          JSON.stringify({ date, sentAt: new Date().toISOString(), notifications }),
          'application/json',
        );
      }
      return { notifications, alreadySent: false };
    },
  };
}
