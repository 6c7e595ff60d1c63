import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { SshReader, SshWriter } from '../src/protocol/ssh/ssh-wire.js';
import { decodeBase64, encodeBase64 } from '../src/protocol/base64url.js';
import {
  parseAuthorizedKeyLine,
  formatAuthorizedKeyLine,
  parseSshPublicKey,
  encodeSshPublicKey,
  sshFingerprint,
  ed25519PublicKeyBlob,
  p256PublicKeyBlob,
} from '../src/protocol/ssh/ssh-public-key.js';
import { verifySshSignature, parseSshSignature, encodeSshSignature, ed25519SignatureBlob, p256SignatureBlob } from '../src/protocol/ssh/ssh-signature.js';
import { parseSshUserauthRequest, HOSTBOUND_METHOD } from '../src/protocol/ssh/ssh-userauth.js';
import {
  armorSshsig,
  unarmorSshsig,
  parseSshsig,
  encodeSshsig,
  buildSshsigSignedDataForMessage,
  parseSshsigSignedData,
} from '../src/protocol/ssh/sshsig.js';
import { parseSessionBind, verifySessionBind } from '../src/protocol/ssh/session-bind.js';
import { classifySshSignData } from '../src/protocol/ssh/sign-data-guard.js';
import { parseGitObject } from '../src/protocol/ssh/git-object.js';
import { isLatchError } from '../src/util/latch-error.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-codec-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function throwsLatch(fn: () => unknown, code?: string): void {
  assert.throws(fn, (e: unknown) => isLatchError(e, code));
}

test('ssh-wire: property round trip of every type', () => {
  const item = fc.oneof(
    fc.record({ t: fc.constant('byte' as const), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ t: fc.constant('bool' as const), v: fc.boolean() }),
    fc.record({ t: fc.constant('u32' as const), v: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({ t: fc.constant('u64' as const), v: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
    fc.record({ t: fc.constant('str' as const), v: fc.uint8Array({ maxLength: 80 }) }),
    fc.record({ t: fc.constant('mp' as const), v: fc.bigInt({ min: 0n, max: 2n ** 600n }) }),
  );
  fc.assert(
    fc.property(fc.array(item, { maxLength: 12 }), (items) => {
      const w = new SshWriter();
      for (const it of items) {
        if (it.t === 'byte') w.byte(it.v);
        else if (it.t === 'bool') w.bool(it.v);
        else if (it.t === 'u32') w.uint32(it.v);
        else if (it.t === 'u64') w.uint64(it.v);
        else if (it.t === 'str') w.string(it.v);
        else w.mpint(it.v);
      }
      const bytes = w.bytes();
      const r = new SshReader(bytes);
      for (const it of items) {
        if (it.t === 'byte') assert.equal(r.byte(), it.v);
        else if (it.t === 'bool') assert.equal(r.bool(), it.v);
        else if (it.t === 'u32') assert.equal(r.uint32(), it.v);
        else if (it.t === 'u64') assert.equal(r.uint64(), it.v);
        else if (it.t === 'str') assert.deepEqual(r.string(), it.v);
        else assert.equal(r.mpint(), it.v);
      }
      r.expectEnd();
      // Every strict prefix is rejected as truncated (or leaves data to read).
      if (bytes.length > 0) {
        const cut = new SshReader(bytes.subarray(0, bytes.length - 1));
        assert.throws(() => {
          for (const it of items) {
            if (it.t === 'byte') cut.byte();
            else if (it.t === 'bool') cut.bool();
            else if (it.t === 'u32') cut.uint32();
            else if (it.t === 'u64') cut.uint64();
            else if (it.t === 'str') cut.string();
            else cut.mpint();
          }
          cut.expectEnd();
        });
      }
    }),
  );
});

test('ssh-wire: RFC 4251 §5 mpint examples, strictness', () => {
  const hex = (v: bigint) => Buffer.from(new SshWriter().mpint(v).bytes()).toString('hex');
  assert.equal(hex(0n), '00000000');
  assert.equal(hex(0x9a378f9b2e332a7n), '0000000809a378f9b2e332a7');
  assert.equal(hex(0x80n), '000000020080');
  throwsLatch(() => new SshReader(Buffer.from('000000020001', 'hex')).mpint(), 'ssh_malformed'); // redundant 00
  throwsLatch(() => new SshReader(Buffer.from('0000000100', 'hex')).mpint(), 'ssh_malformed'); // zero as 00
  throwsLatch(() => new SshReader(Buffer.from('00000001ff', 'hex')).mpint(), 'ssh_malformed'); // negative
  throwsLatch(() => new SshReader(Uint8Array.of(2)).bool(), 'ssh_malformed');
  throwsLatch(() => new SshReader(Buffer.from('00000005abcd', 'hex')).string(), 'ssh_malformed');
  const r = new SshReader(Uint8Array.of(1, 2));
  r.byte();
  throwsLatch(() => r.expectEnd(), 'ssh_malformed');
});

test('base64: property round trip and strictness', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => assert.deepEqual(decodeBase64(encodeBase64(b)), b)));
  assert.equal(encodeBase64(Buffer.from('hello')), Buffer.from('hello').toString('base64'));
  throwsLatch(() => decodeBase64('QR=='), 'bad_base64'); // non-canonical bits
  throwsLatch(() => decodeBase64('QQ'), 'bad_base64'); // missing padding
  throwsLatch(() => decodeBase64('Q Q=='), 'bad_base64');
});

const keyTypes = [
  ['ed25519', []],
  ['ecdsa', ['-b', '256']],
  ['ecdsa', ['-b', '384']],
  ['ecdsa', ['-b', '521']],
  ['rsa', ['-b', '2048']],
] as const;

for (const [type, extra] of keyTypes) {
  test(`interop with ssh-keygen: ${type} ${extra.join(' ')} key, fingerprint, SSHSIG sign/verify`, async () => {
    const base = path.join(tmp, `${type}${extra.join('')}`);
    execFileSync('ssh-keygen', ['-q', '-t', type, ...extra, '-N', '', '-C', 'me@example', '-f', base]);
    const line = fs.readFileSync(base + '.pub', 'utf8');
    const parsed = parseAuthorizedKeyLine(line);
    assert.equal(parsed.comment, 'me@example');
    assert.deepEqual(encodeSshPublicKey(parsed.key), parsed.blob);
    assert.equal(formatAuthorizedKeyLine(parsed.blob, parsed.comment), line.trim());
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', base + '.pub'], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(sshFingerprint(parsed.blob), fp);

    const message = Buffer.from(`message for ${type}\n`);
    fs.writeFileSync(base + '.msg', message);
    execFileSync('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', base, base + '.msg'], { stdio: 'ignore' });
    const armored = fs.readFileSync(base + '.msg.sig', 'utf8');
    const blob = unarmorSshsig(armored);
    assert.equal(armorSshsig(blob), armored, 'our armor is byte-identical to ssh-keygen');
    const sig = parseSshsig(blob);
    assert.deepEqual(encodeSshsig(sig), blob);
    assert.deepEqual(sig.publicKey, parsed.blob);
    assert.equal(sig.namespace, 'file');
    assert.deepEqual(encodeSshSignature(parseSshSignature(sig.signature)), sig.signature);
    const signed = buildSshsigSignedDataForMessage('file', message, sig.hashAlgorithm);
    assert.equal(classifySshSignData(signed), 'sshsig');
    assert.equal(await verifySshSignature(parsed.blob, sig.signature, signed), true);
    assert.equal(await verifySshSignature(parsed.blob, sig.signature, buildSshsigSignedDataForMessage('git', message, sig.hashAlgorithm)), false);
    const tampered = buildSshsigSignedDataForMessage('file', Buffer.from('other'), sig.hashAlgorithm);
    assert.equal(await verifySshSignature(parsed.blob, sig.signature, tampered), false);
  });
}

test('SSHSIG made by our code verifies with ssh-keygen -Y verify', () => {
  const secret = ed25519.utils.randomSecretKey();
  const pub = ed25519PublicKeyBlob(ed25519.getPublicKey(secret));
  const message = Buffer.from('signed by latch\n');
  const signed = buildSshsigSignedDataForMessage('file', message);
  const armored = armorSshsig(encodeSshsig({ publicKey: pub, namespace: 'file', hashAlgorithm: 'sha512', signature: ed25519SignatureBlob(ed25519.sign(signed, secret)) }));
  const dir = fs.mkdtempSync(path.join(tmp, 'v-'));
  fs.writeFileSync(path.join(dir, 'allowed'), `me@example ${formatAuthorizedKeyLine(pub)}\n`);
  fs.writeFileSync(path.join(dir, 'm.sig'), armored);
  const out = execFileSync('ssh-keygen', ['-Y', 'verify', '-f', path.join(dir, 'allowed'), '-I', 'me@example', '-n', 'file', '-s', path.join(dir, 'm.sig')], { input: message, encoding: 'utf8' });
  assert.match(out, /Good "file" signature for me@example/);
  assert.throws(() => execFileSync('ssh-keygen', ['-Y', 'verify', '-f', path.join(dir, 'allowed'), '-I', 'me@example', '-n', 'file', '-s', path.join(dir, 'm.sig')], { input: 'other', stdio: 'pipe' }));
});

test('SSHSIG armor: property round trip; strict unarmor', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), (b) => assert.deepEqual(unarmorSshsig(armorSshsig(b)), b)));
  const a = armorSshsig(new Uint8Array(200).fill(7));
  assert.deepEqual(unarmorSshsig(a.slice(0, -1)), new Uint8Array(200).fill(7)); // final newline optional
  throwsLatch(() => unarmorSshsig(a.replace('\n', '\n\n')), 'ssh_malformed');
  throwsLatch(() => unarmorSshsig(a.replace('SSH SIGNATURE', 'PGP SIGNATURE')), 'ssh_malformed');
  const lines = a.split('\n');
  throwsLatch(() => unarmorSshsig([lines[0], lines[1]!.slice(0, 60), lines[1]!.slice(60) + lines[2], ...lines.slice(3)].join('\n')), 'ssh_malformed');
});

test('SSHSIG signed data: strict parse', () => {
  const d = buildSshsigSignedDataForMessage('git', Buffer.from('x'), 'sha256');
  assert.equal(parseSshsigSignedData(d).namespace, 'git');
  throwsLatch(() => parseSshsigSignedData(Uint8Array.of(...d, 0)), 'ssh_malformed');
  const badHash = new SshWriter().raw(Buffer.from('SSHSIG')).string('git').string('').string('md5').string(new Uint8Array(16)).bytes();
  throwsLatch(() => parseSshsigSignedData(badHash), 'ssh_malformed');
  const reserved = new SshWriter().raw(Buffer.from('SSHSIG')).string('git').string('x').string('sha256').string(new Uint8Array(32)).bytes();
  throwsLatch(() => parseSshsigSignedData(reserved), 'ssh_malformed');
  const emptyNs = new SshWriter().raw(Buffer.from('SSHSIG')).string('').string('').string('sha256').string(new Uint8Array(32)).bytes();
  throwsLatch(() => parseSshsigSignedData(emptyNs), 'ssh_malformed');
});

test('public keys: strict parsing', () => {
  const sk = p256.utils.randomSecretKey();
  const blob = p256PublicKeyBlob(p256.getPublicKey(sk, true));
  assert.equal(parseSshPublicKey(blob).type, 'ecdsa-sha2-nistp256');
  throwsLatch(() => parseSshPublicKey(Uint8Array.of(...blob, 0)), 'ssh_malformed');
  const offCurve = blob.slice();
  offCurve[offCurve.length - 1]! ^= 1;
  throwsLatch(() => parseSshPublicKey(offCurve), 'ssh_bad_key');
  const wrongCurve = new SshWriter().string('ecdsa-sha2-nistp256').string('nistp384').string(p256.getPublicKey(sk, false)).bytes();
  throwsLatch(() => parseSshPublicKey(wrongCurve), 'ssh_bad_key');
  throwsLatch(() => parseSshPublicKey(new SshWriter().string('ssh-dss').bytes()), 'ssh_unsupported_key');
  throwsLatch(() => parseSshPublicKey(new SshWriter().string('ssh-ed25519').string(new Uint8Array(31)).bytes()), 'ssh_bad_key');
  const ed = ed25519PublicKeyBlob(new Uint8Array(32).fill(1));
  throwsLatch(() => parseAuthorizedKeyLine(`ecdsa-sha2-nistp256 ${encodeBase64(ed)} x`), 'ssh_bad_key');
});

test('signatures: raw helpers verify; wrong key type and tampering fail', async () => {
  const esk = ed25519.utils.randomSecretKey();
  const eblob = ed25519PublicKeyBlob(ed25519.getPublicKey(esk));
  const psk = p256.utils.randomSecretKey();
  const pblob = p256PublicKeyBlob(p256.getPublicKey(psk));
  const data = Buffer.from('data');
  const esig = ed25519SignatureBlob(ed25519.sign(data, esk));
  const psig = p256SignatureBlob(p256.sign(data, psk));
  assert.equal(await verifySshSignature(eblob, esig, data), true);
  assert.equal(await verifySshSignature(pblob, psig, data), true);
  assert.equal(await verifySshSignature(pblob, esig, data), false);
  assert.equal(await verifySshSignature(eblob, psig, data), false);
  assert.equal(await verifySshSignature(eblob, esig, Buffer.from('datA')), false);
  throwsLatch(() => parseSshSignature(new SshWriter().string('ssh-rsa').string(new Uint8Array(256)).bytes()), 'ssh_unsupported_signature');
  throwsLatch(() => parseSshSignature(new SshWriter().string('ecdsa-sha2-nistp256').string(new SshWriter().mpint(0n).mpint(1n).bytes()).bytes()), 'ssh_bad_signature');
});

function userauth(method: string, keyBlob: Uint8Array, hostKey?: Uint8Array): Uint8Array {
  const w = new SshWriter().string(new Uint8Array(32).fill(9)).byte(50).string('me').string('ssh-connection').string(method).bool(true).string('ssh-ed25519').string(keyBlob);
  if (hostKey) w.string(hostKey);
  return w.bytes();
}

test('userauth: publickey and hostbound parse; variants rejected', () => {
  const key = ed25519PublicKeyBlob(new Uint8Array(32).fill(3));
  const host = ed25519PublicKeyBlob(new Uint8Array(32).fill(4));
  const u = parseSshUserauthRequest(userauth('publickey', key));
  assert.equal(u.user, 'me');
  assert.equal(u.service, 'ssh-connection');
  assert.deepEqual(u.keyBlob, key);
  assert.equal(u.hostKeyBlob, undefined);
  const h = parseSshUserauthRequest(userauth(HOSTBOUND_METHOD, key, host));
  assert.deepEqual(h.hostKeyBlob, host);
  throwsLatch(() => parseSshUserauthRequest(userauth(HOSTBOUND_METHOD, key)), 'ssh_malformed');
  throwsLatch(() => parseSshUserauthRequest(userauth('publickey', key, host)), 'ssh_malformed');
  throwsLatch(() => parseSshUserauthRequest(userauth('password', key)), 'ssh_malformed');
  const noFlag = userauth('publickey', key);
  noFlag[32 + 4 + 1 + 4 + 2 + 4 + 14 + 4 + 9] = 0;
  throwsLatch(() => parseSshUserauthRequest(noFlag), 'ssh_malformed');
  assert.equal(classifySshSignData(userauth('publickey', key)), 'userauth');
});

test('cross-protocol guard: random data and near-misses are not SSH data', () => {
  throwsLatch(() => classifySshSignData(new Uint8Array(32)), 'not_ssh_data');
  throwsLatch(() => classifySshSignData(Buffer.from('FLOW-V0.0-transaction')), 'not_ssh_data');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        classifySshSignData(b);
      } catch (e) {
        assert.ok(isLatchError(e, 'not_ssh_data'));
      }
    }),
  );
  // Every truncation of a valid request is refused.
  const good = userauth('publickey', ed25519PublicKeyBlob(new Uint8Array(32).fill(3)));
  for (let i = 0; i < good.length; i++) throwsLatch(() => classifySshSignData(good.subarray(0, i)), 'not_ssh_data');
});

test('session-bind: verifies the host signature over the session id', async () => {
  const sk = ed25519.utils.randomSecretKey();
  const host = ed25519PublicKeyBlob(ed25519.getPublicKey(sk));
  const sid = new Uint8Array(32).fill(5);
  const sig = ed25519SignatureBlob(ed25519.sign(sid, sk));
  const contents = new SshWriter().string(host).string(sid).string(sig).bool(false).bytes();
  const bind = parseSessionBind(contents);
  assert.equal(bind.isForwarding, false);
  assert.equal(await verifySessionBind(bind), true);
  const bad = sig.slice();
  bad[bad.length - 1]! ^= 1;
  assert.equal(await verifySessionBind(parseSessionBind(new SshWriter().string(host).string(sid).string(bad).bool(false).bytes())), false);
  throwsLatch(() => parseSessionBind(Uint8Array.of(...contents, 0)), 'ssh_malformed');
});

test('git objects: parse real commit and tag from git; reject mis-attribution', () => {
  const repo = fs.mkdtempSync(path.join(tmp, 'git-'));
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, ...a], { encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'Ann', GIT_AUTHOR_EMAIL: 'ann@example', GIT_COMMITTER_NAME: 'Bob', GIT_COMMITTER_EMAIL: 'bob@example' } });
  git('init', '-q');
  git('commit', '-q', '--allow-empty', '-m', 'first');
  git('commit', '-q', '--allow-empty', '-m', 'second\n\nbody line');
  git('tag', '-a', '-m', 'release 1', 'v1');
  const c = parseGitObject(Buffer.from(git('cat-file', 'commit', 'HEAD')));
  assert.equal(c.kind, 'commit');
  assert.equal(c.parents.length, 1);
  assert.match(c.author!, /^Ann <ann@example> \d+ [+-]\d{4}$/);
  assert.match(c.committer!, /^Bob <bob@example>/);
  assert.equal(c.message, 'second\n\nbody line\n');
  const t = parseGitObject(git('cat-file', 'tag', 'v1'));
  assert.equal(t.kind, 'tag');
  assert.equal(t.tag, 'v1');
  assert.equal(t.type, 'commit');
  assert.match(t.tagger!, /^Bob <bob@example>/);
  const tree = c.tree!;
  const base = `tree ${tree}\nauthor A <a@x> 1 +0000\ncommitter C <c@x> 1 +0000\n`;
  assert.deepEqual(parseGitObject(base + 'encoding ISO-8859-1\nmergetag object x\n type commit\n\nmsg\n').extraHeaders, ['encoding', 'mergetag']);
  throwsLatch(() => parseGitObject(base + 'author Evil <e@x> 1 +0000\n\nmsg\n'), 'git_object_malformed');
  throwsLatch(() => parseGitObject(`tree ${tree}\ncommitter C <c@x> 1 +0000\nauthor A <a@x> 1 +0000\n\nm\n`), 'git_object_malformed');
  throwsLatch(() => parseGitObject(base + 'gpgsig x\n y\nparent ' + tree + '\n\nm\n'), 'git_object_malformed');
  throwsLatch(() => parseGitObject('blob\n\nx'), 'git_object_malformed');
  // A continuation line never becomes a field.
  const cont = parseGitObject(base + 'mergetag object x\n author Evil <e@x>\n\nm\n');
  assert.equal(cont.author, 'A <a@x> 1 +0000');
});

test('git idents on the review are shown with a readable time in their own zone', async () => {
  const { gitIdent } = await import('../src/authenticator/ssh-sign-core.js');
  assert.equal(gitIdent('Ann Author <ann@example.com> 1795443186 +0000'), 'Ann Author <ann@example.com>, 2026-11-23 14:13:06 +0000');
  assert.equal(gitIdent('B <b@x> 0 -0130'), 'B <b@x>, 1969-12-31 22:30:00 -0130');
  assert.equal(gitIdent('C <c@x> 1700000000 +0545'), 'C <c@x>, 2023-11-15 03:58:20 +0545');
  assert.equal(gitIdent('no time here'), 'no time here');
  assert.equal(gitIdent(undefined), '?');
});
