{#
    The incremental staging model of a landing table (docs/adr/0002, docs/adr/0013). A staging
    model states only what is its own (its output columns, which of them erasure masks, what
    it derives) and calls this macro, which writes the rest from the landing contract
    (landing_table(name): base model, record key, version, identifiers):

    - only the landing files not read before (landed_file_is_new), so a run reads only new
      files; their rows compete with the row already staged for the same key (by `version`,
      then by file), exactly as in a full build, so a late stale version never wins
      (landing_dispositions: the ranking is a total order);
    - a table whose rows carry identifiers is masked by erasure: rows of people erased since
      they were staged are read back and rewritten masked, `is_erased` says which;
    - the record key is the model's unique_key.

    Arguments:
    - `name`: the landing table ('crm/contacts');
    - `base`: its base model, ref('base_...');
    - `erased_records`: ref('int_privacy__erased_records') for a table with identifiers (the
      records under erasure), none for one without;
    - `columns`: the model's output columns in order, `is_erased` among them for a table with
      identifiers; `landed_file` always comes last;
    - `erasable`: the columns whose values erasure nulls;
    - `landed`: column -> SQL over the base model's row, for a stored column the base model
      does not have (computed once, from the unmasked values, and carried with the row);
    - `derived`: column -> SQL over the staged row (`staged.<column>`), computed on output
      and not stored between runs.
#}
{% macro staged_landing_table(
    name, base, erased_records=none, columns=[], erasable=[], landed={}, derived={}
) -%}
    {%- set table = landing_table(name) -%}
    {%- set key = table.key -%}
    {%- set masked = table.identifiers | length > 0 -%}
    {{ config(unique_key=key) }}
    {%- if masked and erased_records is none -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": " ~ name ~ " carries identifiers, so erasure masks it: pass "
            ~ "erased_records=ref('int_privacy__erased_records')"
        ) }}
    {%- endif -%}
    {%- if masked != ('is_erased' in columns) -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": `is_erased` belongs in the columns exactly when the landing table "
            ~ "carries identifiers (" ~ name ~ ")"
        ) }}
    {%- endif -%}
    {%- if key not in columns -%}
        {{ exceptions.raise_compiler_error(model.name ~ ": the columns lack the key " ~ key) }}
    {%- endif -%}
    {%- for column in erasable if column not in columns or column in derived -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": erasable column " ~ column ~ " is not a stored output column"
        ) }}
    {%- endfor -%}
    {#- The columns stored in the table and carried between runs. -#}
    {%- set stored = [] -%}
    {%- for column in columns if column != 'is_erased' and column not in derived -%}
        {%- do stored.append(column) -%}
    {%- endfor %}
with

landed_rows as (
    select * from {{ base }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    {% if masked %}
        erased_records as (
            select record_key from {{ erased_records }}
            where record_source = '{{ name }}'
        ),
    {% endif %}
{% endif %}

candidates as (
    select
        {% for column in stored %}
            {% if column in landed %}{{ landed[column] }} as {% endif %}{{ column }},
        {% endfor %}
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_rows

    {% if is_incremental() %}
        union all

        select
            {% for column in stored %}
                {{ column }},
            {% endfor %}
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            {{ key }} in (select landed_rows.{{ key }} from landed_rows)
            {% if masked %}
                or (
                    not is_erased
                    and {{ key }} in (select erased_records.record_key from erased_records)
                )
            {% endif %}
    {% endif %}
),

{{ landing_dispositions('candidates', key, table.get('version')) }},

staged as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        {% for column in columns %}
            {% if column == 'is_erased' %}
                {{ is_erased() }} as is_erased,
            {% elif column in derived %}
                {{ derived[column] }} as {{ column }},
            {% elif column in erasable %}
                {{ unless_erased('staged.' ~ column) }} as {{ column }},
            {% else %}
                staged.{{ column }},
            {% endif %}
        {% endfor %}
        staged._landed_file as landed_file
    from staged
    {% if masked %}
        {{ left_join_erased(erased_records, name, 'staged.' ~ key) }}
    {% endif %}
)

select * from final
{%- endmacro %}
