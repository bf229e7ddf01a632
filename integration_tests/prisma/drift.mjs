// Prisma Migrate's own checks between a Prisma schema and the database DATABASE_URL names, offline. The
// CLI's schema engine is a native binary it downloads (binaries.prisma.sh); this drives the same engine
// built to wasm (@prisma/schema-engine-wasm, the commit of the pinned CLI) over @prisma/adapter-pg.
// Prints one JSON object.
//
//   node drift.mjs diff SCHEMA      what `prisma migrate diff --from-config-datasource --to-schema SCHEMA
//                                   --script --exit-code` prints: the SQL that would take the database to
//                                   the schema (exitCode 0 and an empty migration: no drift)
//   node drift.mjs baseline SCHEMA  the README's adoption of the database by a dashboard with Prisma Migrate:
//                                   `migrate diff --from-empty --to-schema SCHEMA --script` as 0_init, then
//                                   `migrate resolve --applied 0_init`; with what `migrate dev` decides before
//                                   and after (its devDiagnostic: "reset" is the "Drift detected" prompt)
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from '@prisma/driver-adapter-utils'
import * as wasmBindings from '@prisma/schema-engine-wasm/schema_engine_bg'
import pg from 'pg'
import { parse as parseUrl } from 'pg-connection-string'

const NO_FILTER = { externalTables: [], externalEnums: [] }

// Work-around 1: adapter-pg has no column type for Postgres' one-byte "char" (pg_constraint.contype,
// pg_class.relkind, …), which the engine's catalog queries read, so describing any database failed with
// "Column type 'char' could not be deserialized". pg parses "char" as a string already: let the adapter take
// it for text, then tell the engine which columns were "char" (it reads them as characters, not as text).
const charColumns = new WeakMap() // a result's rows array -> indexes of its "char" columns
const addFields = pg.Result.prototype.addFields
pg.Result.prototype.addFields = function (fieldDescriptions) {
  addFields.call(this, fieldDescriptions)
  const indexes = []
  this.fields.forEach((field, i) => {
    if (field.dataTypeID === pg.types.builtins.CHAR) {
      field.dataTypeID = pg.types.builtins.TEXT
      indexes.push(i)
    }
  })
  if (indexes.length) charColumns.set(this.rows, indexes)
}

function withCharColumns(queryable) {
  const queryRaw = queryable.queryRaw.bind(queryable)
  queryable.queryRaw = async (query) => {
    const result = await queryRaw(query)
    for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character
    return result
  }
  const startTransaction = queryable.startTransaction?.bind(queryable)
  if (startTransaction) queryable.startTransaction = async (level) => withCharColumns(await startTransaction(level))
  return queryable
}

// The engine reaches the database through this factory: the main database, and for `migrate dev`'s drift
// check a shadow database the migrations are replayed into.
class EngineAdapter extends PrismaPg {
  async connect() {
    return withCharColumns(await super.connect())
  }

  // Work-around 2: adapter-pg's own shadow database is `{ ...config, database }`, which with a connectionString
  // is the main database again (pg lets the URL's database win), and it dropped the shadow database before
  // closing the pool still connected to it ("is being accessed by other users"). The same steps in an order
  // that works, on a pool of discrete fields (adapterFactory) so that `database` applies.
  async connectToShadowDb() {
    const main = await this.connect()
    const database = `prisma_migrate_shadow_db_${randomUUID()}`
    await main.executeScript(`CREATE DATABASE "${database}"`)
    const pool = new pg.Pool({ ...this.config, database })
    const shadow = await new EngineAdapter(pool).connect()
    shadow.dispose = async () => {
      await pool.end()
      await main.executeScript(`DROP DATABASE "${database}"`)
      await main.dispose()
    }
    return shadow
  }
}

function adapterFactory(url) {
  const { host, port, user, password, database } = parseUrl(url)
  const pool = new pg.Pool({ host, port: port ? Number(port) : undefined, user, password, database })
  return { pool, factory: bindMigrationAwareSqlAdapterFactory(new EngineAdapter(pool)) }
}

// The package's entry imports the .wasm as an ES module, which Node 20 does only behind
// --experimental-wasm-modules: instantiate it the way that entry would.
async function loadEngine() {
  // Where the engine reports a Rust panic before it aborts (the CLI registers the same hook).
  globalThis.PRISMA_WASM_PANIC_REGISTRY = {
    set_message(message) {
      process.stderr.write(`schema engine panic: ${message}\n`)
    },
  }
  const require = createRequire(import.meta.url)
  const wasmPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm')
  const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {
    './schema_engine_bg.js': wasmBindings,
  })
  wasmBindings.__wbg_set_wasm(instance.exports)
  instance.exports.__wbindgen_start()
  return wasmBindings.SchemaEngine
}

// A migrations folder as the engine takes it (read from disk by the CLI): 0_init, or none yet.
function migrationsList(baseDir, initScript) {
  const init = { path: '0_init', migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: initScript } } }
  return {
    baseDir,
    lockfile: { path: 'migration_lock.toml', content: 'provider = "postgresql"\n' },
    shadowDbInitScript: '',
    migrationDirectories: initScript === null ? [] : [init],
  }
}

async function diff(engine, files, configDir) {
  const { exitCode, stdout } = await engine.diff({
    from: { tag: 'schemaDatasource', files, configDir },
    to: { tag: 'schemaDatamodel', files },
    script: true,
    exitCode: true,
    filters: NO_FILTER,
  })
  return { exitCode, script: stdout }
}

async function baseline(engine, files, configDir) {
  const init = await engine.diff({
    from: { tag: 'empty' },
    to: { tag: 'schemaDatamodel', files },
    script: true,
    exitCode: false,
    filters: NO_FILTER,
  })
  const baseDir = path.join(configDir, 'migrations')
  const before = await engine.devDiagnostic({ migrationsList: migrationsList(baseDir, null), filters: NO_FILTER })
  const list = migrationsList(baseDir, init.stdout)
  await engine.markMigrationApplied({ migrationName: '0_init', migrationsList: list })
  const after = await engine.devDiagnostic({ migrationsList: list, filters: NO_FILTER })
  const history = await engine.diagnoseMigrationHistory({
    migrationsList: list,
    optInToShadowDatabase: false,
    filters: NO_FILTER,
  })
  return { initScript: init.stdout, before: before.action, after: after.action, history }
}

const COMMANDS = { diff, baseline }

async function main(command, schemaPath) {
  if (!COMMANDS[command]) throw new Error(`unknown command ${command}: one of ${Object.keys(COMMANDS)}`)
  const files = [{ path: schemaPath, content: readFileSync(schemaPath, 'utf8') }]
  const SchemaEngine = await loadEngine()
  const { pool, factory } = adapterFactory(process.env.DATABASE_URL)
  const engine = await SchemaEngine.new(
    { datamodels: files.map((f) => [f.path, f.content]) },
    () => {}, // the engine's tracing lines; an error comes back as a rejection
    factory,
  )
  try {
    return await COMMANDS[command](engine, files, path.dirname(schemaPath))
  } finally {
    engine.free()
    await pool.end()
  }
}

try {
  const output = JSON.stringify(await main(process.argv[2], path.resolve(process.argv[3] ?? '')))
  // Exit once written: after a shadow database the engine leaves a 10 s timer behind.
  process.stdout.write(`${output}\n`, () => process.exit(0))
} catch (error) {
  console.error(error?.stack ?? error)
  process.exit(1)
}
