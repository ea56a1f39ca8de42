{#
  Models land in the schema named by their `+schema` config, verbatim (`staging`, `marts`), instead of
  dbt's default `<target_schema>_<custom_schema>`. The warehouse has exactly three schemas: raw (loaded by
  the pipeline), staging and marts; every environment gets its own database, not its own schema prefix.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
