// ioredis against a real deltakv-server (started by run.sh): the commands of
// docs/resp.md through a popular Node client, pipelining included, once over
// RESP3 (ioredis's default: HELLO 3 AUTH ...) and once over RESP2 (AUTH).
// Exits non-zero on the first mismatch.
'use strict';
const assert = require('node:assert/strict');
const Redis = require('ioredis');

const port = Number(process.argv[2]);
const token = process.argv[3];

async function check(protocol) {
  const r = new Redis({ port, host: '127.0.0.1', password: token, protocol,
                        keyPrefix: `p${protocol}:`, lazyConnect: true,
                        maxRetriesPerRequest: 1, connectionName: 'node-check' });
  await r.connect();
  assert.equal(await r.ping(), 'PONG');
  assert.equal(await r.client('GETNAME'), 'node-check');

  // Counters.
  assert.equal(await r.incr('n'), 1);
  assert.equal(await r.incrby('n', 9), 10);
  assert.equal(await r.decrby('n', 3), 7);
  assert.equal(await r.get('n'), '7');

  // Registers.
  assert.equal(await r.set('greeting', 'héllo'), 'OK');
  assert.equal(await r.get('greeting'), 'héllo');
  assert.equal(await r.mset('a', '1', 'b', '2'), 'OK');
  assert.deepEqual(await r.mget('a', 'b', 'missing'), ['1', '2', null]);
  const bin = Buffer.from([0xff, 0x00, 0x80, 0x0d, 0x0a]);
  await r.set('bin', bin);
  assert.ok((await r.getBuffer('bin')).equals(bin));
  await assert.rejects(r.set('a', 'v', 'EX', 10), /no TTL/);

  // Sets.
  assert.equal(await r.sadd('s', 'x', 'y', 'z'), 3);
  assert.equal(await r.srem('s', 'z'), 1);
  assert.deepEqual((await r.smembers('s')).sort(), ['x', 'y']);
  assert.equal(await r.scard('s'), 2);
  assert.equal(await r.sismember('s', 'x'), 1);
  assert.deepEqual(await r.smismember('s', 'x', 'q'), [1, 0]);

  // Lists.
  assert.equal(await r.rpush('l', 'b', 'c'), 2);
  assert.equal(await r.lpush('l', 'a'), 3);
  assert.equal(await r.linsert('l', 'AFTER', 'c', 'd'), 4);
  assert.deepEqual(await r.lrange('l', 0, -1), ['a', 'b', 'c', 'd']);
  assert.equal(await r.llen('l'), 4);
  assert.equal(await r.lindex('l', -1), 'd');

  // Keys, and a full SCAN through ioredis's stream (cursors followed).
  assert.equal(await r.type('s'), 'set');
  assert.equal(await r.exists('n', 's', 'missing'), 2);
  for (let i = 0; i < 50; i++) await r.set(`scan:${i}`, 'v');
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const stream = r.scanStream({ match: `p${protocol}:scan:*`, count: 7 });
    stream.on('data', (keys) => keys.forEach((k) => seen.add(k)));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  assert.equal(seen.size, 50);
  assert.equal(await r.del('a', 'b', 'missing'), 2);

  // Type clashes and refusals.
  await assert.rejects(r.incr('greeting'), /^ReplyError: WRONGTYPE/);
  await assert.rejects(r.lpop('l'), /does not fit a CRDT store/);
  await assert.rejects(r.setnx('k', 'v'), /does not fit a CRDT store/);
  await assert.rejects(r.flushall(), /does not fit a CRDT store/);

  // A pipeline of 200 writes and reads, answered in order.
  const p = r.pipeline();
  for (let i = 0; i < 200; i++) p.incr('piped');
  p.get('piped');
  const results = await p.exec();
  results.forEach(([err], i) => assert.equal(err, null, `pipeline ${i}`));
  for (let i = 0; i < 200; i++) assert.equal(results[i][1], i + 1);
  assert.equal(results[200][1], '200');

  // WAIT: one region (this one) has every write.
  assert.equal(await r.wait(1, 1000), 1);
  assert.match(await r.info('replication'), /role:master/);

  // Without the token: NOAUTH (over RESP3 already for HELLO).
  const anon = new Redis({ port, host: '127.0.0.1', protocol,
                           lazyConnect: true, enableReadyCheck: false,
                           maxRetriesPerRequest: 0, retryStrategy: () => null });
  const errors = [];
  anon.on('error', (e) => errors.push(String(e)));
  if (protocol === 3) {
    // HELLO 3 without AUTH is refused: ioredis reports it and gives up.
    await assert.rejects(anon.connect());
    assert.ok(errors.some((e) => /NOAUTH/.test(e)), errors.join('; '));
  } else {
    await anon.connect();
    await assert.rejects(anon.get('n'), /NOAUTH/);
  }
  anon.disconnect();

  await r.quit();
  console.log(`resp_node: ioredis checks passed over RESP${protocol}`);
}

async function main() {
  await check(3);
  await check(2);
}

main().catch((e) => {
  console.error('resp_node: FAIL:', e);
  process.exit(1);
});
