-- Tomorrow's schedule: per published batch, the next weekday's appointments already booked by the batch date.
with

source as (

    {{ published_batches_only(source('raw', 'schedule')) }}

),

renamed as (

    select
        -- ids
        cast(appointment_id as {{ dbt.type_string() }}) as appointment_id,
        cast(patient_id as {{ dbt.type_string() }}) as patient_id,
        cast(doctor_id as {{ dbt.type_string() }}) as doctor_id,

        -- booleans
        cast(sms_received as {{ dbt.type_boolean() }}) as has_sms_reminder,

        -- dates and timestamps
        cast(scheduled_at as {{ dbt.type_timestamp() }}) as scheduled_at,
        cast(appointment_day as date) as appointment_on,
        cast(batch_date as date) as batch_on

    from source

)

select * from renamed
