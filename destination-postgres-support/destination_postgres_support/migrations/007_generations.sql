-- The Airbyte generation each row was written under (Airbyte's own destinations keep the same column). A
-- refresh (minimum_generation_id > 0) deletes, once its stream completed, exactly the rows of a lower
-- generation; NULL (rows from before this column, or a platform that sends no generations) counts as 0.
-- Nullable, so Prisma reads and writes the tables unchanged.
ALTER TABLE "issues" ADD COLUMN IF NOT EXISTS "_airbyte_generation_id" BIGINT;
ALTER TABLE "accounts" ADD COLUMN IF NOT EXISTS "_airbyte_generation_id" BIGINT;
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "_airbyte_generation_id" BIGINT;
ALTER TABLE "messages" ADD COLUMN IF NOT EXISTS "_airbyte_generation_id" BIGINT;
ALTER TABLE "_support_pending_messages" ADD COLUMN IF NOT EXISTS "_airbyte_generation_id" BIGINT;
