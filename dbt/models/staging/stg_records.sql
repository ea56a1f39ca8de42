with

source as (

    {{ published_batches_only(source('raw', 'records')) }}

),

renamed as (

    select
        -- ids
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(appointment_id as {{ dbt.type_string() }}) as appointment_id,
        cast(patient_id as {{ dbt.type_string() }}) as patient_id,
        cast(doctor_id as {{ dbt.type_string() }}) as doctor_id,

        -- text (raw types kept: the loader sizes them per warehouse)
        diagnosis as diagnosis,

        -- numerics
        cast(billing_amount as {{ healthsynth.type_money() }}) as billing_amount,

        -- dates
        cast(report_date as date) as reported_on,
        cast(batch_date as date) as batch_on

    from source

)

select * from renamed
