-- No-show rate by lead time, age band and SMS reminder, over every appointment up to var('run_date'):
-- the three factors the public "Medical Appointment No Shows" data is known for. Sums no_show_daily (a few
-- hundred rows per day), so it stays a small table rebuilt on every run.
with

daily as (

    select * from {{ ref('no_show_daily') }}
    where appointment_on <= {{ run_date() }}

),

rates as (

    select
        lead_time_bucket,
        age_band,
        has_sms_reminder,
        cast(sum(appointments) as {{ dbt.type_bigint() }}) as appointments,
        cast(sum(no_shows) as {{ dbt.type_bigint() }}) as no_shows

    from daily
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
