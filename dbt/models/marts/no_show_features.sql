-- One row per appointment and batch: what the no-show model reads, point-in-time correct. An appointment's features
-- use only what was known at the end of the day before its day: its own booking (lead time, weekday, SMS), the
-- patient and doctor as the batch describes them, and the patient's history of appointments on earlier days only
-- (prior visits, prior no-shows, days since the last one). Past appointments carry their outcome (is_no_show), the
-- label the model trains on. A later batch never changes an earlier batch's rows: the history is a window over
-- strictly earlier days (test/integration/no-show-features.test.ts builds a day with 0 and with 5 later days loaded
-- and compares).
-- Incremental on the run date's batch (see macros/incremental.sql): the batch's rows plus the history of the
-- batch's patients, read from the appointments mart.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='batch_on',
        on_schema_change='fail',
        indexes=[{'columns': ['batch_on']}, {'columns': ['appointment_on']}],
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

booked as (

    select
        appointments.appointment_id,
        appointments.patient_id,
        appointments.doctor_id,
        doctors.clinic_id,
        doctors.specialty,
        appointments.appointment_on,
        appointments.batch_on,
        appointments.is_no_show,
        {{ days_between('appointments.scheduled_at', 'appointments.appointment_on') }} as lead_time_days,
        cast(extract(dow from appointments.appointment_on) as {{ dbt.type_int() }}) as weekday,
        {{ age_in_years('patients.born_on', 'appointments.appointment_on') }} as patient_age_years,
        patients.gender as patient_gender,
        patients.neighbourhood,
        patients.has_scholarship,
        patients.has_hypertension,
        patients.has_diabetes,
        patients.has_alcoholism,
        patients.handicap_count,
        appointments.has_sms_reminder

    from appointments
    inner join patients
        on appointments.patient_id = patients.patient_id
        and appointments.batch_on = patients.batch_on
    inner join doctors
        on appointments.doctor_id = doctors.doctor_id
        and appointments.batch_on = doctors.batch_on

),

-- Every day on which a patient of these rows had appointments (with their outcomes), plus the days being featured,
-- so each row finds its own (patient, day) below. Only strictly earlier days feed a row's history.
past as (

    select patient_id, appointment_on, is_no_show
    from {{ ref('appointments') }}
    {% if is_incremental() %}
        where patient_id in (select patient_id from booked)
        and appointment_on <= (select max(appointment_on) from booked)
    {% endif %}

),

patient_days as (

    select
        patient_id,
        appointment_on,
        sum(visits) as visits,
        sum(no_shows) as no_shows

    from (
        select patient_id, appointment_on, 1 as visits, case when is_no_show then 1 else 0 end as no_shows
        from past
        union all
        select distinct patient_id, appointment_on, 0 as visits, 0 as no_shows
        from booked
    ) as days
    group by patient_id, appointment_on

),

history as (

    select
        patient_id,
        appointment_on,
        coalesce(sum(visits) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ), 0) as prior_visits,
        coalesce(sum(no_shows) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ), 0) as prior_no_shows,
        max(case when visits > 0 then appointment_on end) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ) as last_visit_on

    from patient_days

),

final as (

    select
        booked.appointment_id,
        booked.patient_id,
        booked.doctor_id,
        booked.clinic_id,
        booked.specialty,
        booked.appointment_on,
        booked.batch_on,
        booked.is_no_show,
        booked.lead_time_days,
        booked.weekday,
        booked.patient_age_years,
        booked.patient_gender,
        booked.neighbourhood,
        booked.has_scholarship,
        booked.has_hypertension,
        booked.has_diabetes,
        booked.has_alcoholism,
        booked.handicap_count,
        booked.has_sms_reminder,
        cast(history.prior_visits as {{ dbt.type_int() }}) as prior_visits,
        cast(history.prior_no_shows as {{ dbt.type_int() }}) as prior_no_shows,
        {{ days_between('history.last_visit_on', 'booked.appointment_on') }} as days_since_last_visit

    from booked
    inner join history
        on booked.patient_id = history.patient_id
        and booked.appointment_on = history.appointment_on

)

select * from final
