/**
 * The private PostgreSQL the custody-on-PostgreSQL tests stop and kill (test/helpers/private-postgres.ts):
 * committed data survives a kill -9 and a restart on the same URL, it is really down while
 * stopped, its folder goes with it, and the machine's own server on 5432 is not it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { startPrivatePostgres, type PrivatePostgres } from './helpers/private-postgres.js';

let pg: PrivatePostgres | undefined;
after(() => pg?.destroy());

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

test('start, kill -9, restart, stop: committed rows survive, the URL stays, the folder is removed', async () => {
  pg = await startPrivatePostgres();
  assert.match(pg.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  assert.notEqual(pg.port, 5432);
  const url = pg.url;
  assert.equal(await pg.query('SELECT current_setting(\'fsync\')'), 'on');
  await pg.query('CREATE TABLE t (v int)');
  await pg.query('INSERT INTO t VALUES (1), (2)');

  await pg.kill9();
  assert.equal(pg.running, false);
  assert.equal(await accepts(pg.port), false, 'nothing listens while it is down');
  await pg.start();
  assert.equal(pg.url, url);
  assert.equal(await pg.query('SELECT sum(v) FROM t'), '3');

  await pg.restart();
  await pg.query('INSERT INTO t VALUES (3)');
  await pg.stop();
  assert.equal(await accepts(pg.port), false);
  await assert.rejects(pg.query('SELECT 1'), /psql/);
  await pg.start();
  assert.equal(await pg.query('SELECT sum(v) FROM t'), '6');

  const dir = (await pg.query('SHOW data_directory')).replace(/\/data$/, '');
  await pg.destroy();
  assert.equal(existsSync(dir), false, 'its temp folder is gone');
  pg = undefined;
});
