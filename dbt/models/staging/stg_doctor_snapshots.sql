-- One row per doctor and published batch: the doctor as that day's roster describes them. Doctors are a full
-- snapshot per batch, so a batch's appointments find their doctors in the same batch (the incremental marts join
-- there and never scan the whole roster history). Ephemeral: inlined where used.
{{ config(materialized='ephemeral') }}

with

source as (

    {{ published_batches_only(source('raw', 'doctors')) }}

),

renamed as (

    select
        -- ids
        cast(doctor_id as {{ dbt.type_string() }}) as doctor_id,
        cast(clinic_id as {{ dbt.type_string() }}) as clinic_id,

        -- text (raw types kept: the loader sizes them per warehouse)
        full_name as full_name,
        specialty as specialty,

        -- times of day
        cast(shift_start as time) as shift_starts_at,
        cast(shift_end as time) as shift_ends_at,

        -- dates
        cast(hired_on as date) as hired_on,
        cast(batch_date as date) as batch_on

    from source

)

select * from renamed
