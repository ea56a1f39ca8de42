{#
  The day the marts are "as of", as a SQL date expression: var('run_date') (YYYY-MM-DD, passed by the
  pipeline so a backfill of an old day reproduces that day's report), else the environment variable DBT_RUN_DATE,
  else current_date. The value is validated before it reaches SQL.

  DBT_RUN_DATE is how the daily build passes its date (src/activities/dbt-command.ts): it is read only at execution
  (`execute`), never while parsing, so a new date every day keeps dbt's partial parse, which `--vars` would not.
#}
{% macro run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if (value is none or value | string | trim == '') and execute -%}
        {%- set value = env_var('DBT_RUN_DATE', '') -%}
    {%- endif -%}
    {%- if value is none or value | string | trim == '' -%}
        current_date
    {%- else -%}
        {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', value | string) -%}
            {{ exceptions.raise_compiler_error("run_date must be YYYY-MM-DD, got '" ~ value ~ "'") }}
        {%- endif -%}
        cast('{{ value }}' as date)
    {%- endif -%}
{%- endmacro %}

{#
  How much the data tests look at: 'batch' (the run date's batch only, the daily build; macros/batch_tests.sql) or
  'all'. From var('test_scope'), else the environment variable DBT_TEST_SCOPE (read at execution, like DBT_RUN_DATE).
#}
{% macro test_scope() -%}
    {%- set value = var('test_scope', none) -%}
    {%- if (value is none or value == '') and execute -%}
        {%- set value = env_var('DBT_TEST_SCOPE', '') -%}
    {%- endif -%}
    {{- return('batch' if value == 'batch' else 'all') -}}
{%- endmacro %}
