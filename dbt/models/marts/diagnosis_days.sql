-- One row per batch, appointment day and primary diagnosis of its record (has_record false: the appointments without
-- a record): what patient_conditions_monthly sums for a month instead of re-reading that month's appointments
-- (2.1M by the 29th at medium) every morning. As in doctor_days, on PostgreSQL each row keeps the distinct ids of
-- its patients, and of those with each chronic condition (null when none has it), for the month's distinct counts
-- (macros/distinct_patients.sql). Incremental on the run date's batch (delete+insert on `batch_on`).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='batch_on',
        on_schema_change='fail',
        indexes=[{'columns': ['batch_on']}, {'columns': ['month_start_on']}],
        sort=['batch_on', 'appointment_on'],
        dist='even',
        post_hook=[
            "{{ purge_below('batch_on', ref('appointments'), 'batch_on') }}",
            "{{ analyze_after_build(['batch_on', 'appointment_on', 'month_start_on', 'has_record', 'diagnosis']) }}",
        ],
    )
}}

with

appointments as (

    select * from {{ ref('appointments') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

final as (

    select
        batch_on,
        appointment_on,
        month_start_on,
        has_record,
        diagnosis,
        count(*) as appointments,
        count(record_id) as records,
        sum(billing_amount) as billing_total_amount
        {%- if target.type == 'postgres' %},
        array_agg(distinct patient_id order by patient_id) as patient_ids,
        array_agg(distinct patient_id order by patient_id) filter (where patient_has_hypertension)
            as hypertension_patient_ids,
        array_agg(distinct patient_id order by patient_id) filter (where patient_has_diabetes)
            as diabetes_patient_ids,
        array_agg(distinct patient_id order by patient_id) filter (where patient_has_alcoholism)
            as alcoholism_patient_ids,
        array_agg(distinct patient_id order by patient_id) filter (where patient_handicap_count > 0)
            as handicap_patient_ids
        {%- endif %}

    from appointments
    group by batch_on, appointment_on, month_start_on, has_record, diagnosis

)

select * from final
