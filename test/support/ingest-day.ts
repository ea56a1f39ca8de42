/**
 * One day through the real generator, object store, loader and publish step, as ingestEntity and publishDay do
 * (small scale, the harness's seed), without Temporal: for the tests that build the warehouse day by day.
 */
import { createGenerateActivities } from '../../src/activities/generate.js';
import { createLoadActivities } from '../../src/activities/load.js';
import { ENTITY_NAMES, type EntityName } from '../../src/domain/entities.js';
import { planShards } from '../../src/domain/shards.js';
import type { ScaleInput } from '../../src/domain/types.js';
import type { TestHarness } from './env.js';

/** Generates, loads and publishes `date` at `scale` (default small). */
export async function ingestDay(h: TestHarness, date: string, scale: ScaleInput = 'small'): Promise<void> {
  const { generateShard } = createGenerateActivities({ store: h.store, config: h.config });
  const { loadBatch, publishDay } = createLoadActivities({ warehouse: h.warehouse });
  const rows = {} as Record<EntityName, number>;
  for (const entity of ENTITY_NAMES) {
    const shards = planShards(entity, scale, h.config.shardRows);
    const objects = await Promise.all(
      Array.from({ length: shards }, (_, shard) =>
        generateShard({ entity, runDate: date, scale, shard, seed: h.config.seed }),
      ),
    );
    rows[entity] = (await loadBatch({ entity, batchDate: date, objects })).rows;
  }
  await publishDay({ batchDate: date, rows });
}
