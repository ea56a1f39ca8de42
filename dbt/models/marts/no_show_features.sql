-- One row per appointment and batch: what the no-show model reads, point-in-time correct. An appointment's features
-- use only what was known at the end of the day before its day: its own booking (lead time, weekday, SMS), the
-- patient and doctor as the batch describes them, and the patient's history of appointments on earlier days only
-- (prior visits, prior no-shows, days since the last one; visits and no-shows of those booked the same day apart: a
-- walk-in misses about 5% of the time, a booking ahead 22-38%, so a missed walk-in says far more about the patient). Past appointments carry their outcome (is_no_show), the
-- label the model trains on. A later batch never changes an earlier batch's rows: the history is a window over
-- strictly earlier days (test/integration/no-show-features.test.ts builds a day with 0 and with 5 later days loaded
-- and compares).
-- Tomorrow's schedule (stg_schedule: the next weekday's appointments booked by the end of the batch day) gets rows of
-- the same batch with no outcome: the rows the model scores. Their patient is described as last seen on or before
-- the batch day (age as of that visit); a patient on a first visit has no earlier row, and those features are
-- missing (the model takes missing values), as they would be for a real clinic that has not seen the patient yet.
-- Incremental on the run date's batch (see macros/incremental.sql): the batch's rows continue the running totals of
-- each patient's latest earlier row here, so a day reads its own patients' last rows, not the warehouse's history.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='batch_on',
        on_schema_change='fail',
        indexes=[{'columns': ['batch_on']}, {'columns': ['appointment_on']}],
        sort=['batch_on', 'appointment_on'],
        dist='even',
        post_hook=[
            "{{ purge_below('batch_on', source('raw', 'appointments'), 'batch_date') }}",
            "{{ patient_history_index() }}",
        ],
    )
}}

{#- What one appointment adds to its patient's history: the running totals below sum these. -#}
{%- set outcome_flags -%}
    1 as visits,
    case when is_no_show then 1 else 0 end as no_shows,
    case when lead_time_days = 0 then 1 else 0 end as same_day_visits,
    case when lead_time_days = 0 and is_no_show then 1 else 0 end as same_day_no_shows
{%- endset %}

with

appointments as (

    select * from {{ ref('stg_appointments') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

patients as (

    select * from {{ ref('stg_patient_snapshots') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

doctors as (

    select * from {{ ref('stg_doctor_snapshots') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

booked as (

    select
        appointments.appointment_id,
        appointments.patient_id,
        appointments.doctor_id,
        doctors.clinic_id,
        doctors.specialty,
        appointments.appointment_on,
        appointments.batch_on,
        appointments.is_no_show,
        {{ days_between('appointments.scheduled_at', 'appointments.appointment_on') }} as lead_time_days,
        cast(extract(dow from appointments.appointment_on) as {{ dbt.type_int() }}) as weekday,
        {{ age_in_years('patients.born_on', 'appointments.appointment_on') }} as patient_age_years,
        patients.gender as patient_gender,
        patients.neighbourhood,
        patients.has_scholarship,
        patients.has_hypertension,
        patients.has_diabetes,
        patients.has_alcoholism,
        patients.handicap_count,
        appointments.has_sms_reminder

    from appointments
    inner join patients
        on appointments.patient_id = patients.patient_id
        and appointments.batch_on = patients.batch_on
    inner join doctors
        on appointments.doctor_id = doctors.doctor_id
        and appointments.batch_on = doctors.batch_on

),

scheduled as (

    select * from {{ ref('stg_schedule') }}
    {% if is_incremental() %} where batch_on = {{ run_date() }} {% endif %}

),

{% if is_incremental() %}
-- Each patient's latest row with an outcome on a day before the batch day: the running totals the batch continues
-- (its own history counts plus its day's outcomes, below) and the patient as last seen. One index probe per patient
-- of the batch and the schedule (a (patient_id, appointment_on) index of the rows with an outcome, made by
-- patient_history_index in macros/incremental.sql), so a day costs the same on a warehouse of
-- a year as of a week. Days built out of order are seen as they were built: a day loaded after a later day was
-- built enters the later days' rows at the weekly full refresh (dbt-full-refresh), which sums all history again.
latest_before as (

    {%- set latest_columns -%}
        t.patient_id, t.appointment_on, t.batch_on, t.prior_visits, t.prior_no_shows, t.prior_same_day_visits,
        t.prior_same_day_no_shows, t.patient_age_years, t.patient_gender, t.neighbourhood, t.has_scholarship,
        t.has_hypertension, t.has_diabetes, t.has_alcoholism, t.handicap_count
    {%- endset %}
    {%- set day_outcomes -%}
        count(*) as day_visits,
        sum(case when t.is_no_show then 1 else 0 end) as day_no_shows,
        sum(case when t.lead_time_days = 0 then 1 else 0 end) as day_same_day_visits,
        sum(case when t.lead_time_days = 0 and t.is_no_show then 1 else 0 end) as day_same_day_no_shows
    {%- endset %}
    {%- set earlier_outcomes -%}
        t.appointment_on < {{ run_date() }} and t.is_no_show is not null
    {%- endset %}
    {% if target.type == 'postgres' %}
    select latest_row.*, latest_day.*
    from (
        select patient_id from appointments
        union
        select patient_id from scheduled
    ) as batch_patients
    cross join lateral (
        select {{ latest_columns }}
        from {{ this }} as t
        where t.patient_id = batch_patients.patient_id and {{ earlier_outcomes }}
        order by t.appointment_on desc
        limit 1
    ) as latest_row
    -- That day's outcomes (its visits and no-shows), read right after its latest row: the same index leaf and heap
    -- pages, still in memory. Read in a second pass over all the batch's patients, 148k of those pages had left
    -- PostgreSQL's buffers (128 MB) and were read again (at 120 medium days).
    cross join lateral (
        select {{ day_outcomes }}
        from {{ this }} as t
        where t.patient_id = latest_row.patient_id and t.appointment_on = latest_row.appointment_on
        and t.is_no_show is not null
    ) as latest_day
    {% else %}
    select * from (
        select
            {{ latest_columns }},
            {%- set per_day = 'over (partition by t.patient_id, t.appointment_on)' %}
            count(*) {{ per_day }} as day_visits,
            sum(case when t.is_no_show then 1 else 0 end) {{ per_day }} as day_no_shows,
            sum(case when t.lead_time_days = 0 then 1 else 0 end) {{ per_day }} as day_same_day_visits,
            sum(case when t.lead_time_days = 0 and t.is_no_show then 1 else 0 end) {{ per_day }} as day_same_day_no_shows,
            row_number() over (partition by t.patient_id order by t.appointment_on desc, t.appointment_id) as recency
        from {{ this }} as t
        where {{ earlier_outcomes }}
        and t.patient_id in (select patient_id from appointments union select patient_id from scheduled)
    ) as ranked
    where recency = 1
    {% endif %}

),

{% endif %}
-- Each patient's attributes as of each batch day on which they had an appointment: this batch's rows and, when
-- building one batch, the patient's latest earlier row (a full rebuild has them all in booked).
patient_seen as (

    select
        patient_id, batch_on, patient_age_years, patient_gender, neighbourhood, has_scholarship,
        has_hypertension, has_diabetes, has_alcoholism, handicap_count
    from booked
    {% if is_incremental() %}
        union all
        select
            patient_id, batch_on, patient_age_years, patient_gender, neighbourhood, has_scholarship,
            has_hypertension, has_diabetes, has_alcoholism, handicap_count
        from latest_before
    {% endif %}

),

-- For each scheduled appointment, the patient as last seen on or before the schedule's batch day.
last_seen as (

    select
        scheduled.appointment_id,
        scheduled.batch_on,
        patient_seen.patient_age_years,
        patient_seen.patient_gender,
        patient_seen.neighbourhood,
        patient_seen.has_scholarship,
        patient_seen.has_hypertension,
        patient_seen.has_diabetes,
        patient_seen.has_alcoholism,
        patient_seen.handicap_count,
        row_number() over (
            partition by scheduled.appointment_id, scheduled.batch_on order by patient_seen.batch_on desc
        ) as recency

    from scheduled
    inner join patient_seen
        on scheduled.patient_id = patient_seen.patient_id
        and patient_seen.batch_on <= scheduled.batch_on

),

booked_tomorrow as (

    select
        scheduled.appointment_id,
        scheduled.patient_id,
        scheduled.doctor_id,
        doctors.clinic_id,
        doctors.specialty,
        scheduled.appointment_on,
        scheduled.batch_on,
        cast(null as {{ dbt.type_boolean() }}) as is_no_show,
        {{ days_between('scheduled.scheduled_at', 'scheduled.appointment_on') }} as lead_time_days,
        cast(extract(dow from scheduled.appointment_on) as {{ dbt.type_int() }}) as weekday,
        last_seen.patient_age_years,
        last_seen.patient_gender,
        last_seen.neighbourhood,
        last_seen.has_scholarship,
        last_seen.has_hypertension,
        last_seen.has_diabetes,
        last_seen.has_alcoholism,
        last_seen.handicap_count,
        scheduled.has_sms_reminder

    from scheduled
    left join doctors
        on scheduled.doctor_id = doctors.doctor_id
        and scheduled.batch_on = doctors.batch_on
    left join last_seen
        on scheduled.appointment_id = last_seen.appointment_id
        and scheduled.batch_on = last_seen.batch_on
        and last_seen.recency = 1

),

featured as (

    select * from booked
    union all
    select * from booked_tomorrow

),

{% if is_incremental() %}
-- The batch continues each patient's running totals: the latest earlier row's own history counts plus the outcomes
-- of its day (the patient's history before the batch day), then the batch's own outcomes for the schedule's later
-- day. A full rebuild sums the same from all history (below); the two are equal for days built in order
-- (test/integration/no-show-features.test.ts).
outcomes as (

    select
        patient_id,
        appointment_on,
        sum(visits) as visits,
        sum(no_shows) as no_shows,
        sum(same_day_visits) as same_day_visits,
        sum(same_day_no_shows) as same_day_no_shows

    from (
        select
            patient_id, appointment_on, day_visits as visits, day_no_shows as no_shows,
            day_same_day_visits as same_day_visits, day_same_day_no_shows as same_day_no_shows
        from latest_before
        union all
        select
            patient_id,
            appointment_on,
            {{ outcome_flags }}
        from booked
    ) as known
    group by patient_id, appointment_on

),

before_batch as (

    select
        latest_before.patient_id,
        latest_before.prior_visits + outcomes.visits as prior_visits,
        latest_before.prior_no_shows + outcomes.no_shows as prior_no_shows,
        latest_before.prior_same_day_visits + outcomes.same_day_visits as prior_same_day_visits,
        latest_before.prior_same_day_no_shows + outcomes.same_day_no_shows as prior_same_day_no_shows,
        latest_before.appointment_on as last_visit_on

    from latest_before
    inner join outcomes
        on latest_before.patient_id = outcomes.patient_id
        and latest_before.appointment_on = outcomes.appointment_on

),

history as (

    select
        featured_days.patient_id,
        featured_days.appointment_on,
        coalesce(max(before_batch.prior_visits), 0) + coalesce(sum(batch_days.visits), 0) as prior_visits,
        coalesce(max(before_batch.prior_no_shows), 0) + coalesce(sum(batch_days.no_shows), 0) as prior_no_shows,
        coalesce(max(before_batch.prior_same_day_visits), 0) + coalesce(sum(batch_days.same_day_visits), 0)
            as prior_same_day_visits,
        coalesce(max(before_batch.prior_same_day_no_shows), 0) + coalesce(sum(batch_days.same_day_no_shows), 0)
            as prior_same_day_no_shows,
        coalesce(max(batch_days.appointment_on), max(before_batch.last_visit_on)) as last_visit_on

    from (select distinct patient_id, appointment_on from featured) as featured_days
    left join before_batch
        on featured_days.patient_id = before_batch.patient_id
    left join outcomes as batch_days
        on featured_days.patient_id = batch_days.patient_id
        and batch_days.appointment_on >= {{ run_date() }}
        and batch_days.appointment_on < featured_days.appointment_on
    group by featured_days.patient_id, featured_days.appointment_on

),

{% else %}
-- A full rebuild: every day on which a patient had appointments (with their outcomes: booked holds every batch's
-- appointments here), plus the days being featured, so each row finds its own (patient, day) below. Only strictly
-- earlier days feed a row's history. booked has the appointments mart's rows (the same joins); read from the mart,
-- the features would wait for it in every daily build, though the daily branch never reads it.
patient_days as (

    select
        patient_id,
        appointment_on,
        sum(visits) as visits,
        sum(no_shows) as no_shows,
        sum(same_day_visits) as same_day_visits,
        sum(same_day_no_shows) as same_day_no_shows

    from (
        select
            patient_id,
            appointment_on,
            {{ outcome_flags }}
        from booked
        union all
        select distinct
            patient_id, appointment_on, 0 as visits, 0 as no_shows, 0 as same_day_visits, 0 as same_day_no_shows
        from featured
    ) as days
    group by patient_id, appointment_on

),

history as (

    select
        patient_id,
        appointment_on,
        coalesce(sum(visits) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ), 0) as prior_visits,
        coalesce(sum(no_shows) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ), 0) as prior_no_shows,
        coalesce(sum(same_day_visits) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ), 0) as prior_same_day_visits,
        coalesce(sum(same_day_no_shows) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ), 0) as prior_same_day_no_shows,
        max(case when visits > 0 then appointment_on end) over (
            partition by patient_id order by appointment_on rows between unbounded preceding and 1 preceding
        ) as last_visit_on

    from patient_days

),

{% endif %}
final as (

    select
        featured.appointment_id,
        featured.patient_id,
        featured.doctor_id,
        featured.clinic_id,
        featured.specialty,
        featured.appointment_on,
        featured.batch_on,
        featured.is_no_show,
        featured.lead_time_days,
        featured.weekday,
        featured.patient_age_years,
        featured.patient_gender,
        featured.neighbourhood,
        featured.has_scholarship,
        featured.has_hypertension,
        featured.has_diabetes,
        featured.has_alcoholism,
        featured.handicap_count,
        featured.has_sms_reminder,
        cast(history.prior_visits as {{ dbt.type_int() }}) as prior_visits,
        cast(history.prior_no_shows as {{ dbt.type_int() }}) as prior_no_shows,
        cast(history.prior_same_day_visits as {{ dbt.type_int() }}) as prior_same_day_visits,
        cast(history.prior_same_day_no_shows as {{ dbt.type_int() }}) as prior_same_day_no_shows,
        {{ days_between('history.last_visit_on', 'featured.appointment_on') }} as days_since_last_visit

    from featured
    inner join history
        on featured.patient_id = history.patient_id
        and featured.appointment_on = history.appointment_on

)

select * from final
{#- A day's rows go into the (patient_id, appointment_on) index at random places: in that order, each leaf page is
    read and written once instead of once per row (the insert of a 165k-row day into 19.7M rows took 3.0-3.9 s
    instead of 5.0-5.5 s at 120 medium days). #}
{%- if is_incremental() and target.type == 'postgres' %}
order by patient_id, appointment_on
{%- endif %}
