/**
 * `healthsynth risk [--date D] [--limit N] [--json]`: the appointments the no-show model scored riskiest on date D
 * (the next weekday's schedule), read from `marts.no_show_risk`. Ids only (appointment, day, clinic, doctor), the
 * probability, decile and model version: the table holds no names, and the command joins nothing that does, so its
 * output can go to a ticket or a chat without exposing a patient.
 */
import type { Command } from 'commander';
import type { Warehouse } from '../activities/warehouse/index.js';
import {
  jsonOption,
  parseLimit,
  printJson,
  resolveDeps,
  runAction,
  UsageError,
  withWarehouse,
  type CliDeps,
} from './command.js';
import { parseRunDate, todayIn } from './dates.js';
import { formatTable } from './format.js';

/** One scored appointment, as `risk --json` prints it. */
export interface RiskRow {
  appointmentId: string;
  appointmentDay: string;
  clinicId: string;
  doctorId: string;
  probability: number;
  riskDecile: number;
  modelVersion: string;
}

/** What `risk --json` prints: the date, how many appointments were scored that day, and the riskiest `limit`. */
export interface RiskReport {
  scoredOn: string;
  scored: number;
  appointments: RiskRow[];
}

/** The model tables are missing (no pipeline run on this warehouse has reached the model yet). */
export class ModelTablesMissing extends UsageError {
  override name = 'ModelTablesMissing';
}

/** Nothing was scored on the date asked for. */
export class NoScores extends UsageError {
  override name = 'NoScores';
}

/**
 * Reads the riskiest `limit` appointments scored on `scoredOn`, highest probability first (ties by appointment id, so
 * the order is stable). Fails with {@link ModelTablesMissing} when `marts.no_show_risk` does not exist and with
 * {@link NoScores} when it holds nothing for the date; both say what to run. Portable SQL (PostgreSQL and Redshift).
 */
export async function topRisk(warehouse: Warehouse, scoredOn: string, limit: number): Promise<RiskReport> {
  const tables = await warehouse.query<{ n: number }>(
    `select count(*) as n from information_schema.tables where table_schema = 'marts' and table_name = 'no_show_risk'`,
  );
  if (Number(tables[0]?.n ?? 0) === 0) {
    throw new ModelTablesMissing(
      'marts.no_show_risk does not exist: the no-show model has not run on this warehouse yet; ' +
        `run the pipeline for ${scoredOn} first (healthsynth run --date ${scoredOn})`,
    );
  }
  const counted = await warehouse.query<{ n: number }>(
    'select count(*) as n from marts.no_show_risk where scored_on = $1',
    [scoredOn],
  );
  const scored = Number(counted[0]?.n ?? 0);
  if (scored === 0) {
    throw new NoScores(
      `no appointments were scored on ${scoredOn}: run the pipeline for ${scoredOn} first ` +
        `(healthsynth run --date ${scoredOn}); a warehouse with under 1,000 past outcomes trains no model`,
    );
  }
  const rows = await warehouse.query<{
    appointment_id: string;
    appointment_day: string;
    clinic_id: string;
    doctor_id: string;
    probability: number;
    risk_decile: number;
    model_version: string;
  }>(
    `select appointment_id, appointment_day, clinic_id, doctor_id, probability, risk_decile, model_version
     from marts.no_show_risk where scored_on = $1
     order by probability desc, appointment_id limit ${limit}`,
    [scoredOn],
  );
  return {
    scoredOn,
    scored,
    appointments: rows.map((r) => ({
      appointmentId: r.appointment_id,
      appointmentDay: String(r.appointment_day).slice(0, 10),
      clinicId: r.clinic_id,
      doctorId: r.doctor_id,
      probability: Number(r.probability),
      riskDecile: Number(r.risk_decile),
      modelVersion: r.model_version,
    })),
  };
}

/** Registers `risk [--date D] [--limit N] [--json]` on `program`. Reads the warehouse only; Temporal is not needed. */
export function registerRiskCommands(program: Command, deps: CliDeps = {}): void {
  const { io, config: getConfig } = resolveDeps(deps);
  jsonOption(
    program
      .command('risk')
      .description('List the appointments the no-show model scored riskiest on a date (ids only, never names).')
      .option('--date <YYYY-MM-DD>', 'the scoring date: the run date whose next weekday was scored (default: today)')
      .option('--limit <n>', 'how many appointments to show (1-1000)', '20'),
  ).action((opts: { date?: string; limit: string; json?: boolean }) =>
    runAction(io, async () => {
      const config = getConfig();
      const today = todayIn(config.timezone);
      const date = parseRunDate(
        opts.date === undefined ? '--date (default: today)' : '--date',
        opts.date ?? today,
        today,
        config.timezone,
      );
      const limit = parseLimit(opts.limit);
      const report = await withWarehouse(config, (warehouse) => topRisk(warehouse, date, limit));
      if (opts.json) {
        printJson(io, report);
        return;
      }
      io.out(
        `${report.appointments.length} riskiest of ${report.scored} appointments scored on ${date}` +
          ` (model ${report.appointments[0]?.modelVersion ?? '-'}):`,
      );
      io.out(
        formatTable(
          ['APPOINTMENT', 'DAY', 'CLINIC', 'DOCTOR', 'PROBABILITY', 'DECILE', 'MODEL'],
          report.appointments.map((r) => [
            r.appointmentId,
            r.appointmentDay,
            r.clinicId,
            r.doctorId,
            r.probability.toFixed(3),
            String(r.riskDecile),
            r.modelVersion,
          ]),
        ),
      );
    }),
  );
}
