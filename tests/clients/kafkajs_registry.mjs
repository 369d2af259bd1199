// @kafkajs/confluent-schema-registry (4.1.0) against a running Tributary.
//
// Usage: node kafkajs_registry.mjs http://127.0.0.1:PORT
// Registers, looks up, encodes and decodes Avro and JSON Schema; exits non-zero with a
// message on the first mismatch.

import assert from 'node:assert/strict'

let pkg
try {
  pkg = (await import('@kafkajs/confluent-schema-registry')).default
} catch (error) {
  console.error(`MISSING PACKAGE: @kafkajs/confluent-schema-registry (${error.message}): run npm ci in tests/clients`)
  process.exit(2)
}
const { SchemaRegistry, SchemaType } = pkg

const host = process.argv[2]
const registry = new SchemaRegistry({ host })

// Avro: register (the client first probes GET /config/{subject}, expecting 404 when unset),
// register again (same id), look up, encode, decode.
const user = {
  type: 'record', name: 'User', namespace: 'js',
  fields: [{ name: 'name', type: 'string' }, { name: 'age', type: 'int', default: 0 }],
}
const avro = { type: SchemaType.AVRO, schema: JSON.stringify(user) }
const { id } = await registry.register(avro, { subject: 'js-users-value' })
assert.ok(Number.isInteger(id) && id >= 1, `id ${id}`)
assert.equal((await registry.register(avro, { subject: 'js-users-value' })).id, id)
const fresh = new SchemaRegistry({ host })
assert.equal(await fresh.getLatestSchemaId('js-users-value'), id)
assert.equal(await fresh.getRegistryIdBySchema('js-users-value', avro), id)
const encoded = await registry.encode(id, { name: 'ann', age: 7 })
assert.equal(encoded[0], 0, 'magic byte')
assert.equal(encoded.readInt32BE(1), id, 'schema id in the frame')
assert.deepEqual({ ...(await fresh.decode(encoded)) }, { name: 'ann', age: 7 })

// Incompatible change: the registry answers 409 and the client reports it.
const breaking = { ...user, fields: [...user.fields, { name: 'email', type: 'string' }] }
await assert.rejects(
  registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(breaking) }, { subject: 'js-users-value' }),
  (error) => { assert.equal(error.status, 409, String(error)); return true },
)
await assert.rejects(fresh.getLatestSchemaId('js-nobody'), (error) => error.status === 404)

// JSON Schema: register, encode (validated), decode through a fresh client.
const click = {
  $schema: 'http://json-schema.org/draft-07/schema#', title: 'Click', type: 'object',
  properties: { url: { type: 'string' }, n: { type: 'integer' } }, required: ['url'],
}
const json = { type: SchemaType.JSON, schema: JSON.stringify(click) }
const clickId = (await registry.register(json, { subject: 'js-clicks-value' })).id
assert.notEqual(clickId, id)
const jsonEncoded = await registry.encode(clickId, { url: 'https://x', n: 3 })
assert.equal(jsonEncoded.readInt32BE(1), clickId)
assert.deepEqual(await new SchemaRegistry({ host }).decode(jsonEncoded), { url: 'https://x', n: 3 })
await assert.rejects(registry.encode(clickId, { n: 'not a number' }))

console.log('@kafkajs/confluent-schema-registry: all checks passed')
