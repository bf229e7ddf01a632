-- Seed 003's Prisma schema, as `prisma migrate dev` writes it (names, types, defaults, constraint and index
-- names, referential actions). IF NOT EXISTS: the dashboard's own `prisma migrate` may have run first.

CREATE TABLE IF NOT EXISTS "issues" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "priority" TEXT,
    "source" TEXT,
    "category" TEXT,
    "handler" TEXT,
    "resolution_type" TEXT,
    "self_servable" TEXT,
    "account_id" TEXT,
    "assignee_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL,
    "closed_at" TIMESTAMP(3),
    "first_response_at" TIMESTAMP(3),
    "first_response_seconds" INTEGER,
    "business_hours_first_response_seconds" INTEGER,
    "resolution_time" TIMESTAMP(3),
    "body_html" TEXT,
    "number_of_touches" INTEGER,
    "link" TEXT,
    "type" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "synced_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "issues_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "accounts" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "domain" TEXT,
    "synced_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "accounts_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "users" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "email" TEXT,
    "synced_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "messages" (
    "id" TEXT NOT NULL,
    "issue_id" TEXT NOT NULL,
    "sender_type" TEXT NOT NULL,
    "sender_name" TEXT,
    "body_text" TEXT,
    "body_html" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL,
    "synced_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "messages_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "sync_log" (
    "id" TEXT NOT NULL,
    "started_at" TIMESTAMP(3) NOT NULL,
    "ended_at" TIMESTAMP(3),
    "status" TEXT NOT NULL,
    "issues_synced" INTEGER NOT NULL DEFAULT 0,
    "accounts_synced" INTEGER NOT NULL DEFAULT 0,
    "messages_synced" INTEGER NOT NULL DEFAULT 0,
    "errors" TEXT,
    "last_issue_updated_at" TIMESTAMP(3),

    CONSTRAINT "sync_log_pkey" PRIMARY KEY ("id")
);

CREATE INDEX IF NOT EXISTS "messages_issue_id_idx" ON "messages"("issue_id");

CREATE INDEX IF NOT EXISTS "messages_issue_id_sender_type_created_at_idx"
    ON "messages"("issue_id", "sender_type", "created_at");

-- Prisma's defaults: optional relation → ON DELETE SET NULL, required → ON DELETE RESTRICT; ON UPDATE CASCADE.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'issues_account_id_fkey'
                   AND conrelid = 'issues'::regclass) THEN
        ALTER TABLE "issues" ADD CONSTRAINT "issues_account_id_fkey" FOREIGN KEY ("account_id")
            REFERENCES "accounts"("id") ON DELETE SET NULL ON UPDATE CASCADE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'issues_assignee_id_fkey'
                   AND conrelid = 'issues'::regclass) THEN
        ALTER TABLE "issues" ADD CONSTRAINT "issues_assignee_id_fkey" FOREIGN KEY ("assignee_id")
            REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'messages_issue_id_fkey'
                   AND conrelid = 'messages'::regclass) THEN
        ALTER TABLE "messages" ADD CONSTRAINT "messages_issue_id_fkey" FOREIGN KEY ("issue_id")
            REFERENCES "issues"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
    END IF;
END
$$;
