-- One row per doctor and month (of the appointment day): volume, no-shows, billing and ratings.
-- Incremental by month: a build recomputes the months its batch touches and the oldest
-- month when retention trimmed it (macros/months_to_build.sql), from doctor_days' daily rows of those months.
{{ monthly_incremental_config() }}
with

days as (

    {{ months_to_build(ref('doctor_days'), 'sum(appointments)', 'sum(appointments)') }}

),

doctors as {{ computed_once() }} (

    select * from {{ ref('stg_doctors') }}

),

clinics as {{ computed_once() }} (

    select * from {{ ref('stg_clinics') }}

),

monthly as (

    select
        doctor_id,
        month_start_on,
        cast(sum(appointments) as {{ dbt.type_bigint() }}) as appointments,
        cast(sum(no_shows) as {{ dbt.type_bigint() }}) as no_shows,
        coalesce(sum(billing_total_amount), 0) as billing_total_amount,
        cast(sum(rating_count) as {{ dbt.type_bigint() }}) as rating_count,
        cast(sum(rating_sum) as {{ dbt.type_numeric() }}) / nullif(sum(rating_count), 0) as avg_rating

    from days
    group by doctor_id, month_start_on

),

patients as {{ computed_once() }} (

    {{ distinct_patients('days', ['doctor_id', 'month_start_on'], 'month_start_on in (select month_start_on from days)') }}

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
        patients.patients,
        monthly.no_shows,
        cast({{ safe_ratio('monthly.no_shows', 'monthly.appointments') }} as numeric(5, 4)) as no_show_rate,
        cast(monthly.billing_total_amount as {{ type_money() }}) as billing_total_amount,
        cast(
            round(monthly.billing_total_amount / patients.patients, 2) as {{ type_money() }}
        ) as avg_billing_per_patient_amount,
        cast(round(monthly.avg_rating, 2) as numeric(3, 2)) as avg_rating,
        monthly.rating_count

    from monthly
    inner join patients
        on monthly.doctor_id = patients.doctor_id
        and monthly.month_start_on = patients.month_start_on
    inner join doctors
        on monthly.doctor_id = doctors.doctor_id
    inner join clinics
        on doctors.clinic_id = clinics.clinic_id

)

select * from final
