-- One row per month and primary diagnosis: how many patients were treated for it, what it billed, and how
-- many of those patients live with each chronic condition recorded at registration.
-- Incremental by month: a build recomputes the months its batch touches and the oldest
-- month when retention trimmed it (macros/months_to_build.sql), from diagnosis_days' daily rows of those months.
{{ monthly_incremental_config() }}
{%- set months = 'month_start_on in (select month_start_on from days)' %}
with

days as (

    {{ months_to_build(ref('diagnosis_days'), 'sum(records)', 'sum(records)') }}

),

treated as (

    select * from days
    where has_record

),

monthly as (

    select
        month_start_on,
        diagnosis,
        cast(sum(records) as {{ dbt.type_bigint() }}) as records,
        sum(billing_total_amount) as billing_total_amount

    from treated
    group by month_start_on, diagnosis

),

{% for condition, appointments_condition in [
    ('patients', 'true'),
    ('hypertension', 'patient_has_hypertension'),
    ('diabetes', 'patient_has_diabetes'),
    ('alcoholism', 'patient_has_alcoholism'),
    ('handicap', 'patient_handicap_count > 0'),
] %}
{{ condition }} as {{ computed_once() }} (

    {{ distinct_patients(
        'treated',
        ['month_start_on', 'diagnosis'],
        months ~ ' and has_record',
        ids=('patient_ids' if condition == 'patients' else condition ~ '_patient_ids'),
        appointments_condition=appointments_condition,
    ) }}

),

{% endfor %}
final as (

    select
        monthly.month_start_on,
        monthly.diagnosis,
        monthly.records,
        patients.patients,
        cast(monthly.billing_total_amount as {{ type_money() }}) as billing_total_amount,
        cast(round(monthly.billing_total_amount / monthly.records, 2) as {{ type_money() }}) as avg_billing_amount,
        coalesce(hypertension.patients, 0) as patients_with_hypertension,
        coalesce(diabetes.patients, 0) as patients_with_diabetes,
        coalesce(alcoholism.patients, 0) as patients_with_alcoholism,
        coalesce(handicap.patients, 0) as patients_with_handicap

    from monthly
    inner join patients
        on monthly.month_start_on = patients.month_start_on
        and monthly.diagnosis = patients.diagnosis
    {%- for condition in ['hypertension', 'diabetes', 'alcoholism', 'handicap'] %}
    left join {{ condition }}
        on monthly.month_start_on = {{ condition }}.month_start_on
        and monthly.diagnosis = {{ condition }}.diagnosis
    {%- endfor %}

)

select * from final
