-- One row per patient: the latest batch in which they appear (a patient appears in every batch
-- in which they had an appointment, with the same attributes).
with

source as (

    {{ published_batches_only(source('raw', 'patients')) }}

),

latest as (

    select
        *,
        row_number() over (partition by patient_id order by batch_date desc) as batch_recency
    from source

),

renamed as (

    select
        -- ids
        cast(patient_id as {{ dbt.type_string() }}) as patient_id,

        -- text (raw types kept: the loader sizes them per warehouse)
        full_name as full_name,
        gender as gender,
        neighbourhood as neighbourhood,

        -- numerics
        cast(handicap as {{ dbt.type_int() }}) as handicap_count,

        -- booleans
        cast(scholarship as {{ dbt.type_boolean() }}) as has_scholarship,
        cast(hypertension as {{ dbt.type_boolean() }}) as has_hypertension,
        cast(diabetes as {{ dbt.type_boolean() }}) as has_diabetes,
        cast(alcoholism as {{ dbt.type_boolean() }}) as has_alcoholism,

        -- dates
        cast(birth_date as date) as born_on,
        cast(registered_on as date) as registered_on,
        cast(batch_date as date) as last_seen_on

    from latest
    where batch_recency = 1

)

select * from renamed
