/** The searchable fields of a message and the highlight of a hit (snippet and ranges), and the query's words. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { highlight, searchableFields } from '../../src/search/text.ts';
import { parseDate, queryTerms } from '../../src/search/service.ts';
import { AppError } from '../../src/domain/errors.ts';

const marked = (h: ReturnType<typeof highlight>) => h && h.ranges.map(([a, b]) => h.text.slice(a, b));

describe('search text', () => {
  it('takes the text fields of each content shape, none of system messages', () => {
    assert.deepEqual(searchableFields(1, { text: 'hi', mentions: ['a'] }), [['text', 'hi']]);
    assert.deepEqual(searchableFields(1000, { storageId: 's', fileName: 'report.pdf', fileSize: 1 }), [['fileName', 'report.pdf']]);
    assert.deepEqual(searchableFields(4, { title: 'T', content: 'C', url: 'u' }), [['title', 'T'], ['content', 'C']]);
    assert.deepEqual(searchableFields(19, { type: 1, content: { text: 'fwd' } }), [['content.text', 'fwd']]);
    assert.deepEqual(searchableFields(18, { user_id: 'u', name: 'Dr Li', title: 'GP' }), [['title', 'GP'], ['name', 'Dr Li']]);
    assert.deepEqual(searchableFields(0, { text: 'system' }), []);
    assert.deepEqual(searchableFields(1, null), []);
  });

  it('highlights every word, case folded, merging overlaps', () => {
    const h = highlight(1, { text: 'Rash on the arm; the RASH spreads' }, ['rash', 'arm']);
    assert.deepEqual(h, { field: 'text', text: 'Rash on the arm; the RASH spreads', ranges: [[0, 4], [12, 15], [21, 25]] });
    assert.deepEqual(marked(highlight(1, { text: '患者出现皮疹和发热' }, ['皮疹', '疹和'])), ['皮疹和']);
    assert.deepEqual(marked(highlight(1000, { storageId: 's', fileName: 'lab_report.pdf', fileSize: 1 }, ['report'])), ['report']);
    assert.equal(highlight(1, { text: 'nothing here' }, ['rash']), null);
  });

  it('cuts long text to a snippet around the first match, with ellipses, ranges shifted', () => {
    const text = `${'前'.repeat(100)}皮疹${'后'.repeat(300)}`;
    const h = highlight(1, { text }, ['皮疹'])!;
    assert.ok(h.text.startsWith('…') && h.text.endsWith('…'));
    assert.equal(h.text.length, 1 + 160 + 1);
    assert.deepEqual(marked(h), ['皮疹']);
    // Characters outside the BMP are never cut in two.
    const emoji = `${'😀'.repeat(40)}rash`;
    const e = highlight(1, { text: emoji }, ['rash'])!;
    assert.ok(!/^…[\uDC00-\uDFFF]/.test(e.text));
    assert.deepEqual(marked(e), ['rash']);
  });

  it('query words: split at spaces (any), repeats and 1-character words left out; limits coded', () => {
    assert.deepEqual(queryTerms('  皮疹　发热 rash rash a '), ['皮疹', '发热', 'rash']);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as AppError).code;
      }
      return null;
    };
    assert.equal(code(() => queryTerms('')), 'search.query_empty');
    assert.equal(code(() => queryTerms(undefined)), 'search.query_empty');
    assert.equal(code(() => queryTerms('a 痛')), 'search.query_too_short');
    assert.equal(code(() => queryTerms('字'.repeat(201))), 'search.query_too_long');
    assert.equal(queryTerms('字'.repeat(200)).length, 1);
    assert.equal(parseDate('1700000000000', 'from'), 1_700_000_000_000);
    assert.equal(parseDate('2024-03-01', 'from'), Date.UTC(2024, 2, 1));
    assert.equal(parseDate('2024-03-01T08:00:00+08:00', 'to'), Date.UTC(2024, 2, 1));
    assert.equal(code(() => parseDate('2024-02-30x', 'to')), 'search.date_invalid');
    assert.equal(code(() => parseDate('-5', 'to')), 'search.date_invalid');
  });
});
