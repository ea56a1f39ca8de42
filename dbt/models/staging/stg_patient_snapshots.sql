-- One row per patient and published batch: the patient as that day's batch describes them. A patient appears in
-- every batch in which they had an appointment, so a batch's appointments find their patients in the same batch
-- (the incremental marts join there and never scan the whole patient history). Ephemeral: inlined where used.
{{ config(materialized='ephemeral') }}

with

source as (

    {{ published_batches_only(source('raw', 'patients')) }}

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
        cast(batch_date as date) as batch_on

    from source

)

select * from renamed
