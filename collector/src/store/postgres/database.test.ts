import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { translateSql } from './database.js';

describe('translateSql', () => {
  it('numbers positional and named parameters, a name reused keeping its number', () => {
    expect(translateSql('UPDATE t SET a = ?, b = @b, c = @b WHERE id = ?')).toEqual({
      sql: 'UPDATE t SET a = $1, b = $2, c = $2 WHERE id = $3',
      params: [null, 'b', null],
    });
  });

  it('reads LIKE as ILIKE (SQLite ignores ASCII case), not inside words, literals or identifiers', () => {
    expect(translateSql(`SELECT unlike, "LIKE" FROM t WHERE n like ? ESCAPE '\\' AND m = 'LIKE ?'`).sql).toBe(
      `SELECT unlike, "LIKE" FROM t WHERE n ILIKE $1 ESCAPE '\\' AND m = 'LIKE ?'`,
    );
  });

  it("leaves literals ('it''s ?'), quoted identifiers and comments as they are", () => {
    expect(translateSql(`SELECT 'it''s ? @x' AS "a?b", ? -- why? @no\n, @yes`)).toEqual({
      sql: `SELECT 'it''s ? @x' AS "a?b", $1 -- why? @no\n, $2`,
      params: [null, 'yes'],
    });
  });

  it('changes nothing but parameters and LIKE, whatever the literals hold', () => {
    const literal = fc.string().map((s) => `'${s.replaceAll("'", "''")}'`);
    const piece = fc.oneof(
      literal,
      fc.constantFrom('?', '@name', '@other_1', ' LIKE ', ' = ', 'SELECT ', ',', ' x ', '(', ')'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), (pieces) => {
        const source = pieces.join('');
        const { sql, params } = translateSql(source);
        // Every literal survives whole and in order.
        const literals = (text: string) => text.match(/'(?:[^']|'')*'/g) ?? [];
        expect(literals(sql)).toEqual(literals(source));
        // Undo the translation outside literals: the source comes back.
        let n = 0;
        const names = new Map<number, string>();
        params.forEach((p, i) => {
          if (p !== null) names.set(i + 1, p);
        });
        const undone = sql
          .split(/('(?:[^']|'')*')/)
          .map((part, i) =>
            i % 2 === 1
              ? part
              : part.replace(/\bILIKE\b/g, 'LIKE').replace(/\$(\d+)/g, (_, k) => {
                  const name = names.get(Number(k));
                  if (name) return `@${name}`;
                  n++;
                  return '?';
                }),
          )
          .join('');
        expect(undone).toBe(source);
        expect(n).toBe(params.filter((p) => p === null).length);
      }),
    );
  });
});
