/**
 * Signals, queries and Updates shared by the workflows. `progress` is what `healthsynth follow`
 * and the Web UI's query tab read; `patientAnswer` is what the patients' bot sends.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { EntityName } from '../domain/entities.js';
import type { PipelineProgress, StepState } from '../domain/types.js';
import {
  PATIENT_ANSWER_UPDATE,
  PATIENT_COMMENT_UPDATE,
  type PatientAnswer,
  type PatientComment,
} from '../workflow-ids.js';

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

/** A patient's button press, sent by the bot (src/bot/bot.ts) to `reminder-<id>` and `ratingRequest-<id>`. */
export const patientAnswerUpdate = defineUpdate<string, [PatientAnswer]>(PATIENT_ANSWER_UPDATE);

/** A patient's reply to the comment invitation of `ratingRequest-<id>`, sent by the bot (sealed text). */
export const patientCommentUpdate = defineUpdate<string, [PatientComment]>(PATIENT_COMMENT_UPDATE);
