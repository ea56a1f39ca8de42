-- One row per clinic: the latest snapshot that mentions it (clinics are a full snapshot per batch).
with

source as (

    {{ published_batches_only(source('raw', 'clinics')) }}

),

latest as (

    select
        *,
        row_number() over (partition by clinic_id order by batch_date desc) as batch_recency,
        max(batch_date) over () as newest_batch_date
    from source

),

renamed as (

    select
        -- ids
        cast(clinic_id as {{ dbt.type_string() }}) as clinic_id,

        -- text (raw types kept: the loader sizes them per warehouse)
        clinic_name as clinic_name,
        neighbourhood as neighbourhood,

        -- numerics
        cast(capacity as {{ dbt.type_int() }}) as daily_capacity,

        -- booleans
        batch_date = newest_batch_date as is_current,

        -- dates
        cast(opened_on as date) as opened_on,
        cast(batch_date as date) as last_seen_on

    from latest
    where batch_recency = 1

)

select * from renamed
