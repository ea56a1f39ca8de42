{#
  Buckets used by the no-show analysis. Labels sort lexically in their natural order (they start with a
  zero-padded number), and the accepted_values tests on the marts list exactly these labels.
#}

{# Lead time = days from booking to the appointment, as in the public "Medical Appointment No Shows" data. #}
{% macro lead_time_bucket(days_expr) -%}
    case
        when {{ days_expr }} <= 0 then '00 same day'
        when {{ days_expr }} <= 2 then '01-02 days'
        when {{ days_expr }} <= 7 then '03-07 days'
        when {{ days_expr }} <= 14 then '08-14 days'
        when {{ days_expr }} <= 30 then '15-30 days'
        else '31+ days'
    end
{%- endmacro %}

{% macro age_band(years_expr) -%}
    case
        when {{ years_expr }} < 13 then '00-12'
        when {{ years_expr }} < 18 then '13-17'
        when {{ years_expr }} < 30 then '18-29'
        when {{ years_expr }} < 45 then '30-44'
        when {{ years_expr }} < 60 then '45-59'
        when {{ years_expr }} < 75 then '60-74'
        else '75+'
    end
{%- endmacro %}
