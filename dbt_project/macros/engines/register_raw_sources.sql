{#- on-run-start: make the raw files visible as source('raw', <table>) where payloom could not
    register them beforehand. On DuckDB, payloom (scoring.raw_tables) creates the raw.* views in
    the database file before dbt runs, so nothing happens here. On Spark the catalog lives in
    the session, so the views are created here from var raw_tables, which payloom passes after
    validating the files: {<table>: {location, format (parquet | csv | none), columns: {name: type}}}.
    Every view has the contract columns plus _source_file; a table without files is an empty view. -#}
{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources')()) }}
{%- endmacro %}

{% macro default__register_raw_sources() -%}
{%- endmacro %}

{% macro spark__register_raw_sources() -%}
{%- set tables = var('raw_tables', none) -%}
{%- if execute and tables is none -%}
    {{ exceptions.raise_compiler_error("Spark builds need var raw_tables (the validated raw files): run `payloom build --target spark --raw-dir DIR`, which passes it.") }}
{%- endif -%}
{%- if execute -%}
    {%- do run_query("create schema if not exists raw") -%}
    {%- for name, table in tables.items() -%}
        {%- set columns = [] -%}
        {%- for column, data_type in table['columns'].items() -%}
            {%- do columns.append(column) -%}
        {%- endfor -%}
        {%- if table['format'] == 'parquet' -%}
            {%- do run_query("create or replace view raw." ~ name ~ " as select " ~ (columns | join(', '))
                ~ ", _metadata.file_path as _source_file from parquet.`" ~ table['location'] ~ "`") -%}
        {%- elif table['format'] == 'csv' -%}
            {#- CSV needs its header option, so the files get an external table; every column is text,
                as on DuckDB, and staging casts (and quarantines what does not parse). #}
            {%- do run_query("drop view if exists raw." ~ name) -%}
            {%- do run_query("drop table if exists raw." ~ name ~ "__files") -%}
            {%- do run_query("create table raw." ~ name ~ "__files using csv options (path '" ~ table['location']
                ~ "', header 'true', inferSchema 'false')") -%}
            {%- do run_query("create or replace view raw." ~ name ~ " as select " ~ (columns | join(', '))
                ~ ", _metadata.file_path as _source_file from raw." ~ name ~ "__files") -%}
        {%- else -%}
            {%- set empty = [] -%}
            {%- for column, data_type in table['columns'].items() -%}
                {%- do empty.append("cast(null as " ~ ('string' if data_type == 'varchar' else data_type) ~ ") as " ~ column) -%}
            {%- endfor -%}
            {%- do run_query("create or replace view raw." ~ name ~ " as select " ~ (empty | join(', '))
                ~ ", cast(null as string) as _source_file where false") -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- endmacro %}
