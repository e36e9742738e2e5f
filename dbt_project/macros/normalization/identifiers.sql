{#
    Consent events and deletion requests name a person by (identifier_type, identifier_value).
    These macros map the landing vocabulary onto the identity graph's
    (email, phone, shop_customer_id, crm_contact_id) and normalize the value the same way the
    rest of staging does. The model must select phone_parse_columns(value, none) beforehand.

    A phone written without a country code cannot be read with a country of its own (these
    rows carry none): its value is the `default_phone_country` reading, and its digits are kept
    as `national_phone_digits` when any country of `country_calling_codes` reads them
    (readable_national_phones), so int_privacy__national_phone_matches can match it in every
    country. Such a row is never quarantined for what its default-country reading rejects.
#}

{#- A landing word as a token: lowercased, trimmed, every run of other characters than letters
    and digits one underscore ("Email Marketing", "email-marketing" -> email_marketing;
    "Opt-Out", "opted out" -> opt_out, opted_out). -#}
{% macro vocabulary_token(expression) -%}
    {{ regexp_replace_all(regexp_replace_all('lower(' ~ expression ~ ')', '[^a-z0-9]+', '_'), '^_+|_+$', '') }}
{%- endmacro %}


{#- identifier_type variants (README "Consent and deletion requests"): email, e_mail,
    email_address, mail; phone, phone_number, mobile, mobile_number, msisdn, sms, tel;
    user_id, customer_id, shop_customer_id, shop_user_id; contact_id, crm_contact_id, crm_id. -#}
{% macro identity_identifier_type(landing_type_expression) -%}
    case {{ vocabulary_token(landing_type_expression) }}
        when 'email' then 'email'
        when 'e_mail' then 'email'
        when 'email_address' then 'email'
        when 'mail' then 'email'
        when 'phone' then 'phone'
        when 'phone_number' then 'phone'
        when 'mobile' then 'phone'
        when 'mobile_number' then 'phone'
        when 'msisdn' then 'phone'
        when 'sms' then 'phone'
        when 'tel' then 'phone'
        when 'user_id' then 'shop_customer_id'
        when 'customer_id' then 'shop_customer_id'
        when 'shop_customer_id' then 'shop_customer_id'
        when 'shop_user_id' then 'shop_customer_id'
        when 'contact_id' then 'crm_contact_id'
        when 'crm_contact_id' then 'crm_contact_id'
        when 'crm_id' then 'crm_contact_id'
    end
{%- endmacro %}


{#- The consent purposes, and the landing variants of each (after vocabulary_token). `all`
    (also all_purposes, everything) names every purpose at once. -#}
{% macro consent_purposes() -%}
    {{ return(['email_marketing', 'sms_marketing', 'ads_personalization', 'data_sale_sharing']) }}
{%- endmacro %}

{% macro consent_purpose(landing_purpose_expression) -%}
    {%- set variants = {
        'email_marketing': ['email_marketing', 'email', 'marketing_email', 'email_marketing_consent', 'newsletter', 'email_newsletter'],
        'sms_marketing': ['sms_marketing', 'sms', 'marketing_sms', 'text_marketing', 'text_messages', 'sms_marketing_consent'],
        'ads_personalization': ['ads_personalization', 'ads_personalisation', 'ad_personalization', 'ad_personalisation', 'personalized_ads', 'personalised_ads', 'ads'],
        'data_sale_sharing': ['data_sale_sharing', 'data_sale', 'data_sharing', 'data_sale_and_sharing', 'sale_sharing', 'sale_of_data'],
        'all': ['all', 'all_purposes', 'everything'],
    } -%}
    case
        {%- for purpose, words in variants.items() %}
        when {{ vocabulary_token(landing_purpose_expression) }} in ({% for word in words %}'{{ word }}'{{ ', ' if not loop.last }}{% endfor %}) then '{{ purpose }}'
        {%- endfor %}
    end
{%- endmacro %}


{#- Consent status variants: granted (granted, grant, given, opt_in, opted_in, optin, subscribed,
    subscribe, yes, y, true, t, 1, accepted, consented, allowed); denied (denied, deny,
    declined, refused, rejected, no, n, false, f, 0, not_consented); revoked (revoked,
    revoke, withdrawn, withdraw, opt_out, opted_out, optout, unsubscribed, unsubscribe). -#}
{% macro consent_status(landing_status_expression) -%}
    {%- set variants = {
        'granted': ['granted', 'grant', 'given', 'opt_in', 'opted_in', 'optin', 'optedin', 'subscribed', 'subscribe', 'yes', 'y', 'true', 't', '1', 'accepted', 'accept', 'consented', 'allowed', 'allow'],
        'denied': ['denied', 'deny', 'declined', 'decline', 'refused', 'refuse', 'rejected', 'reject', 'no', 'n', 'false', 'f', '0', 'not_consented'],
        'revoked': ['revoked', 'revoke', 'withdrawn', 'withdraw', 'withdrew', 'opt_out', 'opted_out', 'optout', 'optedout', 'unsubscribed', 'unsubscribe'],
    } -%}
    case
        {%- for status, words in variants.items() %}
        when {{ vocabulary_token(landing_status_expression) }} in ({% for word in words %}'{{ word }}'{{ ', ' if not loop.last }}{% endfor %}) then '{{ status }}'
        {%- endfor %}
    end
{%- endmacro %}


{% macro normalized_identifier_value(identity_type_column, raw_value_expression) -%}
    case {{ identity_type_column }}
        when 'email' then {{ normalize_email(raw_value_expression) }}
        when 'phone' then {{ e164_from_parsed() }}
        else {{ clean_text(raw_value_expression) }}
    end
{%- endmacro %}


{#- The distinct national phone digits of `rows` (a CTE selecting identifier_type and
    phone_parse_columns()) that some country of `country_codes` (the model passes
    ref('country_calling_codes')) reads as a number, as `national_phone_digits`. -#}
{% macro readable_national_phones(rows, country_codes) -%}
    {%- set national_phones -%}
        (
            select distinct phone_digits from {{ rows }}
            where
                identifier_type = 'phone'
                and {{ phone_is_national('phone_digits', 'phone_is_international') }}
        )
    {%- endset -%}
    select distinct candidates.phone_digits as national_phone_digits
    from (
        {{ national_phone_candidates(national_phones, country_codes, 'phone_digits', ['phone_digits']) }}
    ) as candidates
{%- endmacro %}


{#- Joins `readable` (a CTE of readable_national_phones()) to the rows `rows_alias`:
    `readable.national_phone_digits` is the row's national phone digits, or null. -#}
{% macro join_readable_national_phones(readable, rows_alias) -%}
    left join {{ readable }}
        on
            {{ rows_alias }}.identifier_type = 'phone'
            and {{ phone_is_national(rows_alias ~ '.phone_digits', rows_alias ~ '.phone_is_international') }}
            and {{ rows_alias }}.phone_digits = {{ readable }}.national_phone_digits
{%- endmacro %}
