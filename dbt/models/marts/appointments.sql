-- One row per appointment, with everything the other marts aggregate: the doctor's clinic and specialty,
-- the patient's age and conditions on the day, the lead time, the record's billing and the patient's rating.
-- Incremental on the run date's batch (see macros/incremental.sql): every join stays inside the appointment's
-- own batch (its patient and doctor snapshots, its record and feedback), so a batch's rows are the same whether
-- they are built alone or in a full rebuild.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='batch_on',
        on_schema_change='fail',
        indexes=[
            {'columns': ['batch_on']},
            {'columns': ['appointment_on']},
            {'columns': ['month_start_on']},
        ],
        sort=['batch_on', 'appointment_on'],
        dist='even',
        post_hook="{{ purge_below('batch_on', source('raw', 'appointments'), 'batch_date') }}",
    )
}}

with

appointments as (

    select * from {{ ref('stg_appointments') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

patients as (

    select * from {{ ref('stg_patient_snapshots') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

doctors as (

    select * from {{ ref('stg_doctor_snapshots') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

records as (

    select * from {{ ref('stg_records') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

feedback as (

    select * from {{ ref('stg_feedback') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

joined as (

    select
        appointments.appointment_id,
        appointments.patient_id,
        appointments.doctor_id,
        doctors.clinic_id,
        doctors.specialty,
        patients.gender as patient_gender,
        {{ age_in_years('patients.born_on', 'appointments.appointment_on') }} as patient_age_years,
        {{ days_between('appointments.scheduled_at', 'appointments.appointment_on') }} as lead_time_days,
        appointments.has_sms_reminder,
        appointments.is_no_show,
        records.record_id is not null as has_record,
        feedback.feedback_id is not null as has_feedback,
        records.record_id,
        records.diagnosis,
        records.billing_amount,
        feedback.feedback_id,
        feedback.rating,
        appointments.scheduled_at,
        feedback.submitted_at as feedback_submitted_at,
        appointments.appointment_on,
        {{ month_start('appointments.appointment_on') }} as month_start_on,
        patients.has_hypertension as patient_has_hypertension,
        patients.has_diabetes as patient_has_diabetes,
        patients.has_alcoholism as patient_has_alcoholism,
        patients.handicap_count as patient_handicap_count,
        appointments.batch_on

    from appointments
    inner join patients
        on appointments.patient_id = patients.patient_id
        and appointments.batch_on = patients.batch_on
    inner join doctors
        on appointments.doctor_id = doctors.doctor_id
        and appointments.batch_on = doctors.batch_on
    left join records
        on appointments.appointment_id = records.appointment_id
        and appointments.batch_on = records.batch_on
    left join feedback
        on appointments.appointment_id = feedback.appointment_id
        and appointments.batch_on = feedback.batch_on

)

select * from joined
