-- No-show counts per batch, appointment day and segment (lead time, age band, SMS reminder): the additive part of
-- no_show_rates, kept per batch so a day's build adds its batch instead of re-reading every appointment.
-- Incremental on the run date's batch (see macros/incremental.sql).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='batch_on',
        on_schema_change='fail',
        indexes=[{'columns': ['batch_on']}],
        sort=['batch_on'],
        post_hook="{{ purge_below('batch_on', ref('appointments'), 'batch_on') }}",
    )
}}

with

appointments as (

    select * from {{ ref('appointments') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

bucketed as (

    select
        batch_on,
        appointment_on,
        {{ lead_time_bucket('lead_time_days') }} as lead_time_bucket,
        {{ age_band('patient_age_years') }} as age_band,
        has_sms_reminder,
        is_no_show

    from appointments

),

final as (

    select
        batch_on,
        appointment_on,
        lead_time_bucket,
        age_band,
        has_sms_reminder,
        count(*) as appointments,
        sum(case when is_no_show then 1 else 0 end) as no_shows

    from bucketed
    group by batch_on, appointment_on, lead_time_bucket, age_band, has_sms_reminder

)

select * from final
