-- The engine-specific macros (cross_database.sql, segment.sql, dbt.datediff) give the same
-- answers on every target: one failing row per case that does not. Runs in every build, so
-- DuckDB and Spark both check it.
with

cases as (
    select
        'regexp_like matches the whole value' as case_name,
        {{ regexp_like("'0000'", '0+|1+') }} and not {{ regexp_like("'1230'", '0+|1+') }} as passed

    union all

    select
        'email pattern keeps its escaped dot' as case_name,
        {{ normalize_email("'a@bcom'") }} is null
        and {{ normalize_email("' Ann.Lee@Example.COM '") }} = 'ann.lee@example.com' as passed

    union all

    select
        'regexp_replace_all replaces every match' as case_name,
        {{ regexp_replace_all("'+1 (415) 555-0123'", '[^0-9]', '') }} = '14155550123' as passed

    union all

    select
        'timestamps with offsets become UTC' as case_name,
        {{ parse_timestamp_utc("'2004-03-05T16:22:01+02:00'") }}
        = cast('2004-03-05 14:22:01' as {{ dbt.type_timestamp() }})
        and {{ parse_timestamp_utc("'2004-03-05T14:22:01.123Z'") }}
        = cast('2004-03-05 14:22:01.123' as {{ dbt.type_timestamp() }})
        and {{ parse_timestamp_utc("'2004-03-05 14:22:01'") }}
        = cast('2004-03-05 14:22:01' as {{ dbt.type_timestamp() }}) as passed

    union all

    select
        'unreadable timestamps are null' as case_name,
        {{ parse_timestamp_utc("'not a date'") }} is null
        and {{ parse_timestamp_utc("'2024-02-30T00:00:00Z'") }} is null
        and {{ parse_timestamp_utc("' '") }} is null as passed

    union all

    select
        'json objects are told from other text' as case_name,
        {{ is_json_object("'{\"plan\": \"pro\", \"seats\": 3}'") }}
        and not {{ is_json_object("'not json'") }} as passed

    union all

    select
        'unparseable numbers are null' as case_name,
        {{ parse_decimal("'12.5x'") }} is null
        and {{ parse_decimal("' 12.50 '") }} = 12.5
        and {{ parse_integer("'7'") }} = 7 as passed

    union all

    select
        'holdout buckets hash the same on every engine' as case_name,
        {{ segment_holdout_bucket("'seg_example'", "'cus_0001'") }}
        between 0.949279302 and 0.949279304 as passed

    union all

    select
        'identifier keys are the md5 of type and value' as case_name,
        {{ identifier_key("'email'", "'a@b.com'") }} = 'ad4aae54b3f79332809a380ceb9bcd92' as passed

    union all

    select
        'minutes count the boundaries crossed' as case_name,
        {{ dbt.datediff(
            "cast('2024-01-01 10:00:50' as " ~ dbt.type_timestamp() ~ ")",
            "cast('2024-01-01 10:31:10' as " ~ dbt.type_timestamp() ~ ")",
            'minute'
        ) }} = 31
        and {{ dbt.datediff(
            "cast('2024-01-01 10:00:10' as " ~ dbt.type_timestamp() ~ ")",
            "cast('2024-01-01 10:30:50' as " ~ dbt.type_timestamp() ~ ")",
            'minute'
        ) }} = 30 as passed

    union all

    select
        'days count the dates crossed' as case_name,
        {{ days_between(
            "cast('2024-01-01 23:00:00' as " ~ dbt.type_timestamp() ~ ")",
            "cast('2024-01-02 01:00:00' as " ~ dbt.type_timestamp() ~ ")"
        ) }} = 1 as passed

    union all

    select
        'text lists are distinct and sorted' as case_name,
        (
            select {{ sorted_text_list('codes.code') }}
            from (values ('FR'), ('ES'), ('FR')) as codes (code)
        ) = 'ES, FR' as passed
),

final as (
    select case_name
    from cases
    where not coalesce(passed, false)
)

select * from final
