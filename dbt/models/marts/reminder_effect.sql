-- What the reminders did: the no-show relative risk of reminded against held-out appointments of equal risk, with
-- its 95% confidence interval, and the no-shows it prevented. One row per ISO week of appointment days
-- (period = 'week') and one over every day kept (period = 'all'). Small (at most REMINDER_DAILY_LIMIT rows of
-- reminder_outcomes a day), so a table rebuilt from reminder_outcomes on every run.
--
-- The estimate is Mantel-Haenszel's over strata of equal risk (reminder_outcomes.risk_band), so the riskier mix of
-- one arm on a given day cannot pass for an effect; its variance is Greenland and Robins' (1985):
--   in stratum i, reminded: a_i no-shows of n1_i; held out: c_i of n0_i; N_i = n1_i + n0_i
--   RR = R / S, R = sum(a_i n0_i / N_i), S = sum(c_i n1_i / N_i)
--   Var(ln RR) = sum((n1_i n0_i (a_i + c_i) - a_i c_i N_i) / N_i^2) / (R S)
-- Compared: reminded appointments whose message was sent and that took place, and held-out appointments. A
-- reminded appointment the patient cancelled did not take place (no show, no no-show); it is counted apart. A
-- reminder that could not be delivered is in neither arm: the patient never got it.
-- Prevented no-shows: the reminded arm's no-shows had they not been reminded, less those seen, a * (1 / RR - 1).

with

compared as (

    select *
    from {{ ref('reminder_outcomes') }}
    where took_place and (arm = 'holdout' or was_sent)

),

tagged as (

    select
        'week' as period,
        cast({{ dbt.date_trunc('week', 'appointment_on') }} as date) as period_key,
        appointment_on, risk_band, arm, is_no_show
    from compared
    union all
    select 'all' as period, cast('1900-01-01' as date) as period_key, appointment_on, risk_band, arm, is_no_show
    from compared

),

strata as (

    select
        period,
        period_key,
        risk_band,
        min(appointment_on) as first_on,
        max(appointment_on) as last_on,
        cast(sum(case when arm = 'reminded' then 1 else 0 end) as {{ dbt.type_float() }}) as n1,
        cast(sum(case when arm = 'reminded' and is_no_show then 1 else 0 end) as {{ dbt.type_float() }}) as a,
        cast(sum(case when arm = 'holdout' then 1 else 0 end) as {{ dbt.type_float() }}) as n0,
        cast(sum(case when arm = 'holdout' and is_no_show then 1 else 0 end) as {{ dbt.type_float() }}) as c
    from tagged
    group by period, period_key, risk_band

),

terms as (

    select
        period,
        period_key,
        first_on,
        last_on,
        n1,
        a,
        n0,
        c,
        a * n0 / (n1 + n0) as r_term,
        c * n1 / (n1 + n0) as s_term,
        (n1 * n0 * (a + c) - a * c * (n1 + n0)) / ((n1 + n0) * (n1 + n0)) as v_term
    from strata

),

summed as (

    select
        period,
        period_key,
        min(first_on) as period_start,
        max(last_on) as period_end,
        count(*) as strata,
        sum(n1) as reminded,
        sum(a) as reminded_no_shows,
        sum(n0) as holdout,
        sum(c) as holdout_no_shows,
        sum(r_term) as r,
        sum(s_term) as s,
        sum(v_term) as v
    from terms
    group by period, period_key

),

cancelled as (

    select 'week' as period, cast({{ dbt.date_trunc('week', 'appointment_on') }} as date) as period_key, count(*) as n
    from {{ ref('reminder_outcomes') }}
    where answer = 'cancelled'
    group by 2
    union all
    select 'all' as period, cast('1900-01-01' as date) as period_key, count(*) as n
    from {{ ref('reminder_outcomes') }}
    where answer = 'cancelled'

),

estimated as (

    select
        summed.*,
        case when r > 0 and s > 0 then r / s end as relative_risk,
        case when r > 0 and s > 0 then sqrt(greatest(v, 0) / (r * s)) end as se_log_rr
    from summed

),

final as (

    select
        estimated.period,
        estimated.period_start,
        estimated.period_end,
        cast(estimated.strata as {{ dbt.type_int() }}) as strata,
        cast(estimated.reminded as {{ dbt.type_int() }}) as reminded,
        cast(estimated.reminded_no_shows as {{ dbt.type_int() }}) as reminded_no_shows,
        cast(estimated.holdout as {{ dbt.type_int() }}) as holdout,
        cast(estimated.holdout_no_shows as {{ dbt.type_int() }}) as holdout_no_shows,
        cast(coalesce(cancelled.n, 0) as {{ dbt.type_int() }}) as cancelled,
        estimated.relative_risk,
        exp(ln(estimated.relative_risk) - 1.96 * estimated.se_log_rr) as relative_risk_low,
        exp(ln(estimated.relative_risk) + 1.96 * estimated.se_log_rr) as relative_risk_high,
        estimated.reminded_no_shows * (1 / estimated.relative_risk - 1) as prevented_no_shows,
        estimated.reminded_no_shows
        * (1 / exp(ln(estimated.relative_risk) + 1.96 * estimated.se_log_rr) - 1) as prevented_low,
        estimated.reminded_no_shows
        * (1 / exp(ln(estimated.relative_risk) - 1.96 * estimated.se_log_rr) - 1) as prevented_high
    from estimated
    left join cancelled
        on cancelled.period = estimated.period
        and cancelled.period_key = estimated.period_key

)

select * from final
