/**
 * Loads whole days into a warehouse through the pipeline's own activity functions, called directly (no workflow):
 * generateShard writes each part file to the object store, loadBatch loads each entity's batch, publishDay makes the
 * day visible to dbt. The bytes and rows are what a pipeline run of the same date writes; only Temporal is skipped.
 */
import { createGenerateActivities } from '../src/activities/generate.js';
import { createLoadActivities } from '../src/activities/load.js';
import { ObjectStore } from '../src/activities/storage.js';
import { createWarehouse } from '../src/activities/warehouse/index.js';
import type { Config } from '../src/config.js';
import { ENTITY_NAMES, type EntityName } from '../src/domain/entities.js';
import { planShards } from '../src/domain/shards.js';
import type { ScaleInput } from '../src/domain/types.js';

export interface LoadDaysOptions {
  /** Days in flight at once; each loads its six entities in parallel (default 1). */
  concurrency?: number;
  /** Called after each day is published, with the days done so far. */
  onDay?: (runDate: string, done: number) => void;
}

/**
 * Generates, loads and publishes `days` at `scale` into the warehouse and bucket `config` points at (creating the
 * bucket and raw tables when missing). Days run `concurrency` at a time; within a day the entities run in parallel.
 */
export async function loadDays(
  config: Config,
  days: readonly string[],
  scale: ScaleInput,
  opts: LoadDaysOptions = {},
): Promise<void> {
  const store = ObjectStore.fromConfig(config.s3);
  await store.ensureBucket();
  const warehouse = createWarehouse(config, store);
  const { generateShard } = createGenerateActivities({ store, config });
  const { loadBatch, publishDay } = createLoadActivities({ warehouse });
  const loadDay = async (runDate: string): Promise<void> => {
    const loaded = await Promise.all(
      ENTITY_NAMES.map(async (entity) => {
        const shards = Array.from({ length: planShards(entity, scale, config.shardRows) }, (_, shard) => shard);
        const parts = await Promise.all(
          shards.map((shard) => generateShard({ entity, runDate, scale, shard, seed: config.seed })),
        );
        return [entity, (await loadBatch({ entity, batchDate: runDate, objects: parts })).rows] as const;
      }),
    );
    await publishDay({ batchDate: runDate, rows: Object.fromEntries(loaded) as Record<EntityName, number> });
  };
  try {
    await warehouse.ensureRawTables();
    let next = 0;
    let done = 0;
    const lane = async (): Promise<void> => {
      while (next < days.length) {
        const runDate = days[next++] as string;
        await loadDay(runDate);
        opts.onDay?.(runDate, ++done);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, lane));
  } finally {
    await warehouse.close();
  }
}
