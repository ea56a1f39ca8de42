-- One row per month and primary diagnosis: how many patients were treated for it, what it billed, and how
-- many of those patients live with each chronic condition recorded at registration.
-- Incremental by month: a build recomputes the months its batch touches and the oldest
-- month when retention trimmed it (macros/months_to_build.sql).
{{ monthly_incremental_config() }}
with

appointments as (

    {{ months_to_build(ref('appointments'), 'sum(records)', 'sum(case when has_record then 1 else 0 end)') }}

),

treated as (

    select
        appointments.month_start_on,
        appointments.diagnosis,
        appointments.record_id,
        appointments.billing_amount,
        appointments.patient_id,
        appointments.patient_has_hypertension as has_hypertension,
        appointments.patient_has_diabetes as has_diabetes,
        appointments.patient_has_alcoholism as has_alcoholism,
        appointments.patient_handicap_count as handicap_count

    from appointments
    where appointments.has_record

),

monthly as (

    select
        month_start_on,
        diagnosis,
        count(*) as records,
        count(distinct patient_id) as patients,
        sum(billing_amount) as billing_total_amount,
        count(distinct case when has_hypertension then patient_id end) as patients_with_hypertension,
        count(distinct case when has_diabetes then patient_id end) as patients_with_diabetes,
        count(distinct case when has_alcoholism then patient_id end) as patients_with_alcoholism,
        count(distinct case when handicap_count > 0 then patient_id end) as patients_with_handicap

    from treated
    group by month_start_on, diagnosis

),

final as (

    select
        month_start_on,
        diagnosis,
        records,
        patients,
        cast(billing_total_amount as {{ type_money() }}) as billing_total_amount,
        cast(round(billing_total_amount / records, 2) as {{ type_money() }}) as avg_billing_amount,
        patients_with_hypertension,
        patients_with_diabetes,
        patients_with_alcoholism,
        patients_with_handicap

    from monthly

)

select * from final
