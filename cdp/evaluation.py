"""Score identity resolution against the generator's ground truth.

Pairwise precision and recall over landed records: a pair of records is predicted together
when they resolve to the same customer_id, and truly together when the truth says the same
person made them. Records that resolve to nobody (quarantined, or carrying only suppressed
identifiers) count as singletons, so they cost recall rather than vanish from the score.
Deletion requests are left out: they are processed by erasure, not attributed to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class PairwiseScore:
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


SCORE_SQL = """
with

truth as (
    select distinct "table" as record_source, record_key, person_id
    from read_csv(?, header = true, all_varchar = true)
    where "table" <> 'privacy/deletion_requests'
),

resolved as (
    select
        truth.record_source,
        truth.record_key,
        truth.person_id,
        coalesce(
            record_customers.customer_id,
            'unresolved:' || truth.record_source || ':' || truth.record_key
        ) as customer_id
    from truth
    left join identity.int_identity__record_customers as record_customers
        on truth.record_source = record_customers.record_source
        and truth.record_key = record_customers.record_key
),

cells as (select person_id, customer_id, count(*) as n from resolved group by 1, 2),
people as (select person_id, count(*) as n from resolved group by 1),
customers as (select customer_id, count(*) as n from resolved group by 1)

select
    (select count(*) from resolved),
    (select coalesce(sum(n * (n - 1) / 2), 0) from people),
    (select coalesce(sum(n * (n - 1) / 2), 0) from customers),
    (select coalesce(sum(n * (n - 1) / 2), 0) from cells)
"""


def pairwise_score(duckdb_path: Path, truth_files: list[Path]) -> PairwiseScore:
    """Score the warehouse's identity resolution against one or more truth files."""
    with duckdb.connect(str(duckdb_path)) as connection:
        row = connection.execute(SCORE_SQL, [[str(path) for path in truth_files]]).fetchone()
    records, true_pairs, predicted_pairs, correct_pairs = (int(value) for value in row)
    return PairwiseScore(records, true_pairs, predicted_pairs, correct_pairs)
