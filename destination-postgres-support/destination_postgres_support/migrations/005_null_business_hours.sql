-- Business hours to or from an unknown time are unknown, not 0: greatest() ignores NULLs, so an issue
-- nobody answered got first_response_hours = 0, which a dashboard reads as an instant reply. The CASE
-- (rather than STRICT, which would stop Postgres inlining the function) keeps the body one expression.

CREATE OR REPLACE FUNCTION "business_hours_between"(
    a TIMESTAMP, b TIMESTAMP, tz TEXT, day_start INTEGER, day_end INTEGER,
    week_prefix INTEGER[], holiday_days INTEGER[]
) RETURNS DOUBLE PRECISION LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a IS NOT NULL AND b IS NOT NULL THEN greatest(
        {{schema}}."business_seconds_at"((b AT TIME ZONE 'UTC') AT TIME ZONE tz, day_start, day_end, week_prefix, holiday_days)
        - {{schema}}."business_seconds_at"((a AT TIME ZONE 'UTC') AT TIME ZONE tz, day_start, day_end, week_prefix, holiday_days),
        0) / 3600.0 END
$$;

UPDATE "issues" SET "first_response_hours" = NULL WHERE "first_response_at" IS NULL AND "first_response_hours" IS NOT NULL;
UPDATE "issues" SET "resolution_hours" = NULL WHERE "closed_at" IS NULL AND "resolution_hours" IS NOT NULL;
