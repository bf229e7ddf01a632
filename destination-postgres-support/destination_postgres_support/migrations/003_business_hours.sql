-- Business hours in SQL: the same closed form as business_hours.py (see its docstring). The inner
-- functions are single-expression SQL, so Postgres inlines them into the merge and the SLA view.
-- {{schema}} is replaced by the quoted target schema: inlined SQL function bodies resolve names at the
-- caller's search_path, so they must be schema-qualified.

CREATE TABLE IF NOT EXISTS "business_hours_settings" (
    "id" BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK ("id"),
    "timezone" TEXT NOT NULL,
    "day_start_seconds" INTEGER NOT NULL,
    "day_end_seconds" INTEGER NOT NULL,
    "working_days" INTEGER[] NOT NULL,
    "holidays" DATE[] NOT NULL,
    -- derived, written by the destination from the fields above
    "week_prefix" INTEGER[] NOT NULL,
    "holiday_days" INTEGER[] NOT NULL
);

INSERT INTO "business_hours_settings"
    ("timezone", "day_start_seconds", "day_end_seconds", "working_days", "holidays", "week_prefix", "holiday_days")
VALUES ('America/Sao_Paulo', 28800, 64800, '{1,2,3,4,5}', '{}', '{0,1,2,3,4,5,5,5}', '{-2147483648}')
ON CONFLICT ("id") DO NOTHING;

-- Business seconds from 1900-01-01 to local wall-clock time lt.
CREATE OR REPLACE FUNCTION "business_seconds_at"(
    lt TIMESTAMP, day_start INTEGER, day_end INTEGER, week_prefix INTEGER[], holiday_days INTEGER[]
) RETURNS DOUBLE PRECISION LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (((lt::date - DATE '1900-01-01') / 7) * week_prefix[8]
            + week_prefix[((lt::date - DATE '1900-01-01') % 7) + 1]
            - (width_bucket((lt::date - DATE '1900-01-01') - 1, holiday_days) - 1)
           )::DOUBLE PRECISION * (day_end - day_start)
         + CASE WHEN week_prefix[((lt::date - DATE '1900-01-01') % 7) + 2]
                     > week_prefix[((lt::date - DATE '1900-01-01') % 7) + 1]
                 AND width_bucket(lt::date - DATE '1900-01-01', holiday_days)
                     = width_bucket((lt::date - DATE '1900-01-01') - 1, holiday_days)
                THEN least(greatest(extract(epoch FROM lt - lt::date::timestamp)::DOUBLE PRECISION - day_start, 0),
                           (day_end - day_start)::DOUBLE PRECISION)
                ELSE 0 END
$$;

-- Business hours between two UTC timestamps, settings passed in (inlined into set-based queries).
CREATE OR REPLACE FUNCTION "business_hours_between"(
    a TIMESTAMP, b TIMESTAMP, tz TEXT, day_start INTEGER, day_end INTEGER,
    week_prefix INTEGER[], holiday_days INTEGER[]
) RETURNS DOUBLE PRECISION LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT greatest(
        {{schema}}."business_seconds_at"((b AT TIME ZONE 'UTC') AT TIME ZONE tz, day_start, day_end, week_prefix, holiday_days)
        - {{schema}}."business_seconds_at"((a AT TIME ZONE 'UTC') AT TIME ZONE tz, day_start, day_end, week_prefix, holiday_days),
        0) / 3600.0
$$;

-- The dashboard's entry point: business hours between two UTC timestamps under the stored settings.
CREATE OR REPLACE FUNCTION "business_hours_between"(a TIMESTAMP, b TIMESTAMP)
RETURNS DOUBLE PRECISION LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT {{schema}}."business_hours_between"(a, b, s."timezone", s."day_start_seconds", s."day_end_seconds",
                                     s."week_prefix", s."holiday_days")
    FROM {{schema}}."business_hours_settings" s
$$;
