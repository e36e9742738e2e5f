{{
    config(
        materialized='incremental',
        unique_key='message_id',
    )
}}

{#
    Incremental like stg_events__tracks (docs/adr/0002): only landing files not read before,
    ranked against the row already staged for the same message_id; rows of people erased since
    they were staged are rewritten masked.
#}
with

landed_identifies as (
    select * from {{ ref('base_events__identifies') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'events/identifies'
    ),
{% endif %}

candidates as (
    select
        message_id,
        anonymous_id,
        user_id,
        email,
        identified_at,
        traits,
        has_invalid_email,
        has_invalid_traits,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_identifies

    {% if is_incremental() %}
        union all

        select
            message_id,
            anonymous_id,
            user_id,
            email,
            identified_at,
            traits,
            has_invalid_email,
            has_invalid_traits,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            message_id in (select landed_identifies.message_id from landed_identifies)
            or (
                not is_erased
                and message_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'message_id') }},

identifies as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        identifies.message_id,
        {{ unless_erased('identifies.anonymous_id') }} as anonymous_id,
        {{ unless_erased('identifies.user_id') }} as user_id,
        {{ unless_erased('identifies.email') }} as email,
        {{ unless_erased('identifies.traits') }} as traits,
        {{ is_erased() }} as is_erased,
        identifies.has_invalid_email,
        identifies.has_invalid_traits,
        identifies.identified_at,
        identifies._landed_file as landed_file
    from identifies
    {{ left_join_erased(ref('int_privacy__erased_records'), 'events/identifies', 'identifies.message_id') }}
)

select * from final
