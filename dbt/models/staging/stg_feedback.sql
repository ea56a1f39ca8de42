with

source as (

    {{ published_batches_only(source('raw', 'feedback')) }}

),

renamed as (

    select
        -- ids
        cast(feedback_id as {{ dbt.type_string() }}) as feedback_id,
        cast(appointment_id as {{ dbt.type_string() }}) as appointment_id,
        cast(patient_id as {{ dbt.type_string() }}) as patient_id,
        cast(doctor_id as {{ dbt.type_string() }}) as doctor_id,

        -- numerics
        cast(rating as {{ dbt.type_int() }}) as rating,

        -- text (empty comments become null; raw type kept)
        nullif(trim(comment), '') as comment,
        -- where the rating came from: the generated rows are the network's surveys (Telegram's: stg_telegram_ratings)
        cast('survey' as {{ dbt.type_string() }}) as source,

        -- dates and timestamps
        cast(submitted_at as {{ dbt.type_timestamp() }}) as submitted_at,
        cast(batch_date as date) as batch_on

    from source

)

select * from renamed
