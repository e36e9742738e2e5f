{#
    Which identifiers each landed record carries: the bridge from records to the identity
    graph. Values are hashed (identifier_key); no personal data is stored here.
#}
with

observations as (
    {{ identifier_observations() }}
),

final as (
    select
        record_source,
        record_key,
        identifier_type,
        {{ identifier_key('identifier_type', 'identifier_value') }} as identifier_key,
        min(observed_at) as observed_at
    from observations
    group by 1, 2, 3, 4
)

select * from final
