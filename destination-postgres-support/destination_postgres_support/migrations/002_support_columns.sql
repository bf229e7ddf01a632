-- Columns the dashboard's Prisma schema does not declare. All nullable, so Prisma reads and writes the
-- tables unchanged. Documented in README.md ("Columns added to seed 003").

ALTER TABLE "issues"
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "requester_id" TEXT,
    ADD COLUMN IF NOT EXISTS "team_id" TEXT,
    ADD COLUMN IF NOT EXISTS "first_response_hours" DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS "resolution_hours" DOUBLE PRECISION,
    -- 'pylon' when Pylon gave first_response_time, NULL when it comes from the first team message
    ADD COLUMN IF NOT EXISTS "first_response_source" TEXT;

ALTER TABLE "accounts" ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3);
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3);
ALTER TABLE "messages" ADD COLUMN IF NOT EXISTS "is_private" BOOLEAN;

-- Seed 003 "Indexes".
CREATE INDEX IF NOT EXISTS "issues_state_idx" ON "issues"("state");
CREATE INDEX IF NOT EXISTS "issues_priority_idx" ON "issues"("priority");
CREATE INDEX IF NOT EXISTS "issues_category_idx" ON "issues"("category");
CREATE INDEX IF NOT EXISTS "issues_handler_idx" ON "issues"("handler");
CREATE INDEX IF NOT EXISTS "issues_account_id_idx" ON "issues"("account_id");
CREATE INDEX IF NOT EXISTS "issues_created_at_idx" ON "issues"("created_at");
CREATE INDEX IF NOT EXISTS "issues_closed_at_idx" ON "issues"("closed_at");

-- Messages whose issue has not arrived yet (the FK forbids them in "messages"). Moved over at every flush.
CREATE TABLE IF NOT EXISTS "_support_pending_messages" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "issue_id" TEXT NOT NULL,
    "sender_type" TEXT NOT NULL,
    "sender_name" TEXT,
    "body_text" TEXT,
    "body_html" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL,
    "synced_at" TIMESTAMP(3) NOT NULL,
    "is_private" BOOLEAN
);
CREATE INDEX IF NOT EXISTS "_support_pending_messages_issue_id_idx" ON "_support_pending_messages"("issue_id");
