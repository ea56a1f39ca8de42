-- One row per appointment, with everything the other marts aggregate: the doctor's clinic and specialty,
-- the patient's age on the day, the lead time, the record's billing and the patient's rating.
with

appointments as (

    select * from {{ ref('stg_appointments') }}

),

patients as (

    select * from {{ ref('stg_patients') }}

),

doctors as (

    select * from {{ ref('stg_doctors') }}

),

records as (

    select * from {{ ref('stg_records') }}

),

feedback as (

    select * from {{ ref('stg_feedback') }}

),

joined as (

    select
        appointments.appointment_id,
        appointments.patient_id,
        appointments.doctor_id,
        doctors.clinic_id,
        doctors.specialty,
        patients.gender as patient_gender,
        {{ age_in_years('patients.born_on', 'appointments.appointment_on') }} as patient_age_years,
        {{ days_between('appointments.scheduled_at', 'appointments.appointment_on') }} as lead_time_days,
        appointments.has_sms_reminder,
        appointments.is_no_show,
        records.record_id is not null as has_record,
        feedback.feedback_id is not null as has_feedback,
        records.record_id,
        records.diagnosis,
        records.billing_amount,
        feedback.feedback_id,
        feedback.rating,
        appointments.scheduled_at,
        feedback.submitted_at as feedback_submitted_at,
        appointments.appointment_on,
        {{ month_start('appointments.appointment_on') }} as month_start_on

    from appointments
    inner join patients
        on appointments.patient_id = patients.patient_id
    inner join doctors
        on appointments.doctor_id = doctors.doctor_id
    left join records
        on appointments.appointment_id = records.appointment_id
    left join feedback
        on appointments.appointment_id = feedback.appointment_id

)

select * from joined
