-- One row per doctor: the latest snapshot that mentions them, so doctors who left keep their history.
with

source as (

    {{ published_batches_only(source('raw', 'doctors')) }}

),

latest as (

    select
        *,
        row_number() over (partition by doctor_id order by batch_date desc) as batch_recency,
        max(batch_date) over () as newest_batch_date
    from source

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

        -- booleans
        batch_date = newest_batch_date as is_current,

        -- dates
        cast(hired_on as date) as hired_on,
        cast(batch_date as date) as last_seen_on

    from latest
    where batch_recency = 1

)

select * from renamed
