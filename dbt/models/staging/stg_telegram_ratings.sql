-- The ratings patients pressed on Telegram (ratingRequest-<appointmentId>), in the columns of stg_feedback plus
-- the appointment's day. raw.rating_requests is not a batch table: a row is written once, when its rating is pressed
-- (or its wait ends), and its comment filled in at most once later,
-- so there is no published-batch filter here and no batch_on.
-- Retention (retentionCleanup) deletes a rating with its appointment, by the appointment's day. A rating whose
-- appointment is older than the oldest appointments batch left (written after its appointment expired, or left by
-- the cleanups from before retention covered the ratings) is left out here too, so it never points at a deleted
-- appointment and a full rebuild sees the same ratings as the daily builds did.
with

oldest_appointments_batch as (

    -- min() of the batch_date index (PostgreSQL) or sort key (Redshift): no scan of the appointments.
    select min(batch_date) as batch_date from {{ source('raw', 'appointments') }}

),

source as (

    select * from {{ source('raw', 'rating_requests') }}
    where status = 'rated'
        and appointment_day >= (select batch_date from oldest_appointments_batch)

),

renamed as (

    select
        -- ids ('telegram-<appointment>' never collides with the generated numeric feedback ids)
        cast('telegram-' || cast(appointment_id as {{ dbt.type_string() }}) as {{ dbt.type_string() }}) as feedback_id,
        cast(appointment_id as {{ dbt.type_string() }}) as appointment_id,
        cast(patient_id as {{ dbt.type_string() }}) as patient_id,

        -- numerics
        cast(rating as {{ dbt.type_int() }}) as rating,

        -- text
        nullif(trim(comment), '') as comment,
        cast('telegram' as {{ dbt.type_string() }}) as source,

        -- dates and timestamps
        cast(answered_at as {{ dbt.type_timestamp() }}) as submitted_at,
        cast(appointment_day as date) as appointment_on

    from source

)

select * from renamed
