-- A medical record documents a visit, so it must never belong to a missed appointment,
-- and it must name the same patient and doctor as its appointment.
select
    records.record_id,
    records.appointment_id
from {{ ref('stg_records') }} as records
inner join {{ ref('stg_appointments') }} as appointments
    on records.appointment_id = appointments.appointment_id
where appointments.is_no_show
    or records.patient_id <> appointments.patient_id
    or records.doctor_id <> appointments.doctor_id
