-- SLA status at read time (seed 003): targets per priority, and a view over open issues as of now().

CREATE TABLE IF NOT EXISTS "sla_targets" (
    "priority" TEXT PRIMARY KEY,  -- 'default' applies to issues whose priority has no row
    "first_response_hours" DOUBLE PRECISION NOT NULL,
    "resolution_hours" DOUBLE PRECISION NOT NULL
);

CREATE OR REPLACE VIEW "issue_sla_status" AS
WITH open_issues AS (
    SELECT i."id", i."priority", i."created_at", i."first_response_at",
           coalesce(t."first_response_hours", d."first_response_hours") AS "first_response_target_hours",
           coalesce(t."resolution_hours", d."resolution_hours") AS "resolution_target_hours",
           "business_hours_between"(i."created_at", coalesce(i."first_response_at", now() AT TIME ZONE 'UTC'),
               s."timezone", s."day_start_seconds", s."day_end_seconds", s."week_prefix", s."holiday_days")
               AS "first_response_elapsed_hours",
           "business_hours_between"(i."created_at", now() AT TIME ZONE 'UTC',
               s."timezone", s."day_start_seconds", s."day_end_seconds", s."week_prefix", s."holiday_days")
               AS "resolution_elapsed_hours"
    FROM "issues" i
    CROSS JOIN "business_hours_settings" s
    LEFT JOIN "sla_targets" t ON t."priority" = i."priority"
    LEFT JOIN "sla_targets" d ON d."priority" = 'default'
    WHERE i."closed_at" IS NULL AND i."state" <> 'closed'
), graded AS (
    SELECT o.*,
           CASE WHEN o."first_response_target_hours" IS NULL THEN NULL
                WHEN o."first_response_elapsed_hours" >= o."first_response_target_hours" THEN 'breached'
                WHEN o."first_response_elapsed_hours" >= 0.75 * o."first_response_target_hours" THEN 'at_risk'
                ELSE 'ok' END AS "first_response_status",
           CASE WHEN o."resolution_target_hours" IS NULL THEN NULL
                WHEN o."resolution_elapsed_hours" >= o."resolution_target_hours" THEN 'breached'
                WHEN o."resolution_elapsed_hours" >= 0.75 * o."resolution_target_hours" THEN 'at_risk'
                ELSE 'ok' END AS "resolution_status"
    FROM open_issues o
)
SELECT g.*,
       CASE WHEN 'breached' IN (g."first_response_status", g."resolution_status") THEN 'breached'
            WHEN 'at_risk' IN (g."first_response_status", g."resolution_status") THEN 'at_risk'
            WHEN g."first_response_status" IS NULL AND g."resolution_status" IS NULL THEN NULL
            ELSE 'ok' END AS "sla_status"
FROM graded g;
