/**
 * Settings the workflows need, read on the worker (workflow code cannot read env vars) and
 * recorded in history so a replay sees the values the run used.
 */
import type { Config } from '../config.js';
import type { ScaleInput } from '../domain/types.js';

export interface PipelineSettings {
  seed: number;
  shardRows: number;
  retentionDays: number;
  defaultScale: ScaleInput;
  uiUrl: string;
  /** HEALTHSYNTH_TIMEZONE: what "today" means for run-date checks and the retention cutoff. */
  timezone: string;
  /** REMINDER_RELATIVE_RISK; absent in the results of runs recorded before reminders existed. */
  reminderRelativeRisk?: number;
}

export function createSettingsActivities({ config }: { config: Config }) {
  return {
    /** Pure read of configuration; idempotent (a retry returns the same values unless the worker's config changed). */
    async pipelineSettings(): Promise<PipelineSettings> {
      return {
        seed: config.seed,
        shardRows: config.shardRows,
        retentionDays: config.retentionDays,
        defaultScale: config.defaultScale,
        uiUrl: config.temporal.uiUrl,
        timezone: config.timezone,
        reminderRelativeRisk: config.reminderRelativeRisk,
      };
    },
  };
}
