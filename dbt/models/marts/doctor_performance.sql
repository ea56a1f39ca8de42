-- One row per doctor and month (of the appointment day): volume, no-shows, billing and ratings.
-- Incremental by month: a build recomputes the months its batch touches and the oldest
-- month when retention trimmed it (macros/months_to_build.sql).
{{ monthly_incremental_config() }}
with

appointments as (

    {{ months_to_build(ref('appointments'), 'sum(appointments)', 'count(*)') }}

),

doctors as (

    select * from {{ ref('stg_doctors') }}

),

clinics as (

    select * from {{ ref('stg_clinics') }}

),

monthly as (

    select
        doctor_id,
        month_start_on,
        count(*) as appointments,
        count(distinct patient_id) as patients,
        sum(case when is_no_show then 1 else 0 end) as no_shows,
        coalesce(sum(billing_amount), 0) as billing_total_amount,
        count(rating) as rating_count,
        avg(cast(rating as {{ dbt.type_numeric() }})) as avg_rating

    from appointments
    group by doctor_id, month_start_on

),

final as (

    select
        monthly.doctor_id,
        monthly.month_start_on,
        doctors.full_name,
        doctors.specialty,
        doctors.clinic_id,
        clinics.clinic_name,
        monthly.appointments,
        monthly.patients,
        monthly.no_shows,
        cast({{ safe_ratio('monthly.no_shows', 'monthly.appointments') }} as numeric(5, 4)) as no_show_rate,
        cast(monthly.billing_total_amount as {{ type_money() }}) as billing_total_amount,
        cast(
            round(monthly.billing_total_amount / monthly.patients, 2) as {{ type_money() }}
        ) as avg_billing_per_patient_amount,
        cast(round(monthly.avg_rating, 2) as numeric(3, 2)) as avg_rating,
        monthly.rating_count

    from monthly
    inner join doctors
        on monthly.doctor_id = doctors.doctor_id
    inner join clinics
        on doctors.clinic_id = clinics.clinic_id

)

select * from final
