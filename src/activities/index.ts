/**
 * All activities, built from their dependencies (the activities-dependency-injection pattern):
 * the worker passes real clients, tests may pass other ones.
 */
import type { Config } from '../config.js';
import { createCleanupActivities } from './cleanup.js';
import { createDbtActivities } from './dbt.js';
import { createGenerateActivities } from './generate.js';
import { createLoadActivities } from './load.js';
import type { Notifier } from './notify.js';
import { createNotifyActivities, createReportActivities } from './report.js';
import { createSettingsActivities } from './settings.js';
import type { ObjectStore } from './storage.js';
import type { Warehouse } from './warehouse/index.js';

export interface ActivityDeps {
  config: Config;
  store: ObjectStore;
  warehouse: Warehouse;
  notifier: Notifier;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createSettingsActivities(deps),
    ...createGenerateActivities(deps),
    ...createLoadActivities(deps),
    ...createDbtActivities(deps),
    ...createReportActivities({ ...deps, query: (sql, params) => deps.warehouse.query(sql, params) }),
    ...createNotifyActivities(deps),
    ...createCleanupActivities(deps),
  };
}

/** The activity interface workflows proxy (imported as a type only). */
export type ActivityTypes = ReturnType<typeof createActivities>;
