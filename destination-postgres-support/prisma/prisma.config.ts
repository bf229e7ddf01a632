// Prisma 7 reads the database URL for its CLI here, not in schema.prisma. Migrate (`migrate diff`,
// `migrate resolve`, `migrate dev`, `db pull`) must use Neon's direct URL; the dashboard's client connects
// with DATABASE_URL (the pooled one) through @prisma/adapter-pg. README "Who migrates the database" says
// how a dashboard with Prisma Migrate of its own adopts the database the destination migrates.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  // process.env rather than prisma/config's env(), which fails every command, `prisma generate` included,
  // where DIRECT_URL is unset (a CI build); Migrate still refuses to run without it.
  datasource: { url: process.env.DIRECT_URL },
})
