-- One row per month and clinic: how many appointments were booked, kept and missed, and what they billed.
-- Incremental by month: a build recomputes the months its batch touches and the oldest
-- month when retention trimmed it (macros/months_to_build.sql).
{{ monthly_incremental_config() }}
with

appointments as (

    {{ months_to_build(ref('appointments'), 'sum(appointments)', 'count(*)') }}

),

clinics as (

    select * from {{ ref('stg_clinics') }}

),

monthly as (

    select
        month_start_on,
        clinic_id,
        count(*) as appointments,
        sum(case when is_no_show then 0 else 1 end) as attended_appointments,
        sum(case when is_no_show then 1 else 0 end) as no_shows,
        sum(case when has_sms_reminder then 1 else 0 end) as sms_reminders,
        count(distinct patient_id) as patients,
        count(distinct doctor_id) as doctors,
        coalesce(sum(billing_amount), 0) as billing_total_amount,
        count(rating) as rating_count,
        avg(cast(rating as {{ dbt.type_numeric() }})) as avg_rating

    from appointments
    group by month_start_on, clinic_id

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
        monthly.patients,
        monthly.doctors,
        cast(monthly.billing_total_amount as {{ type_money() }}) as billing_total_amount,
        cast(round(monthly.avg_rating, 2) as numeric(3, 2)) as avg_rating,
        monthly.rating_count

    from monthly
    inner join clinics
        on monthly.clinic_id = clinics.clinic_id

)

select * from final
