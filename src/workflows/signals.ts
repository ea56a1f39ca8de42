/**
 * Signals and queries shared by the pipeline's workflows. `progress` is what `healthsynth follow`
 * and the Web UI's query tab read.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { EntityName } from '../domain/entities.js';
import type { PipelineProgress, StepState } from '../domain/types.js';

export interface EntityProgressUpdate {
  entity: EntityName;
  generated: number;
  loaded: number;
  state: StepState;
}

/** Sent by each ingestEntity child to its parent pipeline as shards finish and the load completes. */
export const entityProgressSignal = defineSignal<[EntityProgressUpdate]>('entityProgress');

/** The pipeline's steps and their states, plus per-entity row counts. */
export const progressQuery = defineQuery<PipelineProgress>('progress');
