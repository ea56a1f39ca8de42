/**
 * Helpers of the history bench (bench/history.ts): which weekdays it loads and measures, and how it sums the days up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, weekdaysBefore, weekdayFrom } from '../../bench/history.js';

test('the history bench measures weekdays: the ones before a date skip the weekend, oldest first', () => {
  // 2008-09-29 is a Monday: the two weekdays before it are the Thursday and the Friday.
  assert.deepEqual(weekdaysBefore('2008-09-29', 2), ['2008-09-25', '2008-09-26']);
  assert.deepEqual(weekdaysBefore('2008-09-26', 3), ['2008-09-23', '2008-09-24', '2008-09-25']);
  assert.equal(weekdayFrom('2008-09-27'), '2008-09-29');
  assert.equal(weekdayFrom('2008-09-29'), '2008-09-29');
});

test("the history bench's ratio is the median of the days' ratios, not their mean", () => {
  assert.equal(median([1.57, 1.21, 1.3]), 1.3);
  assert.equal(median([2, 1]), 1.5);
  assert.equal(median([4]), 4);
  // One slow day does not move it.
  assert.equal(median([1.1, 1.2, 9]), 1.2);
});
