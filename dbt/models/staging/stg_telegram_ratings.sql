-- The ratings patients pressed on Telegram (ratingRequest-<appointmentId>), in the columns of stg_feedback plus
-- the appointment's day. raw.rating_requests is not a batch table: a row is written once, when its workflow ends,
-- so there is no published-batch filter here and no batch_on.
with

source as (

    select * from {{ source('raw', 'rating_requests') }}
    where status = 'rated'

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
