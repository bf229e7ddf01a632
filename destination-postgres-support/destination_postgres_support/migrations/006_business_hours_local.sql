-- Business hours between two local wall-clock times (NULL if either is unknown). Converting UTC to local
-- time is the costly part of business_hours_between, and Postgres inlines an SQL function by pasting its
-- argument at every use: each endpoint was converted 8 times. The loader converts each timestamp once (in
-- a LATERAL subquery that OFFSET 0 keeps apart) and calls this. 100k intervals: 370 ms -> 130 ms.

CREATE OR REPLACE FUNCTION "business_hours_between_local"(
    la TIMESTAMP, lb TIMESTAMP, day_start INTEGER, day_end INTEGER, week_prefix INTEGER[], holiday_days INTEGER[]
) RETURNS DOUBLE PRECISION LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN la IS NOT NULL AND lb IS NOT NULL THEN greatest(
        {{schema}}."business_seconds_at"(lb, day_start, day_end, week_prefix, holiday_days)
        - {{schema}}."business_seconds_at"(la, day_start, day_end, week_prefix, holiday_days),
        0) / 3600.0 END
$$;
