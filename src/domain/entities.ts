/**
 * The one definition of every entity Health Synth generates and loads.
 *
 * The CSV header, the raw-table DDL for PostgreSQL and Redshift and dbt's sources YAML are all
 * derived from this file, so a column added here shows up everywhere (and a drift test fails if
 * dbt/models/staging/__sources.yml is not regenerated).
 */

/** Logical column types; each adapter maps them to its own SQL type. */
export type ColumnType = 'id' | 'integer' | 'smallint' | 'text' | 'date' | 'timestamp' | 'time' | 'boolean' | 'money';

export const ENTITY_NAMES = [
  'clinics',
  'doctors',
  'patients',
  'appointments',
  'records',
  'feedback',
  'schedule',
] as const;
export type EntityName = (typeof ENTITY_NAMES)[number];

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  /** Defaults to false: every generated value is present unless a column says otherwise. */
  readonly nullable?: boolean;
  /** Foreign key: the referenced entity's key column. */
  readonly references?: EntityName;
  /** Enumerations: the only values the column may hold (dbt accepted_values). */
  readonly accepted?: readonly (string | number)[];
  /** Upper bound of text length, used for Redshift VARCHAR sizing. */
  readonly maxLength?: number;
}

export interface EntityDef {
  readonly name: EntityName;
  readonly description: string;
  /** The primary key column (always the first column). */
  readonly key: string;
  /** Every column in CSV order, key first; `batch_date` is appended by {@link csvColumns}. */
  readonly columns: readonly Column[];
}

export const SPECIALTIES = [
  'general_practice',
  'pediatrics',
  'cardiology',
  'dermatology',
  'orthopedics',
  'gynecology',
  'psychiatry',
  'ophthalmology',
] as const;
export type Specialty = (typeof SPECIALTIES)[number];

export const GENDERS = ['F', 'M'] as const;

/** The column every raw table carries: the run date whose batch wrote the row. */
export const BATCH_DATE: Column = {
  name: 'batch_date',
  type: 'date',
  description: 'Run date of the pipeline batch that loaded this row; a reload replaces the whole batch.',
};

const id = (name: string, description: string, references?: EntityName): Column => ({
  name,
  type: 'id',
  description,
  ...(references ? { references } : {}),
});
const flag = (name: string, description: string): Column => ({ name, type: 'boolean', description });

export const ENTITIES: Readonly<Record<EntityName, EntityDef>> = {
  clinics: {
    name: 'clinics',
    description: 'Clinics of the network; a full snapshot of the network as of the batch date.',
    key: 'clinic_id',
    columns: [
      id('clinic_id', 'Stable clinic identifier.'),
      { name: 'clinic_name', type: 'text', description: 'Public name of the clinic.', maxLength: 128 },
      { name: 'neighbourhood', type: 'text', description: 'Neighbourhood the clinic is in.', maxLength: 128 },
      { name: 'capacity', type: 'integer', description: 'Appointments the clinic can serve per day.' },
      { name: 'opened_on', type: 'date', description: 'Day the clinic opened.' },
    ],
  },
  doctors: {
    name: 'doctors',
    description: 'Doctors employed as of the batch date (a snapshot; new hires appear over time).',
    key: 'doctor_id',
    columns: [
      id('doctor_id', 'Stable doctor identifier.'),
      { name: 'full_name', type: 'text', description: 'Doctor name.', maxLength: 128 },
      { name: 'specialty', type: 'text', description: 'Medical specialty.', accepted: SPECIALTIES, maxLength: 32 },
      id('clinic_id', 'Clinic the doctor works at.', 'clinics'),
      { name: 'shift_start', type: 'time', description: 'Start of the daily shift (local time).' },
      { name: 'shift_end', type: 'time', description: 'End of the daily shift (local time).' },
      { name: 'hired_on', type: 'date', description: 'Day the doctor was hired.' },
    ],
  },
  patients: {
    name: 'patients',
    description:
      'Patients seen on the batch date: new registrations and returning patients. A patient seen on several days appears in several batches with the same attributes; staging keeps the latest.',
    key: 'patient_id',
    columns: [
      id(
        'patient_id',
        'Stable patient identifier: tenure * 10^9 + population slot (a slot is held by successive patients).',
      ),
      { name: 'full_name', type: 'text', description: 'Patient name.', maxLength: 128 },
      { name: 'gender', type: 'text', description: 'F or M.', accepted: GENDERS, maxLength: 1 },
      { name: 'birth_date', type: 'date', description: 'Date of birth.' },
      { name: 'neighbourhood', type: 'text', description: 'Neighbourhood of residence.', maxLength: 128 },
      flag('scholarship', 'Enrolled in the social welfare programme.'),
      flag('hypertension', 'Diagnosed with hypertension.'),
      flag('diabetes', 'Diagnosed with diabetes.'),
      flag('alcoholism', 'Diagnosed with alcoholism.'),
      { name: 'handicap', type: 'smallint', description: 'Number of handicaps (0-4).', accepted: [0, 1, 2, 3, 4] },
      { name: 'registered_on', type: 'date', description: 'Day the patient registered with the network.' },
    ],
  },
  appointments: {
    name: 'appointments',
    description: 'Appointments that took place (or were missed) on the batch date.',
    key: 'appointment_id',
    columns: [
      id('appointment_id', 'Unique appointment identifier (unique across days).'),
      id('patient_id', 'Patient who booked.', 'patients'),
      id('doctor_id', 'Doctor seen.', 'doctors'),
      { name: 'scheduled_at', type: 'timestamp', description: 'When the appointment was booked.' },
      { name: 'appointment_day', type: 'date', description: 'Day of the appointment.' },
      flag('sms_received', 'An SMS reminder was sent before the appointment.'),
      flag('no_show', 'The patient did not show up.'),
    ],
  },
  schedule: {
    name: 'schedule',
    description:
      "Tomorrow's schedule: the appointments of the next weekday after the batch date that were already booked at " +
      'the end of it (scheduled_at on or before the batch date), with the ids and attributes the appointments batch ' +
      'of that day will carry, and no outcome. patient_id and doctor_id are not foreign keys of the batch: a first ' +
      "visit's patient, or a doctor hired since, is in no batch yet.",
    key: 'appointment_id',
    columns: [
      id('appointment_id', 'The appointment id the appointments batch of appointment_day will carry.'),
      id('patient_id', 'Patient who booked.'),
      id('doctor_id', 'Doctor booked.'),
      {
        name: 'scheduled_at',
        type: 'timestamp',
        description: 'When the appointment was booked (on or before the batch date).',
      },
      {
        name: 'appointment_day',
        type: 'date',
        description: 'Day of the appointment: the next weekday after the batch date.',
      },
      flag('sms_received', 'An SMS reminder was sent before the appointment.'),
    ],
  },
  records: {
    name: 'records',
    description: 'Medical record with billing, one per attended appointment.',
    key: 'record_id',
    columns: [
      id('record_id', 'Unique record identifier.'),
      id('appointment_id', 'Appointment the record documents.', 'appointments'),
      id('patient_id', 'Patient treated.', 'patients'),
      id('doctor_id', 'Doctor who wrote the record.', 'doctors'),
      { name: 'report_date', type: 'date', description: 'Day the record was written.' },
      { name: 'diagnosis', type: 'text', description: 'Primary diagnosis.', maxLength: 64 },
      { name: 'billing_amount', type: 'money', description: 'Amount billed, in currency units with cents.' },
    ],
  },
  feedback: {
    name: 'feedback',
    description: 'Patient feedback on an attended appointment (a share of records get one).',
    key: 'feedback_id',
    columns: [
      id('feedback_id', 'Unique feedback identifier.'),
      id('appointment_id', 'Appointment rated.', 'appointments'),
      id('patient_id', 'Patient who rated.', 'patients'),
      id('doctor_id', 'Doctor rated.', 'doctors'),
      {
        name: 'rating',
        type: 'smallint',
        description: 'Rating from 1 (worst) to 5 (best).',
        accepted: [1, 2, 3, 4, 5],
      },
      {
        name: 'comment',
        type: 'text',
        description: 'Free-text comment; empty for most ratings.',
        nullable: true,
        maxLength: 1024,
      },
      { name: 'submitted_at', type: 'timestamp', description: 'When the feedback was submitted.' },
    ],
  },
};

/** The entities whose rows depend on a day's no-show outcomes, and so on its reminded set. */
export const OUTCOME_ENTITIES: readonly EntityName[] = ['appointments', 'records', 'feedback'];

/** Columns in CSV and table order: the entity's columns, then `batch_date`. */
export function csvColumns(entity: EntityName): readonly Column[] {
  return [...ENTITIES[entity].columns, BATCH_DATE];
}

/** The CSV header line (without line ending) for an entity's part files. */
export function csvHeader(entity: EntityName): string {
  return csvColumns(entity)
    .map((c) => c.name)
    .join(',');
}

export function isEntityName(value: unknown): value is EntityName {
  return typeof value === 'string' && (ENTITY_NAMES as readonly string[]).includes(value);
}

/** Raw schema name in the warehouse; tables are `raw.<entity>`. */
export const RAW_SCHEMA = 'raw';
