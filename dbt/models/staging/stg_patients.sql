-- One row per patient: the latest batch in which they appear (a patient appears in every batch
-- in which they had an appointment, with the same attributes).
with

snapshots as (

    select * from {{ ref('stg_patient_snapshots') }}

),

latest as (

    select
        *,
        row_number() over (partition by patient_id order by batch_on desc) as batch_recency
    from snapshots

),

final as (

    select
        patient_id,
        full_name,
        gender,
        neighbourhood,
        handicap_count,
        has_scholarship,
        has_hypertension,
        has_diabetes,
        has_alcoholism,
        born_on,
        registered_on,
        batch_on as last_seen_on

    from latest
    where batch_recency = 1

)

select * from final
