// The dashboard's reads, through the Prisma client generated from destination-postgres-support's shipped
// schema, as a dashboard opens it: `new PrismaClient({ adapter: new PrismaPg({ connectionString }) })`.
// Prints one JSON object: the client's data model (each model's table, each field's column and type) and
// every query run, by name, with its result. tests/test_prisma.py computes each from SQL and compares.
//
//   node read.mjs '{"tag": "…", "word": "…", "since": "ISO instant", "minHours": n}'
import Prisma from '@prisma/client'
import { PrismaPg } from '@prisma/adapter-pg'

const { PrismaClient } = Prisma
const params = JSON.parse(process.argv[2] ?? '{}')
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) })

// Each model's key, for an order the test can reproduce (the runtime data model does not say which it is).
const KEYS = {
  Issue: 'id',
  Account: 'id',
  User: 'id',
  Message: 'id',
  SyncLog: 'id',
  PendingMessage: 'id',
  BusinessHoursSettings: 'id',
  SlaTarget: 'priority',
  SchemaMigration: 'version',
  IssueSlaStatus: 'id',
}
const delegate = (model) => prisma[model[0].toLowerCase() + model.slice(1)]
const models = Prisma.Prisma.dmmf.datamodel.models

const queries = [
  // Every row of every model and of the view, every scalar field.
  ...models.map((m) => [`${m.name}.findMany all rows`, () => delegate(m.name).findMany({ orderBy: { [KEYS[m.name]]: 'asc' } })]),

  // Relations, both ways, and the view's relation to its issue.
  [
    'issue.findMany include account, assignee, messages, slaStatus',
    () =>
      prisma.issue.findMany({
        orderBy: { id: 'asc' },
        select: {
          id: true,
          account: true,
          assignee: true,
          messages: { select: { id: true }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] },
          slaStatus: { select: { id: true } },
        },
      }),
  ],
  [
    'account.findMany _count issues',
    () => prisma.account.findMany({ orderBy: { id: 'asc' }, select: { id: true, _count: { select: { issues: true } } } }),
  ],
  [
    'user.findMany include issues',
    () =>
      prisma.user.findMany({
        orderBy: { id: 'asc' },
        select: { id: true, issues: { select: { id: true }, orderBy: { id: 'asc' } } },
      }),
  ],
  [
    'message.findMany include issue',
    () => prisma.message.findMany({ orderBy: { id: 'asc' }, select: { id: true, issue: { select: { id: true, title: true } } } }),
  ],
  [
    'issueSlaStatus.findMany include issue',
    () =>
      prisma.issueSlaStatus.findMany({
        orderBy: { id: 'asc' },
        select: { id: true, issue: { select: { title: true, state: true, closedAt: true } } },
      }),
  ],

  // Filters a dashboard uses.
  ['issue.findMany where type = Ticket', () => prisma.issue.findMany({ where: { type: 'Ticket' }, select: { id: true }, orderBy: { id: 'asc' } })],
  [
    'issue.findMany where type = Conversation',
    () => prisma.issue.findMany({ where: { type: 'Conversation' }, select: { id: true }, orderBy: { id: 'asc' } }),
  ],
  [
    'issue.findMany where open',
    () =>
      prisma.issue.findMany({ where: { closedAt: null, state: { not: 'closed' } }, select: { id: true }, orderBy: { id: 'asc' } }),
  ],
  [
    'issue.findMany where tags has',
    () => prisma.issue.findMany({ where: { tags: { has: params.tag } }, select: { id: true }, orderBy: { id: 'asc' } }),
  ],
  [
    'issue.findMany where title contains, insensitive',
    () =>
      prisma.issue.findMany({
        where: { title: { contains: params.word, mode: 'insensitive' } },
        select: { id: true },
        orderBy: { id: 'asc' },
      }),
  ],
  [
    'issue.findMany where createdAt >= since and firstResponseHours > minHours',
    () =>
      prisma.issue.findMany({
        where: { createdAt: { gte: new Date(params.since) }, firstResponseHours: { gt: params.minHours } },
        select: { id: true },
        orderBy: { id: 'asc' },
      }),
  ],
  [
    'issue.findMany where some internal note',
    () =>
      prisma.issue.findMany({
        where: { messages: { some: { senderType: 'team', isPrivate: true } } },
        select: { id: true },
        orderBy: { id: 'asc' },
      }),
  ],
  [
    'issue.findMany where no team message',
    () => prisma.issue.findMany({ where: { messages: { none: { senderType: 'team' } } }, select: { id: true }, orderBy: { id: 'asc' } }),
  ],
  [
    'issueSlaStatus.findMany where slaStatus = breached',
    () => prisma.issueSlaStatus.findMany({ where: { slaStatus: 'breached' }, select: { id: true }, orderBy: { id: 'asc' } }),
  ],

  // groupBy and aggregates.
  ['issue.groupBy type', () => prisma.issue.groupBy({ by: ['type'], _count: { _all: true } })],
  [
    'issue.groupBy state, priority',
    () =>
      prisma.issue.groupBy({
        by: ['state', 'priority'],
        _count: { _all: true },
        _avg: { firstResponseHours: true, resolutionHours: true },
        _max: { updatedAt: true },
      }),
  ],
  [
    'message.groupBy issueId, senderType',
    () => prisma.message.groupBy({ by: ['issueId', 'senderType'], _count: { _all: true }, _min: { createdAt: true } }),
  ],
  ['issueSlaStatus.groupBy slaStatus', () => prisma.issueSlaStatus.groupBy({ by: ['slaStatus'], _count: { _all: true } })],
  [
    'issue.aggregate closed',
    () =>
      prisma.issue.aggregate({
        where: { closedAt: { not: null } },
        _count: { _all: true },
        _avg: { resolutionHours: true },
        _max: { closedAt: true },
      }),
  ],

  // "Last synced X minutes ago" and the next sync's watermark: the latest completed SyncLog.
  [
    'syncLog.findFirst latest completed',
    () => prisma.syncLog.findFirst({ where: { status: 'completed' }, orderBy: { startedAt: 'desc' } }),
  ],

  // The destination's SQL function, as the schema's header says to call it.
  [
    '$queryRaw business_hours_between',
    () =>
      prisma.$queryRaw`SELECT id, business_hours_between(created_at, first_response_at) AS hours
                       FROM issues WHERE first_response_at IS NOT NULL ORDER BY id`,
  ],
]

const results = {}
try {
  for (const [name, run] of queries) results[name] = await run()
} finally {
  await prisma.$disconnect()
}
const dataModel = Object.fromEntries(
  models.map((m) => [
    m.name,
    {
      table: m.dbName ?? m.name,
      key: KEYS[m.name],
      fields: m.fields.map((f) => ({ name: f.name, column: f.dbName ?? f.name, kind: f.kind, type: f.type })),
    },
  ]),
)
// BigInt has no JSON form: as its decimal string.
const json = JSON.stringify({ dataModel, results }, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
process.stdout.write(`${json}\n`)
