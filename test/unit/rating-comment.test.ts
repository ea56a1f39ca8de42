/**
 * A rating's comment before it reaches Temporal: cleaned and capped (500 characters, control characters removed),
 * sealed for one appointment (so neither the history nor another appointment's workflow can read it), and the
 * invitation's reference, signed for the chat it was sent to.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createReplyRef, parseReplyRef } from '../../src/bot/callback-data.js';
import { cleanComment, COMMENT_MAX_CHARS, openComment, sealComment } from '../../src/bot/comment.js';
import { commentsOn, simulatedComment } from '../../src/bot/simulator.js';
import { SEALED_COMMENT_MAX_CHARS } from '../../src/domain/rating-requests.js';

const SECRET = 'unit-comment-secret-0123456789abcdef';

describe('rating comment', () => {
  test('control characters are removed and a long comment is cut to 500 characters (code points)', () => {
    assert.deepEqual(cleanComment('  Bom\u0007 médico\u0000,\r\nobrigado\u202e!\t '), {
      text: 'Bom médico,\nobrigado!',
      truncated: false,
    });
    const long = cleanComment('😀'.repeat(600));
    assert.equal(long.truncated, true);
    assert.equal([...long.text].length, COMMENT_MAX_CHARS);
    assert.equal(cleanComment('a'.repeat(500)).truncated, false);
  });

  test('a sealed comment opens only for its appointment and secret, and fits the workflow’s bound', () => {
    const text = '😀'.repeat(COMMENT_MAX_CHARS);
    const sealed = sealComment(text, 42, SECRET);
    assert.ok(!sealed.includes('😀'));
    assert.ok(sealed.length <= SEALED_COMMENT_MAX_CHARS, `${sealed.length} > ${SEALED_COMMENT_MAX_CHARS}`);
    assert.equal(openComment(sealed, 42, SECRET), text);
    assert.equal(openComment(sealed, 43, SECRET), undefined);
    assert.equal(openComment(sealed, 42, `${SECRET}x`), undefined);
    const altered = `${sealed.slice(0, 20)}${sealed[20] === 'A' ? 'B' : 'A'}${sealed.slice(21)}`;
    assert.equal(openComment(altered, 42, SECRET), undefined);
  });

  test('the invitation’s reference is verified for the chat it was sent to', () => {
    const ref = createReplyRef(42, 1001, SECRET);
    assert.match(ref, /^ref\. 42-[\w-]{12}$/);
    assert.equal(parseReplyRef(`Obrigado!\n\n${ref}`, 1001, SECRET), 42);
    assert.equal(parseReplyRef(`Obrigado!\n\n${ref}`, 1002, SECRET), undefined);
    assert.equal(parseReplyRef(`Obrigado!\n\n${ref.replace('42-', '43-')}`, 1001, SECRET), undefined);
    assert.equal(parseReplyRef('How was your visit?', 1001, SECRET), undefined);
    assert.equal(parseReplyRef(undefined, 1001, SECRET), undefined);
  });

  test('simulated patients comment on about commentShare of their ratings, the same ones for a seed', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => i + 1);
    const picked = ids.filter((id) => commentsOn({ seed: 7 }, id, 1000 + id));
    assert.ok(Math.abs(picked.length / ids.length - 0.25) < 0.03, `share ${picked.length / ids.length}`);
    assert.deepEqual(
      ids.filter((id) => commentsOn({ seed: 7 }, id, 1000 + id)),
      picked,
    );
    assert.equal(ids.filter((id) => commentsOn({ seed: 7, commentShare: 0 }, id, 1000 + id)).length, 0);
    assert.equal(simulatedComment(7, 1, 2, 5, true), simulatedComment(7, 1, 2, 5, true));
  });
});
