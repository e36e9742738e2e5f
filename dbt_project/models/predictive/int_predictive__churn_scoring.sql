{#- The same churn features as of as_of, for every customer with a purchase: what gets scored. -#}
{{ churn_features(as_of()) }}
