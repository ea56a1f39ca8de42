-- One row per month and clinic: how many appointments were booked, kept and missed, and what they billed.
-- Incremental by month: a build recomputes the months its batch touches and the oldest
-- month when retention trimmed it (macros/months_to_build.sql), from doctor_days' daily rows of those months.
{{ monthly_incremental_config() }}
with

days as (

    {{ months_to_build(ref('doctor_days'), 'sum(appointments)', 'sum(appointments)') }}

),

clinics as {{ computed_once() }} (

    select * from {{ ref('stg_clinics') }}

),

monthly as (

    select
        month_start_on,
        clinic_id,
        cast(sum(appointments) as {{ dbt.type_bigint() }}) as appointments,
        cast(sum(appointments) - sum(no_shows) as {{ dbt.type_bigint() }}) as attended_appointments,
        cast(sum(no_shows) as {{ dbt.type_bigint() }}) as no_shows,
        cast(sum(sms_reminders) as {{ dbt.type_bigint() }}) as sms_reminders,
        count(distinct doctor_id) as doctors,
        coalesce(sum(billing_total_amount), 0) as billing_total_amount,
        cast(sum(rating_count) as {{ dbt.type_bigint() }}) as rating_count,
        cast(sum(rating_sum) as {{ dbt.type_numeric() }}) / nullif(sum(rating_count), 0) as avg_rating

    from days
    group by month_start_on, clinic_id

),

patients as {{ computed_once() }} (

    {{ distinct_patients('days', ['month_start_on', 'clinic_id'], 'month_start_on in (select month_start_on from days)') }}

),

final as (

    select
        monthly.month_start_on,
        monthly.clinic_id,
        clinics.clinic_name,
        monthly.appointments,
        monthly.attended_appointments,
        monthly.no_shows,
        cast({{ safe_ratio('monthly.no_shows', 'monthly.appointments') }} as numeric(5, 4)) as no_show_rate,
        monthly.sms_reminders,
        patients.patients,
        monthly.doctors,
        cast(monthly.billing_total_amount as {{ type_money() }}) as billing_total_amount,
        cast(round(monthly.avg_rating, 2) as numeric(3, 2)) as avg_rating,
        monthly.rating_count

    from monthly
    inner join patients
        on monthly.month_start_on = patients.month_start_on
        and monthly.clinic_id = patients.clinic_id
    inner join clinics
        on monthly.clinic_id = clinics.clinic_id

)

select * from final
