{#
  The day the marts are "as of", as a SQL date expression: var('run_date') (YYYY-MM-DD, passed by the
  pipeline so a backfill of an old day reproduces that day's report) or current_date when unset.
  The value is validated before it reaches SQL.
#}
{% macro run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if value is none or value | string | trim == '' -%}
        current_date
    {%- else -%}
        {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', value | string) -%}
            {{ exceptions.raise_compiler_error("var run_date must be YYYY-MM-DD, got '" ~ value ~ "'") }}
        {%- endif -%}
        cast('{{ value }}' as date)
    {%- endif -%}
{%- endmacro %}
