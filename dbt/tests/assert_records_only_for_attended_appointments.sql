-- A medical record documents a visit, so it must never belong to a missed appointment,
-- and it must name the same patient and doctor as its appointment.
-- With test_scope() = 'batch' (the daily run) only the run date's records and appointments are compared.
select
    records.record_id,
    records.appointment_id
from {{ ref('stg_records') }} as records
inner join {{ ref('stg_appointments') }} as appointments
    on records.appointment_id = appointments.appointment_id
where (appointments.is_no_show
    or records.patient_id <> appointments.patient_id
    or records.doctor_id <> appointments.doctor_id)
{%- if test_scope() == 'batch' %}
    and records.batch_on = {{ run_date() }}
    and appointments.batch_on = {{ run_date() }}
{%- endif %}
