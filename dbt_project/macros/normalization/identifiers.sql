{#
    Consent events and deletion requests name a person by (identifier_type, identifier_value).
    These macros map the landing vocabulary onto the identity graph's
    (email, phone, shop_customer_id, crm_contact_id) and normalize the value the same way the
    rest of staging does. The model must select phone_parse_columns(value, none) beforehand.
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
