/**
 * cleanLine (sign-review.ts): what a computer or a custody peer sent is shown on a card, a
 * terminal and a log without controls or format characters, so a git author or user name can
 * neither drive the terminal nor reorder or hide text (Unicode bidi controls, "Trojan Source").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cleanLine } from '../src/authenticator/sign-review.js';

const FORBIDDEN = /[\p{Cc}\p{Cf}]/u;

/** The characters the review named, and their neighbours in the control and format ranges. */
const NAMED = [
  ...'\u202a\u202b\u202c\u202d\u202e', // embeddings and overrides
  ...'\u2066\u2067\u2068\u2069', // isolates
  ...'\u200e\u200f\u061c', // marks
  ...'\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad', // zero-width and invisible
  ...'\x00\x07\x09\x0a\x0d\x1b\x7f\x85\x9b', // C0, DEL, C1
  '\u{e0041}', // a tag character (Cf, astral)
];

test('cleanLine: every named bidi, zero-width and control character is replaced by something visible', () => {
  for (const c of NAMED) {
    const out = cleanLine(`a${c}b`);
    assert.equal(FORBIDDEN.test(out), false, `U+${c.codePointAt(0)!.toString(16)}`);
    assert.equal(out.length, 3, `one visible character for U+${c.codePointAt(0)!.toString(16)}`);
  }
  // The classic: an override that makes "txt.exe" read as "exe.txt".
  assert.equal(cleanLine('Ann \u202eevil\u202c <ann@example.com>'), 'Ann ?evil? <ann@example.com>');
  assert.equal(cleanLine('a\tb'), 'a b');
  // Ordinary text, including right-to-left scripts and emoji, is left as it is.
  for (const s of ['Ann Author <ann@example.com>', 'שלום עולם', 'مرحبا', 'Zoë 😀 naïve', '日本語']) assert.equal(cleanLine(s), s);
});

test('property: cleanLine never outputs a character of category Cc or Cf, and keeps every other character', () => {
  const interesting = fc.constantFrom(...NAMED, 'a', ' ', 'é', '\u05d0', '😀', '\u2028', '\u0600', '\u180e', '\ufff9');
  const anyChar = fc.oneof(fc.integer({ min: 0, max: 0x10ffff }).map((n) => String.fromCodePoint(n)), fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)), interesting);
  fc.assert(
    fc.property(fc.array(anyChar, { maxLength: 60 }).map((a) => a.join('')), (s) => {
      const out = cleanLine(s);
      assert.equal(FORBIDDEN.test(out), false, JSON.stringify(out));
      // Safe characters survive in place: only unsafe ones are swapped, one for one.
      const inChars = [...s];
      const outChars = [...out];
      assert.equal(outChars.length, inChars.length);
      inChars.forEach((c, i) => {
        if (!/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(c)) assert.equal(outChars[i], c);
      });
    }),
    { numRuns: 2000 },
  );
});
