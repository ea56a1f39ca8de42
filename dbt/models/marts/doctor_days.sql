-- One row per batch, appointment day, doctor (with the clinic of that day's snapshot) and day a rating was submitted
-- (null: no rating): what the monthly marts and doctor_rating's 90-day window sum, instead of re-reading the
-- appointments mart's rows (2.1M a month, 6.4M in the window at 120 medium days) every morning.
-- Counts and sums add up across rows. Distinct patients do not, so on PostgreSQL each row also keeps its distinct
-- patient ids (`patient_ids`, sorted): a month's or a window's distinct patients are the distinct
-- elements of its rows' arrays (macros/distinct_patients.sql), about 10,000 ids a doctor, sorted in memory, in
-- place of one external sort of every appointment. Redshift has no arrays; there the marts count distinct patients
-- from the appointments mart, as before.
-- Incremental on the run date's batch like the appointments mart it reads (delete+insert on `batch_on`), so reruns,
-- backfills in any order and retention give the rows a full rebuild gives (test/integration/dbt-incremental.test.ts).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='batch_on',
        on_schema_change='fail',
        indexes=[{'columns': ['batch_on']}, {'columns': ['appointment_on']}, {'columns': ['month_start_on']}],
        sort=['batch_on', 'appointment_on'],
        dist='even',
        post_hook=[
            "{{ purge_below('batch_on', ref('appointments'), 'batch_on') }}",
            "{{ analyze_after_build(['batch_on', 'appointment_on', 'month_start_on', 'doctor_id', 'clinic_id', 'rated_on']) }}",
        ],
    )
}}

with

appointments as (

    select
        *,
        case when rating is not null then cast(feedback_submitted_at as date) end as rated_on
    from {{ ref('appointments') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

final as (

    select
        batch_on,
        appointment_on,
        month_start_on,
        doctor_id,
        clinic_id,
        rated_on,
        count(*) as appointments,
        sum(case when is_no_show then 1 else 0 end) as no_shows,
        sum(case when has_sms_reminder then 1 else 0 end) as sms_reminders,
        sum(billing_amount) as billing_total_amount,
        count(rating) as rating_count,
        sum(rating) as rating_sum
        {%- if target.type == 'postgres' %},
        array_agg(distinct patient_id order by patient_id) as patient_ids
        {%- endif %}

    from appointments
    group by batch_on, appointment_on, month_start_on, doctor_id, clinic_id, rated_on

)

select * from final
