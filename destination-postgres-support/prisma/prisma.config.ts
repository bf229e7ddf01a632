// Prisma 7 reads the database URL for its CLI here, not in schema.prisma. Migrate (`migrate diff`,
// `migrate resolve`, `migrate dev`, `db pull`) must use Neon's direct URL; the dashboard's client connects
// with DATABASE_URL (the pooled one) through @prisma/adapter-pg. README ("who migrates the database") says
// how a dashboard with Prisma Migrate of its own adopts the database the destination migrates.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  // process.env rather than prisma/config's env(), which fails every command, `prisma generate` included,
  // where DIRECT_URL is unset (a CI build); Migrate still refuses to run without it.
  // SHADOW_DATABASE_URL: an empty database for `migrate dev` and `migrate diff --from-migrations`, where the
  // role may not create one; unset, Prisma creates and drops its own.
  datasource: { url: process.env.DIRECT_URL, shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL },
})
