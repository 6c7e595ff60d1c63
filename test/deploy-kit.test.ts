/**
 * Issue 17, deploy/: the shipped Caddyfile, systemd unit and nginx example are checked by their
 * own tools (caddy validate, systemd-analyze verify/security, nginx -t), and `latch server`
 * runs behind the real proxies on loopback (Caddy with its internal CA, nginx with a test CA):
 * the CLI and the web authenticator in Chromium pair through them, WebSocket included.
 * The files are used as shipped; only the domain, ports and certificate paths are swapped in.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLatchServer, tempDir, type LatchServer } from './helpers/latch-process.js';
import { CHROMIUM_SKIP, REPO_ROOT } from './helpers/web-browser.js';
import { freePort } from './helpers/sshd.js';
import { issueTestCert, makeTestCa } from './helpers/test-tls.js';
import { pairWebOverHttps } from './helpers/web-pair-https.js';

const DEPLOY = join(REPO_ROOT, 'deploy');
const CADDY = spawnSync('caddy', ['version']).error ? 'caddy is not installed (apt-get install caddy; .ci/run does)' : false;
const NGINX = existsSync('/usr/sbin/nginx') ? false : 'nginx is not installed (apt-get install nginx-light; .ci/run does)';
const SYSTEMD_ANALYZE = spawnSync('systemd-analyze', ['--version']).error ? 'systemd-analyze is not installed (package systemd)' : false;

const children: ChildProcess[] = [];
const servers: LatchServer[] = [];
after(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM'); // nginx and caddy both shut down fast on SIGTERM
    await gone;
  }
  for (const s of servers) await s.stop().catch(() => undefined);
});

/** `text` with each [from, to] replaced everywhere; a missing `from` fails loudly (the shipped file changed). */
function swap(text: string, pairs: [string, string][]): string {
  let out = text;
  for (const [from, to] of pairs) {
    assert.ok(out.includes(from), `the shipped file no longer contains ${from}`);
    out = out.split(from).join(to);
  }
  return out;
}

/** Start `cmd args`, resolve once `ready` matches its stderr. */
function startUntil(cmd: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer): void => {
      log += c.toString('utf8');
      if (ready.test(log)) {
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        resolve(child);
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.resume();
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before ${ready}:\n${log}`)));
  });
}

test('deploy/Caddyfile: caddy validate accepts it, and it proxies to the loopback latch server', { skip: CADDY }, () => {
  const text = readFileSync(join(DEPLOY, 'Caddyfile'), 'utf8');
  assert.match(text, /^relay\.example\.com \{\n\treverse_proxy 127\.0\.0\.1:8470 \{/m);
  const r = spawnSync('caddy', ['validate', '--config', join(DEPLOY, 'Caddyfile'), '--adapter', 'caddyfile'], { encoding: 'utf8', env: { ...process.env, HOME: tempDir('caddy-home'), XDG_DATA_HOME: tempDir('caddy-data'), XDG_CONFIG_HOME: tempDir('caddy-cfg') } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Valid configuration/);
});

test('deploy/latch.service: systemd-analyze verify is silent; security rates it OK; no MemoryDenyWriteExecute (V8 JIT)', { skip: SYSTEMD_ANALYZE }, () => {
  const text = readFileSync(join(DEPLOY, 'latch.service'), 'utf8');
  for (const line of ['DynamicUser=yes', 'StateDirectory=latch', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'ExecReload=/bin/kill -HUP $MAINPID']) {
    assert.match(text, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  }
  assert.match(text, /^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$/m);
  assert.match(text, /^ExecStart=\/usr\/bin\/node \/opt\/latch\/dist\/src\/cli\/main\.js server --listen 127\.0\.0\.1:8470 --trusted-proxy 127\.0\.0\.1 --data \/var\/lib\/latch /m);
  assert.doesNotMatch(text, /^MemoryDenyWriteExecute=/m);

  // Verified as installed: node where this machine has it (verify checks the executable exists).
  const unit = join(tempDir('unit'), 'latch.service');
  writeFileSync(unit, swap(text, [['/usr/bin/node', process.execPath]]));
  const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings (systemd-analyze exits 0 even for unknown keys)');
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], { encoding: 'utf8' });
  assert.equal(security.status, 0, security.stderr);
  const exposure = /Overall exposure level for latch\.service: ([0-9.]+) (\w+)/.exec(security.stdout);
  assert.ok(exposure, security.stdout.slice(-500));
  assert.ok(Number(exposure[1]) <= 2, `exposure ${exposure[1]} ${exposure[2]}`);
});

/** The nginx example inside a test main config: loopback ports, test certificate, temp paths. */
function nginxTestConfig(dir: string, ports: { http: number; https: number; latch: number }, cert: { certFile: string; keyFile: string }): string {
  const site = swap(readFileSync(join(DEPLOY, 'nginx', 'latch.conf'), 'utf8'), [
    ['listen 80;', `listen 127.0.0.1:${ports.http};`],
    ['listen [::]:80;\n', ''],
    ['listen 443 ssl;', `listen 127.0.0.1:${ports.https} ssl;`],
    ['listen [::]:443 ssl;\n', ''],
    ['server_name relay.example.com;', 'server_name localhost;'],
    ['/etc/letsencrypt/live/relay.example.com/fullchain.pem', cert.certFile],
    ['/etc/letsencrypt/live/relay.example.com/privkey.pem', cert.keyFile],
    ['127.0.0.1:8470', `127.0.0.1:${ports.latch}`],
  ]);
  writeFileSync(join(dir, 'latch.conf'), site);
  chmodSync(dir, 0o777); // worker processes (nobody) write temp files here
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      `pid ${dir}/nginx.pid;`,
      'daemon off;',
      'error_log stderr notice;',
      'events { worker_connections 256; }',
      'http {',
      '    access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${dir}/${t};`),
      `    include ${dir}/latch.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  return conf;
}

test('deploy/nginx/latch.conf: nginx -t accepts it (test prefix, test certificate)', { skip: NGINX }, async () => {
  const dir = tempDir('nginx-t');
  const ca = makeTestCa(dir);
  const conf = nginxTestConfig(dir, { http: await freePort(), https: await freePort(), latch: 8470 }, issueTestCert(ca, 'site'));
  const r = spawnSync('nginx', ['-t', '-p', dir, '-c', conf], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /test is successful/);
  const text = readFileSync(join(DEPLOY, 'nginx', 'latch.conf'), 'utf8');
  assert.match(text, /proxy_set_header Upgrade \$http_upgrade;/);
  assert.match(text, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
});

test('behind Caddy (shipped Caddyfile, internal CA on loopback): latch pair and the web authenticator pair through it, WebSocket included', { skip: CADDY || CHROMIUM_SKIP }, async () => {
  const port = await freePort();
  const url = `https://localhost:${port}`;
  const server = await startLatchServer({ args: ['--trusted-proxy', '127.0.0.1', '--public-url', url] });
  servers.push(server);
  const dir = tempDir('caddy');
  const caddyfile = join(dir, 'Caddyfile');
  // Global options for a sandboxed run: no admin API, Caddy's own CA (never installed into the
  // system trust store), no port-80 redirect listener. The site block is the shipped one.
  const site = swap(readFileSync(join(DEPLOY, 'Caddyfile'), 'utf8'), [
    ['relay.example.com {', `localhost:${port} {`],
    ['127.0.0.1:8470', `127.0.0.1:${server.port}`],
  ]);
  writeFileSync(caddyfile, `{\n\tadmin off\n\tskip_install_trust\n\tlocal_certs\n\tauto_https disable_redirects\n}\n\n${site}`);
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
  await startUntil('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], /certificate obtained successfully/, env);
  const root = join(dir, 'data', 'caddy', 'pki', 'authorities', 'local', 'root.crt');

  const web = await pairWebOverHttps(url, root);
  try {
    assert.equal(await web.reachable(), true, 'the page answers `me` through Caddy');
  } finally {
    await web.close();
  }
});

test('behind nginx (shipped example, test CA on loopback): latch pair and the web authenticator pair through it, WebSocket included', { skip: NGINX || CHROMIUM_SKIP }, async () => {
  const ports = { http: await freePort(), https: await freePort(), latch: 0 };
  const url = `https://localhost:${ports.https}`;
  const server = await startLatchServer({ args: ['--trusted-proxy', '127.0.0.1', '--public-url', url] });
  servers.push(server);
  ports.latch = server.port;
  const dir = tempDir('nginx');
  const ca = makeTestCa(dir);
  const conf = nginxTestConfig(dir, ports, issueTestCert(ca, 'site'));
  await startUntil('nginx', ['-p', dir, '-c', conf], /start worker process/);

  const web = await pairWebOverHttps(url, ca.certFile);
  try {
    assert.equal(await web.reachable(), true, 'the page answers `me` through nginx');
  } finally {
    await web.close();
  }
});
