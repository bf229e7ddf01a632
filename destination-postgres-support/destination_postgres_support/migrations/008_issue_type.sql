-- One spelling for issues.type: seed 003's "Conversation" / "Ticket" (README "issues.type"). Pylon sends
-- `conversation` / `ticket`, older API versions capitalise, so a dashboard filter on `type: "Ticket"` found
-- only some tickets. The mapping now writes seed 003's spelling and keeps what the API sent in type_raw
-- (nullable, so Prisma reads and writes the table unchanged); rows written before are brought to the same form.
ALTER TABLE "issues" ADD COLUMN IF NOT EXISTS "type_raw" TEXT;

UPDATE "issues"
SET "type_raw" = "type",
    "type" = CASE lower("type") WHEN 'conversation' THEN 'Conversation' WHEN 'ticket' THEN 'Ticket' ELSE "type" END
WHERE "type" IS NOT NULL AND "type_raw" IS NULL;
