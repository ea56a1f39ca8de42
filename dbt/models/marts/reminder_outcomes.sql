-- One row per appointment the reminder selection kept, in either arm (raw.reminder_events), with what happened to
-- it: whether the reminder went out, the patient's answer, and the appointment's outcome from its own day's batch.
-- Incremental on batch_on, the appointment's day: the run for day D builds D's reminded and held-out appointments,
-- whose outcomes D's batch carries (their reminders were chosen and answered on D - 1 and before the start on D).
-- A cancelled appointment has no appointment row (the generator turns it into a cancellation): took_place is false.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='batch_on',
        on_schema_change='fail',
        indexes=[{'columns': ['batch_on']}],
        sort=['batch_on'],
        dist='even',
        post_hook="{{ purge_below('batch_on', source('raw', 'appointments'), 'batch_date') }}",
    )
}}

with

-- The appointment days whose batch is published and not yet removed by retention.
days as (

    select batch_date as batch_on
    from {{ source('raw', '_published_batches') }}
    where batch_date >= (select min(batch_date) from {{ source('raw', 'appointments') }})
    {% if is_incremental() %} and batch_date = {{ run_date() }} {% endif %}

),

events as (

    select events.*
    from {{ source('raw', 'reminder_events') }} as events
    inner join days on days.batch_on = events.appointment_on

),

kept as (

    select
        appointment_id,
        max(patient_id) as patient_id,
        max(decided_on) as decided_on,
        max(appointment_on) as appointment_on,
        max(probability) as probability,
        max(arm) as arm,
        max(case when event = 'sent' then 1 else 0 end) as sent_flag,
        max(case when event in ('confirmed', 'cancelled', 'no-answer', 'undeliverable') then event end) as answer
    from events
    group by appointment_id

),

outcomes as (

    select appointment_id, batch_on, is_no_show
    from {{ ref('appointments') }}
    where batch_on in (select batch_on from days)

),

joined as (

    select
        cast(kept.appointment_id as {{ dbt.type_string() }}) as appointment_id,
        cast(kept.patient_id as {{ dbt.type_string() }}) as patient_id,
        kept.decided_on,
        kept.appointment_on,
        kept.appointment_on as batch_on,
        kept.probability,
        -- Strata of equal risk for the comparison: tenths of probability, 0.9 and above together.
        cast(least(floor(kept.probability * 10), 9) / 10.0 as {{ dbt.type_numeric() }}) as risk_band,
        kept.arm,
        kept.sent_flag = 1 as was_sent,
        kept.answer,
        outcomes.appointment_id is not null as took_place,
        outcomes.is_no_show
    from kept
    left join outcomes
        on outcomes.appointment_id = cast(kept.appointment_id as {{ dbt.type_string() }})
        and outcomes.batch_on = kept.appointment_on

)

select * from joined
