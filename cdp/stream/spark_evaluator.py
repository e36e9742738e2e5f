"""The real-time evaluation on Apache Spark, for when one machine is not enough.

Spark Structured Streaming reads the same event log the collectors write
(`EventLogDataSource`, a Python data source registered as `cdp_event_log`: offsets are the
log's, each micro-batch a range of them, split into partitions read in parallel), and
`SparkEvaluator.process` evaluates each micro-batch (`foreachBatch`) against the Spark build's
tables, set-based:

1. identifiers of every message (the user id as `shop_customer_id`, the email, the anonymous
   and previous ids), resolved through `core.customer_identifiers` and the links the stream
   saw (an identify tying an anonymous id to a known person, in any micro-batch so far);
   someone unknown gets the provisional id the DuckDB evaluator gives (`provisional_id`);
2. the counted events (`counted_events`' rules, the event names the real-time segments use),
   deduplicated by message id against everything already counted;
3. the touched customers (this batch's, plus every current member, so a window's end is
   seen at the next micro-batch) evaluated with each `refresh: realtime` segment's rules,
   compiled by dbt for the Spark target over the views `rt_traits_all`, `rt_customers_all`,
   `rt_events_all` and `rt_touched` (cdp.stream.rt_rules);
4. entered and exited written as changes.

State, under `state_dir`, is Parquet partitioned by micro-batch id: `events/`, `links/`,
`changes/` (segment_name, customer_id, is_holdout, change, changed_at, reason). Each batch
overwrites only its own partitions (dynamic partition overwrite) and reads only earlier ones,
so Spark's replay of a batch after a crash (its checkpoint commits offsets after the batch)
writes the same rows again: nothing is doubled or lost. Batch -1 holds the build's
memberships, where the stream starts from. The current members are each (segment,
customer)'s latest change.

Limits, beside the DuckDB evaluator (which stays the laptop path): a window's end is seen at
the next micro-batch (a trigger interval with events), not at its exact time; links and
provisional ids are reconciled by the next build as on DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from cdp.pipeline import Settings
from cdp.stream.evaluator import NAMED_CALLS, PURCHASE_EVENTS, provisional_id
from cdp.stream.eventlog import EventLog
from cdp.stream.rt_rules import CompiledRules, RealtimeRule, RuleRelations
from cdp.stream.snapshot import EventNeed

SOURCE_NAME = "cdp_event_log"
EVENT_SCHEMA = "log int, offset bigint, received_at string, type string, message string"
AS_OF_MARK = "__cdp_realtime_as_of__"
SPARK_RELATIONS = RuleRelations(
    traits="rt_traits_all",
    customers="rt_customers_all",
    events="rt_events_all",
    affected_sql="select touched.customer_id from rt_touched as touched",
)
SNAPSHOT_BATCH = -1

try:  # the spark extra
    from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
except ImportError:  # pragma: no cover - without pyspark nothing here is used
    DataSource = DataSourceStreamReader = InputPartition = object  # type: ignore[misc,assignment]


# --- the event log as a Spark streaming source --------------------------------------------


@dataclass
class OffsetRange(InputPartition):  # type: ignore[misc]
    log: int  # which of the source's logs
    start: int
    end: int


class EventLogStreamReader(DataSourceStreamReader):  # type: ignore[misc]
    """One or more event logs (one per collector, `path` separated by commas) as one stream.

    The offset is each log's first entry not yet read, `{"0": N0, "1": N1, ...}` by the log's
    position in `path`; every log is read in its own order, split into partitions of at most
    `partition_events` entries."""

    def __init__(self, directories: list[str], max_events: int, partition_events: int):
        self.directories = directories
        self.max_events = max_events
        self.partition_events = partition_events

    def initialOffset(self) -> dict:
        return {str(number): 0 for number in range(len(self.directories))}

    def latestOffset(self, start: dict | None = None, limit: Any = None) -> dict:
        latest = {}
        for number, directory in enumerate(self.directories):
            end = EventLog(Path(directory)).end_offset()
            if start is not None:
                end = min(end, int(start.get(str(number), 0)) + self.max_events)
            latest[str(number)] = end
        return latest

    def partitions(self, start: dict, end: dict) -> list[OffsetRange]:
        ranges = []
        for key, last in sorted(end.items()):
            first = int(start.get(key, 0))
            ranges += [
                OffsetRange(int(key), begin, min(begin + self.partition_events, int(last)))
                for begin in range(first, int(last), self.partition_events)
            ]
        return ranges

    def read(self, partition: OffsetRange) -> Iterator[tuple]:
        log = EventLog(Path(self.directories[partition.log]))
        for event in log.read(partition.start, limit=partition.end - partition.start):
            yield (
                partition.log,
                event.offset,
                event.received_at.isoformat(),
                event.type,
                json.dumps(event.message, default=str),
            )

    def commit(self, end: dict) -> None:
        """The logs are kept whole: other consumers (the landing writers) read them too."""


class EventLogDataSource(DataSource):  # type: ignore[misc]
    """`spark.readStream.format("cdp_event_log").option("path", "LOG_DIR[,LOG_DIR...]")`;
    options `maxEventsPerBatch` per log (default 100,000) and `eventsPerPartition` (default
    20,000)."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> str:
        return EVENT_SCHEMA

    def streamReader(self, schema: Any) -> EventLogStreamReader:
        return EventLogStreamReader(
            [part.strip() for part in self.options["path"].split(",") if part.strip()],
            int(self.options.get("maxEventsPerBatch", 100_000)),
            int(self.options.get("eventsPerPartition", 20_000)),
        )


# --- the evaluation -----------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _literal(moment: datetime) -> str:
    return f"timestamp'{moment:%Y-%m-%d %H:%M:%S.%f}'"


def _counted_sql(names: frozenset[str]) -> str:
    """The counted events of the `parsed` view, as `counted_events` counts them."""
    wanted = ", ".join("'" + name.replace("'", "''") + "'" for name in sorted(names)) or "''"
    named = " ".join(f"when '{call}' then '{event}'" for call, event in sorted(NAMED_CALLS.items()))
    purchases = " union all ".join(
        f"select concat(message_id, ':{derived}') as message_id, customer_id, '{derived}'"
        f" as event_name, occurred_at, received_at, log, offset from resolved"
        f" where type = 'track' and event = '{source}'"
        for source, derived in sorted(PURCHASE_EVENTS.items())
    )
    return f"""
        select * from (
            select message_id, customer_id,
                case type {named} else event end as event_name,
                occurred_at, received_at, log, offset
            from resolved
            where type = 'track' and event is not null and event <> ''
                or type in ({", ".join(f"'{call}'" for call in sorted(NAMED_CALLS))})
            {"union all " + purchases if purchases else ""}
        )
        where event_name in ({wanted}) and occurred_at is not null
    """


class SparkEvaluator(CompiledRules):
    """The real-time segments evaluated by Spark Structured Streaming over the event log."""

    _compile_options: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"relations": SPARK_RELATIONS, "as_of_expression": AS_OF_MARK}
    )

    def __init__(
        self,
        spark: Any,
        settings: Settings,
        state_dir: Path,
        *,
        rules: Mapping[str, RealtimeRule] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ):
        self.spark = spark
        self.settings = settings
        self.state_dir = Path(state_dir)
        self.clock = clock
        self._rules = dict(rules) if rules is not None else None
        self._need: EventNeed | None = None
        spark.dataSource.register(EventLogDataSource)
        spark.udf.register("cdp_provisional_id", provisional_id)

    def _path(self, table: str) -> str:
        return str(self.state_dir / table)

    def _exists(self, table: str) -> bool:
        return (self.state_dir / table / "_SUCCESS").exists() or any(
            (self.state_dir / table).glob("batch_id=*")
        )

    def _earlier(self, spark: Any, table: str, batch_id: int, schema: str) -> Any:
        """The rows of `table` written by batches before `batch_id`, with the columns of
        `schema` (a DDL string); an empty frame when there are none yet."""
        if not self._exists(table):
            return spark.createDataFrame([], schema)
        columns = [column.strip().split(" ")[0] for column in schema.split(",")]
        frame = spark.read.parquet(self._path(table))
        return frame.where(f"batch_id < {batch_id}").select(*columns)

    def _write(self, frame: Any, table: str, batch_id: int) -> None:
        from pyspark.sql import functions as F

        (
            frame.withColumn("batch_id", F.lit(batch_id))
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy("batch_id")
            .parquet(self._path(table))
        )

    # -- the starting point: the build's memberships

    def start_from_build(self) -> None:
        """Batch -1: the build's members of each real-time segment (once per state_dir)."""
        if self._exists("changes"):
            return
        parts = [
            f"select '{name}' as segment_name, customer_id, is_holdout, 'entered' as change,"
            f" cast(null as timestamp) as changed_at, 'snapshot' as reason"
            f" from segments.{name}"
            for name in sorted(self.rules)
        ]
        self._write(self.spark.sql(" union all ".join(parts)), "changes", SNAPSHOT_BATCH)

    def members(self, before_batch: int | None = None, spark: Any = None) -> Any:
        """(segment_name, customer_id, is_holdout) of the current members."""
        spark = spark or self.spark
        changes = spark.read.parquet(self._path("changes"))
        if before_batch is not None:
            changes = changes.where(f"batch_id < {before_batch}")
        changes.createOrReplaceTempView("rt_changes")
        return spark.sql(
            "select segment_name, customer_id, is_holdout from ("
            " select *, row_number() over (partition by segment_name, customer_id"
            "   order by batch_id desc, case change when 'entered' then 1 else 0 end desc) as n"
            " from rt_changes) where n = 1 and change = 'entered'"
        )

    # -- one micro-batch

    def process(self, frame: Any, batch_id: int) -> None:
        """foreachBatch: evaluate one micro-batch of the event log (see the module docstring)."""
        spark = frame.sparkSession  # the micro-batch's session: its temporary views are its own
        now = self.clock()
        frame.createOrReplaceTempView("rt_batch")
        spark.sql(
            """
            select log, offset, to_timestamp(received_at) as received_at, type,
                get_json_object(message, '$.messageId') as message_id,
                nullif(get_json_object(message, '$.userId'), '') as user_id,
                nullif(lower(trim(coalesce(get_json_object(message, '$.traits.email'),
                    get_json_object(message, '$.context.traits.email'),
                    get_json_object(message, '$.email')))), '') as email,
                nullif(get_json_object(message, '$.anonymousId'), '') as anonymous_id,
                nullif(get_json_object(message, '$.previousId'), '') as previous_id,
                get_json_object(message, '$.event') as event,
                cast(get_json_object(message, '$.timestamp') as timestamp) as occurred_at
            from rt_batch
            """
        ).createOrReplaceTempView("parsed")
        self._earlier(
            spark,
            "links",
            batch_id,
            "identifier_type string, identifier_value string, customer_id string",
        ).createOrReplaceTempView("rt_earlier_links")
        spark.sql(
            """
            select identifier_type, identifier_value, min(customer_id) as customer_id
            from core.customer_identifiers
            where identifier_type in ('shop_customer_id', 'email', 'anonymous_id')
            group by 1, 2
            """
        ).createOrReplaceTempView("rt_known")
        # the known person of each message, by its strongest identifier
        spark.sql(
            """
            select parsed.*, coalesce(by_user.customer_id, by_email.customer_id) as known_id
            from parsed
            left join rt_known as by_user on by_user.identifier_type = 'shop_customer_id'
                and by_user.identifier_value = parsed.user_id
            left join rt_known as by_email on by_email.identifier_type = 'email'
                and by_email.identifier_value = parsed.email
            """
        ).createOrReplaceTempView("rt_with_known")
        # an anonymous (or previous) id seen with a known person is that person's from now on
        links = spark.sql(
            """
            select 'anonymous_id' as identifier_type, identifier_value, min(known_id) as customer_id
            from (
                select anonymous_id as identifier_value, known_id from rt_with_known
                union all select previous_id, known_id from rt_with_known
            )
            where identifier_value is not null and known_id is not null
            group by 2
            """
        )
        links.createOrReplaceTempView("rt_new_links")
        spark.sql(
            """
            select identifier_type, identifier_value, customer_id from rt_new_links
            union all
            select identifier_type, identifier_value, customer_id from rt_earlier_links as old
            where not exists (select 1 from rt_new_links as new
                where new.identifier_value = old.identifier_value)
            """
        ).createOrReplaceTempView("rt_links")
        spark.sql(
            """
            select message.*, coalesce(
                    known_id, by_link.customer_id, by_previous.customer_id,
                    by_anonymous.customer_id,
                    case
                        when user_id is not null
                            then cdp_provisional_id('shop_customer_id', user_id)
                        when email is not null then cdp_provisional_id('email', email)
                        when anonymous_id is not null
                            then cdp_provisional_id('anonymous_id', anonymous_id)
                        when previous_id is not null
                            then cdp_provisional_id('anonymous_id', previous_id)
                    end
                ) as customer_id
            from rt_with_known as message
            left join rt_links as by_link on by_link.identifier_value = message.anonymous_id
            left join rt_links as by_previous on by_previous.identifier_value = message.previous_id
            left join rt_known as by_anonymous on by_anonymous.identifier_type = 'anonymous_id'
                and by_anonymous.identifier_value = message.anonymous_id
            """
        ).createOrReplaceTempView("resolved")
        self._earlier(
            spark,
            "events",
            batch_id,
            "message_id string, customer_id string, event_name string, occurred_at timestamp",
        ).createOrReplaceTempView("rt_earlier_events")
        counted = spark.sql(
            f"""
            select message_id, customer_id, event_name, occurred_at, received_at, log, offset
            from (
                select *, row_number() over (partition by message_id order by log, offset) as n
                from ({_counted_sql(self.need.names)})
                where customer_id is not null
            ) as fresh
            where n = 1 and not exists (
                select 1 from rt_earlier_events as old where old.message_id = fresh.message_id
            )
            """
        )
        self._write(links, "links", batch_id)
        self._write(counted, "events", batch_id)
        self._evaluate(spark, batch_id, now)

    def _evaluate(self, spark: Any, batch_id: int, now: datetime) -> None:
        events = spark.read.parquet(self._path("events")).where(f"batch_id <= {batch_id}")
        events.createOrReplaceTempView("rt_stream_events")
        current = self.members(before_batch=batch_id, spark=spark)
        current.createOrReplaceTempView("rt_current")
        spark.sql(
            "select distinct customer_id from rt_stream_events where batch_id = "
            f"{batch_id} union select customer_id from rt_current"
        ).createOrReplaceTempView("rt_touched")
        spark.sql(
            "select customer_id, false as is_erased from rt_touched where customer_id like 'rt-%'"
        ).createOrReplaceTempView("rt_provisional")
        spark.table("core.customer_traits").unionByName(
            spark.table("rt_provisional"), allowMissingColumns=True
        ).createOrReplaceTempView("rt_traits_all")
        spark.table("core.customers").unionByName(
            spark.table("rt_provisional"), allowMissingColumns=True
        ).createOrReplaceTempView("rt_customers_all")
        names = ", ".join("'" + n.replace("'", "''") + "'" for n in sorted(self.need.names))
        spark.sql(
            f"""
            select customer_id, event_name, occurred_at from (
                select customer_id, event_name, occurred_at
                from segments.int_segments__customer_events where event_name in ({names})
                union all
                select customer_id, event_name, occurred_at from rt_stream_events
            ) where occurred_at <= {_literal(now)}
            """
        ).createOrReplaceTempView("rt_events_all")
        results = [
            spark.sql(rule.sql.replace(AS_OF_MARK, _literal(now))).selectExpr(
                f"'{name}' as segment_name", "customer_id", "is_holdout"
            )
            for name, rule in sorted(self.rules.items())
        ]
        result = results[0]
        for more in results[1:]:
            result = result.unionByName(more)
        result.createOrReplaceTempView("rt_result")
        reason = "event"
        changes = spark.sql(
            f"""
            select result.segment_name, result.customer_id, result.is_holdout,
                'entered' as change, {_literal(now)} as changed_at, '{reason}' as reason
            from rt_result as result
            where not exists (select 1 from rt_current as member
                where member.segment_name = result.segment_name
                and member.customer_id = result.customer_id)
            union all
            select member.segment_name, member.customer_id, member.is_holdout,
                'exited', {_literal(now)}, case when member.customer_id in (
                    select customer_id from rt_stream_events where batch_id = {batch_id}
                ) then 'event' else 'time' end
            from rt_current as member
            where not exists (select 1 from rt_result as result
                where member.segment_name = result.segment_name
                and member.customer_id = result.customer_id)
            """
        )
        self._write(changes, "changes", batch_id)

    # -- running

    def start(
        self,
        log_dir: Path | list[Path],
        checkpoint_dir: Path,
        *,
        trigger_seconds: float = 1.0,
        available_now: bool = False,
        max_events_per_batch: int = 100_000,
    ) -> Any:
        """Start the streaming query over one log, or one per collector (`available_now`: what
        is in the logs now, then stop)."""
        self.start_from_build()
        stream = (
            self.spark.readStream.format(SOURCE_NAME)
            .option(
                "path",
                ",".join(str(p) for p in (log_dir if isinstance(log_dir, list) else [log_dir])),
            )
            .option("maxEventsPerBatch", str(max_events_per_batch))
            .load()
        )
        writer = stream.writeStream.foreachBatch(self.process).option(
            "checkpointLocation", str(checkpoint_dir)
        )
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{trigger_seconds} seconds")
        return writer.start()
