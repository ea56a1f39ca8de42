{#
  The doctor ranking behind the daily report, as of var('run_date') over a trailing window of
  var('rating_window_days') days (run date included). The score is documented in doctor_rating.yml:

    shrunk_rating   = (C * m + sum of ratings) / (C + rating_count)        C = var('rating_prior_weight'),
                                                                           m = mean of all ratings in the window
    rating_part     = (shrunk_rating - 1) / 4                              0..1
    billing_index   = billing_per_patient / specialty average of it        1 = typical for the specialty
    billing_part    = least(billing_index, 2) / 2                          0..1 (0.5 = typical)
    score           = 100 * (w_r * rating_part + w_b * billing_part)       w_r, w_b = var('rating_score_weight'),
                                                                           var('billing_score_weight')
#}
{#
  One ranking per run date: each build replaces the rows of its own as_of_on (delete+insert keyed on as_of_on, in
  one transaction, so a reader sees the old ranking or the new one, never none) and leaves other dates alone. Two
  pipelines for different dates therefore never overwrite each other's ranking, and the report reads its own date.
  The key is as_of_on alone, not (as_of_on, doctor_id), so a rebuild of a date also drops a doctor who has left
  that date's ranking. The grain (one row per as_of_on and doctor) is checked by the tests in doctor_rating.yml.
  `dbt build --full-refresh` recreates the table with only the run date's ranking (older dates come back when the
  pipeline is rerun for them), unless var('keep_rankings') is true: then the model ignores --full-refresh and
  replaces only the run date's ranking, as the weekly dbt-full-refresh runs it (past rankings cannot be rebuilt
  from one run: each needs its own run date). sort/dist apply on Redshift, indexes on PostgreSQL; each adapter ignores the other's.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_on',
        full_refresh=(false if var('keep_rankings', false) else none),
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_on', 'score_rank']}],
        sort=['as_of_on', 'score_rank'],
        dist='even',
    )
}}
{%- set window_days = var('rating_window_days') | int -%}
{%- set prior_weight = var('rating_prior_weight') -%}

with

appointments as (

    select * from {{ ref('appointments') }}

),

doctors as {{ computed_once() }} (

    select * from {{ ref('stg_doctors') }}

),

clinics as {{ computed_once() }} (

    select * from {{ ref('stg_clinics') }}

),

params as (

    select
        {{ run_date() }} as as_of_on,
        cast({{ dbt.dateadd('day', -(window_days - 1), run_date()) }} as date) as window_start_on

),

telegram_ratings as (

    select * from {{ ref('stg_telegram_ratings') }}

),

-- The window's appointments, for the Telegram ratings below (their doctor and day).
windowed as (

    select
        appointments.appointment_id,
        appointments.appointment_on,
        appointments.doctor_id,
        params.as_of_on

    from appointments
    cross join params
    where appointments.appointment_on between params.window_start_on and params.as_of_on

),

-- The window's daily rows per doctor (doctor_days: a few thousand rows a day), not its 6.4M appointments at 120
-- medium days.
days as (

    select doctor_days.*, params.as_of_on, params.window_start_on
    from {{ ref('doctor_days') }} as doctor_days
    cross join params
    where doctor_days.appointment_on between params.window_start_on and params.as_of_on

),

patients_per_doctor as {{ computed_once() }} (

    {{ distinct_patients(
        'days',
        ['doctor_id'],
        'appointment_on between ' ~ dbt.dateadd('day', -(window_days - 1), run_date()) ~ ' and ' ~ run_date()
    ) }}

),

survey_per_doctor as (

    select
        days.doctor_id,
        days.as_of_on,
        days.window_start_on,
        patients_per_doctor.patients,
        cast(coalesce(sum(days.billing_total_amount), 0) as {{ dbt.type_numeric() }}) as billing_total_amount,
        -- A rating counts once it has been submitted, so a rerun of an old day reproduces that day's ranking.
        cast(
            coalesce(sum(case when days.rated_on <= days.as_of_on then days.rating_count end), 0)
            as {{ dbt.type_bigint() }}
        ) as survey_rating_count,
        cast(
            coalesce(sum(case when days.rated_on <= days.as_of_on then days.rating_sum end), 0)
            as {{ dbt.type_numeric() }}
        ) as survey_rating_sum

    from days
    inner join patients_per_doctor
        on days.doctor_id = patients_per_doctor.doctor_id
    group by days.doctor_id, days.as_of_on, days.window_start_on, patients_per_doctor.patients

),

telegram_per_doctor as (

    -- Telegram answers arrive in real time, which a backfilled or simulated run date cannot be compared with, so a
    -- Telegram rating counts from the first ranking after its visit's day (the next day's), not by submitted_at.
    select
        windowed.doctor_id,
        count(*) as telegram_rating_count,
        cast(sum(telegram_ratings.rating) as {{ dbt.type_numeric() }}) as telegram_rating_sum

    from windowed
    inner join telegram_ratings
        on windowed.appointment_id = telegram_ratings.appointment_id
    where windowed.appointment_on < windowed.as_of_on
    group by windowed.doctor_id

),

per_doctor as (

    select
        survey_per_doctor.doctor_id,
        survey_per_doctor.as_of_on,
        survey_per_doctor.window_start_on,
        survey_per_doctor.patients,
        survey_per_doctor.billing_total_amount,
        survey_per_doctor.survey_rating_count + coalesce(telegram_per_doctor.telegram_rating_count, 0) as rating_count,
        survey_per_doctor.survey_rating_sum + coalesce(telegram_per_doctor.telegram_rating_sum, 0) as rating_sum,
        survey_per_doctor.survey_rating_count,
        coalesce(telegram_per_doctor.telegram_rating_count, 0) as telegram_rating_count

    from survey_per_doctor
    left join telegram_per_doctor
        on survey_per_doctor.doctor_id = telegram_per_doctor.doctor_id

),

network_mean as (

    -- m: the network-wide mean rating in the window (3, the middle of the scale, when nobody was rated).
    select
        coalesce(sum(rating_sum) / nullif(sum(rating_count), 0), 3.0) as prior_mean

    from per_doctor

),

shrunk as (

    select
        per_doctor.*,
        (cast({{ prior_weight }} as {{ dbt.type_numeric() }}) * network_mean.prior_mean + per_doctor.rating_sum)
            / ({{ prior_weight }} + per_doctor.rating_count) as shrunk_rating,
        per_doctor.billing_total_amount / per_doctor.patients as billing_per_patient,
        doctors.full_name,
        doctors.specialty,
        doctors.clinic_id,
        clinics.clinic_name

    from per_doctor
    cross join network_mean
    inner join doctors
        on per_doctor.doctor_id = doctors.doctor_id
    inner join clinics
        on doctors.clinic_id = clinics.clinic_id

),

components as (

    select
        shrunk.*,
        (shrunk_rating - 1) / 4 as rating_part,
        case
            when avg(billing_per_patient) over (partition by specialty) > 0
                then least(billing_per_patient / avg(billing_per_patient) over (partition by specialty), 2) / 2
            else 0.5
        end as billing_part

    from shrunk

),

scored as (

    select
        components.*,
        100 * ({{ var('rating_score_weight') }} * rating_part + {{ var('billing_score_weight') }} * billing_part)
            as raw_score

    from components

),

final as (

    select
        doctor_id,
        full_name,
        specialty,
        clinic_name,
        rating_count,
        cast(round(rating_sum / nullif(rating_count, 0), 2) as numeric(3, 2)) as avg_rating,
        patients,
        cast(round(billing_per_patient, 2) as {{ type_money() }}) as billing_per_patient_amount,
        cast(round(raw_score, 2) as numeric(5, 2)) as score,
        row_number() over (order by raw_score desc, shrunk_rating desc, doctor_id) as score_rank,
        cast(round(shrunk_rating, 4) as numeric(6, 4)) as shrunk_rating,
        clinic_id,
        as_of_on,
        window_start_on,
        -- Ratings by source (they add up to rating_count); last, as on_schema_change appends them to older tables.
        survey_rating_count,
        telegram_rating_count

    from scored

)

select * from final
