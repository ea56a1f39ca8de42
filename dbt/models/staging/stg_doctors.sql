-- One row per doctor: the latest snapshot that mentions them, so doctors who left keep their history.
with

snapshots as (

    select * from {{ ref('stg_doctor_snapshots') }}

),

latest as (

    select
        *,
        row_number() over (partition by doctor_id order by batch_on desc) as batch_recency,
        max(batch_on) over () as newest_batch_on
    from snapshots

),

final as (

    select
        doctor_id,
        clinic_id,
        full_name,
        specialty,
        shift_starts_at,
        shift_ends_at,
        batch_on = newest_batch_on as is_current,
        hired_on,
        batch_on as last_seen_on

    from latest
    where batch_recency = 1

)

select * from final
