with

source as (

    {{ published_batches_only(source('raw', 'appointments')) }}

),

renamed as (

    select
        -- ids
        cast(appointment_id as {{ dbt.type_string() }}) as appointment_id,
        cast(patient_id as {{ dbt.type_string() }}) as patient_id,
        cast(doctor_id as {{ dbt.type_string() }}) as doctor_id,

        -- booleans
        cast(sms_received as {{ dbt.type_boolean() }}) as has_sms_reminder,
        cast(no_show as {{ dbt.type_boolean() }}) as is_no_show,

        -- dates and timestamps
        cast(scheduled_at as {{ dbt.type_timestamp() }}) as scheduled_at,
        cast(appointment_day as date) as appointment_on,
        cast(batch_date as date) as batch_on

    from source

)

select * from renamed
