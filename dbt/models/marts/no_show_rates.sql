-- No-show rate by lead time, age band and SMS reminder, over every appointment up to var('run_date'):
-- the three factors the public "Medical Appointment No Shows" data is known for.
with

appointments as (

    select * from {{ ref('appointments') }}
    where appointment_on <= {{ run_date() }}

),

bucketed as (

    select
        {{ lead_time_bucket('lead_time_days') }} as lead_time_bucket,
        {{ age_band('patient_age_years') }} as age_band,
        has_sms_reminder,
        is_no_show

    from appointments

),

rates as (

    select
        lead_time_bucket,
        age_band,
        has_sms_reminder,
        count(*) as appointments,
        sum(case when is_no_show then 1 else 0 end) as no_shows

    from bucketed
    group by lead_time_bucket, age_band, has_sms_reminder

),

final as (

    select
        lead_time_bucket,
        age_band,
        has_sms_reminder,
        appointments,
        no_shows,
        cast({{ safe_ratio('no_shows', 'appointments') }} as numeric(5, 4)) as no_show_rate

    from rates

)

select * from final
