/**
 * The checks of publishDay shared by both adapters: a valid input, and what is wrong with a day whose load ledger
 * or raw tables do not hold what this run loaded.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ENTITY_NAMES, type EntityName } from '../../domain/entities.js';
import type { PublishDayInput } from '../../domain/types.js';
import { dateLiteral } from './ddl.js';

/** `input` checked: a real date and a whole, non-negative row count for each of the seven entities (else InvalidInput). */
export function validPublishInput(input: PublishDayInput): PublishDayInput {
  const bad = ENTITY_NAMES.filter((e) => !Number.isSafeInteger(input.rows?.[e]) || (input.rows[e] ?? -1) < 0);
  try {
    dateLiteral(input.batchDate);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`publishDay: batchDate: ${(err as Error).message}`, 'InvalidInput');
  }
  if (bad.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `publishDay: rows must give a whole number of rows for each of ${ENTITY_NAMES.join(', ')}; ` +
        `missing or invalid: ${bad.join(', ')}`,
      'InvalidInput',
    );
  }
  return input;
}

/**
 * Each way the day differs from what this run loaded: an entity without a ledger row, a ledger row with other
 * rows than the run loaded (another load replaced the batch since), or a table that no longer holds the ledger's
 * rows (deleted behind the ledger's back). Empty when the day can be published.
 */
export function dayProblems(
  loaded: Record<EntityName, number>,
  ledger: ReadonlyMap<EntityName, number>,
  counted: ReadonlyMap<EntityName, number>,
): string[] {
  const problems: string[] = [];
  for (const entity of ENTITY_NAMES) {
    const recorded = ledger.get(entity);
    const held = counted.get(entity) ?? 0;
    if (recorded === undefined) problems.push(`${entity} has no load ledger row`);
    else if (recorded !== loaded[entity]) {
      problems.push(`${entity}: the ledger holds a load of ${recorded} rows, this run loaded ${loaded[entity]}`);
    } else if (held !== recorded)
      problems.push(`${entity}: raw.${entity} holds ${held} of the ledger's ${recorded} rows`);
  }
  return problems;
}
