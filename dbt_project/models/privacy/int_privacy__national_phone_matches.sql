{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    incremental_strategy='replace',
    affects_everyone='every_row_is_affected',
    on_schema_change='fail',
) }}

{#
    Consent events and deletion requests whose identifier is a phone written without a country
    code (base_consent__events, base_privacy__deletion_requests: national_phone_digits), and
    the customers each one reaches. The rows carry no country, so the digits are read in every
    country of `country_calling_codes` (national_phone_candidates), each reading hashed like any
    phone identifier, and matched against the customers' phones: the phone identifiers of
    int_identity__identifier_customers that a record carries other than such a row itself (in
    the identity graph a national row observes its default-country reading, which is no
    evidence of anyone's number).

    One row per (row, matched customer); a row that matches nobody has one row without a
    customer. `is_applied`: a withdrawal (denied, revoked) applies to every customer it
    matches; a grant or a deletion request only when it matches exactly one, otherwise it is
    listed in privacy_unapplied_rows with the match count and the countries
    (`matched_countries`). Keys, counts and country codes only: no personal data.

    Every landed consent and deletion file is read on every run (the tables are small, as for
    privacy_unapplied_rows), the staged version of each key chosen as staging chooses it, so
    the matches are the same on an incremental run as on a full refresh. A newly landed phone
    can change a row's matches without touching the customers it matched before (a grant
    that matched one customer matches two), so the customer-level models learn the changes
    from here (int_identity__customer_changes): `changed_at` is the run that last changed the
    row's fingerprint or its set of customers, found against the previous run's rows. A
    customer who stops matching through their own data (another phone, a suppressed or merged
    identifier) is logged by identity. A customer a row matched before and matches no more
    (the row re-delivered under its key with another number, or with an email) keeps a row
    with `is_current` false, `changed_at` the run it lapsed, so that customer is recomputed
    too; every reader of the matches reads only the current ones. A lapsed pair is current
    again when the row matches that customer again.
#}

with

countries as (
    select * from {{ ref('country_calling_codes') }}
),

landed_consent_events as (
    select
        consent_event_id,
        consent_status,
        national_phone_digits,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from {{ ref('base_consent__events') }}
),

{{ landing_dispositions('landed_consent_events', 'consent_event_id', prefix='consent_events_') }},

landed_deletion_requests as (
    select
        deletion_request_id,
        national_phone_digits,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from {{ ref('base_privacy__deletion_requests') }}
),

{{ landing_dispositions(
    'landed_deletion_requests', 'deletion_request_id', prefix='deletion_requests_'
) }},

national_rows as (
    select
        'consent/events' as landing_table,
        consent_event_id as record_key,
        _row_hash as row_fingerprint,
        _landed_file as landed_file,
        coalesce(consent_status in ('denied', 'revoked'), false) as applies_to_every_match,
        national_phone_digits
    from consent_events_with_dispositions
    where _disposition = 'staged' and national_phone_digits is not null

    union all

    select
        'privacy/deletion_requests' as landing_table,
        deletion_request_id as record_key,
        _row_hash as row_fingerprint,
        _landed_file as landed_file,
        false as applies_to_every_match,
        national_phone_digits
    from deletion_requests_with_dispositions
    where _disposition = 'staged' and national_phone_digits is not null
),

candidates as (
    {{ national_phone_candidates(
        'national_rows', 'countries', 'national_phone_digits', ['landing_table', 'record_key']
    ) }}
),

national_consent_events as (
    select national_rows.record_key from national_rows
    where national_rows.landing_table = 'consent/events'
),

-- The candidates some record carries other than a national row itself.
carried_phones as (
    select distinct observations.identifier_key
    from {{ ref('int_identity__observations') }} as observations
    left join national_consent_events
        on
            observations.record_source = 'consent/events'
            and observations.record_key = national_consent_events.record_key
    where
        observations.identifier_type = 'phone'
        and observations.identifier_key in (select candidates.identifier_key from candidates)
        and national_consent_events.record_key is null
),

matched as (
    select distinct
        candidates.landing_table,
        candidates.record_key,
        candidates.country_code,
        identifier_customers.customer_id
    from candidates
    inner join carried_phones on candidates.identifier_key = carried_phones.identifier_key
    inner join {{ ref('int_identity__identifier_customers') }} as identifier_customers
        on candidates.identifier_key = identifier_customers.identifier_key
),

match_counts as (
    select
        landing_table,
        record_key,
        count(distinct customer_id) as match_count,
        {{ sorted_text_list('country_code') }} as matched_countries
    from matched
    group by landing_table, record_key
),

matched_customers as (
    select distinct
        landing_table,
        record_key,
        customer_id
    from matched
),

current_matches as (
    select
        national_rows.landing_table,
        national_rows.record_key,
        national_rows.row_fingerprint,
        national_rows.landed_file,
        national_rows.applies_to_every_match,
        matched_customers.customer_id,
        coalesce(match_counts.match_count, 0) as match_count,
        match_counts.matched_countries,
        matched_customers.customer_id is not null
        and (national_rows.applies_to_every_match or match_counts.match_count = 1) as is_applied,
        true as is_current
    from national_rows
    left join matched_customers
        on
            national_rows.landing_table = matched_customers.landing_table
            and national_rows.record_key = matched_customers.record_key
    left join match_counts
        on
            national_rows.landing_table = match_counts.landing_table
            and national_rows.record_key = match_counts.record_key
),

{% if is_incremental() %}
    previous_rows as (
        select * from {{ this }}
    ),

    previous_matches as (
        select * from previous_rows
        where is_current
    ),

    -- The rows whose fingerprint or set of customers differs from the previous run's.
    changed_rows as (
        select distinct
            coalesce(current_matches.landing_table, previous_matches.landing_table)
                as landing_table,
            coalesce(current_matches.record_key, previous_matches.record_key) as record_key
        from current_matches
        full outer join previous_matches
            on
                current_matches.landing_table = previous_matches.landing_table
                and current_matches.record_key = previous_matches.record_key
                and current_matches.row_fingerprint = previous_matches.row_fingerprint
                and coalesce(current_matches.customer_id, '')
                = coalesce(previous_matches.customer_id, '')
        where current_matches.record_key is null or previous_matches.record_key is null
    ),

    previous_changes as (
        select
            landing_table,
            record_key,
            max(changed_at) as changed_at
        from previous_matches
        group by landing_table, record_key
    ),

    -- The customers matched before (now or in an earlier run) that the row matches no more.
    lapsed_matches as (
        select
            previous_rows.landing_table,
            previous_rows.record_key,
            previous_rows.row_fingerprint,
            previous_rows.landed_file,
            previous_rows.applies_to_every_match,
            previous_rows.customer_id,
            previous_rows.match_count,
            previous_rows.matched_countries,
            false as is_applied,
            false as is_current,
            case
                when previous_rows.is_current then {{ run_stamp() }}
                else previous_rows.changed_at
            end as changed_at
        from previous_rows
        left join current_matches
            on
                previous_rows.landing_table = current_matches.landing_table
                and previous_rows.record_key = current_matches.record_key
                and previous_rows.customer_id = current_matches.customer_id
        where previous_rows.customer_id is not null and current_matches.record_key is null
    ),
{% endif %}

final as (
    select
        current_matches.*,
        {% if is_incremental() %}
            case
                when changed_rows.record_key is null then previous_changes.changed_at
                else {{ run_stamp() }}
            end
        {% else %}
        {{ run_stamp() }}
        {% endif %} as changed_at
    from current_matches
    {% if is_incremental() %}
        left join changed_rows
            on
                current_matches.landing_table = changed_rows.landing_table
                and current_matches.record_key = changed_rows.record_key
        left join previous_changes
            on
                current_matches.landing_table = previous_changes.landing_table
                and current_matches.record_key = previous_changes.record_key
    {% endif %}
)

select * from final
{% if is_incremental() %}
    union all
    select * from lapsed_matches
{% endif %}
