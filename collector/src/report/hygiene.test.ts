import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chatText, csvField, printable, terminalTable } from './hygiene.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what the test is for
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const hostile = fc.oneof(
  fc.fullUnicodeString(),
  fc.constantFrom(
    '\u001b]0;pwned\u0007',
    '\u001b[2J\u001b[31mred',
    "=cmd|' /C calc'!A0",
    '+1+1',
    '-2+3',
    '@SUM(A1)',
    '\tindent',
    '\rcarriage',
    '<!channel>',
    '<https://evil.example|click me>',
    'a\u202eevil\u202c',
  ),
);

/** Reads one RFC 4180 field back to its value. */
function unquote(field: string): string {
  return field.startsWith('"') ? field.slice(1, -1).replaceAll('""', '"') : field;
}

describe('output hygiene', () => {
  it('printable text for a terminal has no control character, escape or bidi override', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        expect(printable(s)).not.toMatch(CONTROL);
      }),
      { seed: 1, numRuns: 500 },
    );
    expect(printable('\u001b]0;pwned\u0007web01')).toBe(']0;pwnedweb01');
  });

  it('no CSV cell starts as a spreadsheet formula, and every value survives a round trip', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const value = unquote(csvField(s));
        expect(value).not.toMatch(/^[=+\-@\t\r]/);
        expect(value === s || value === `'${s}`).toBe(true);
        if (!/[",\r\n]/.test(value)) expect(csvField(s)).toBe(value);
      }),
      { seed: 2, numRuns: 500 },
    );
    expect(csvField("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0");
    expect(csvField('web01')).toBe('web01');
  });

  it('chat text carries no markup a chat tool would act on', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        expect(chatText(s)).not.toMatch(/[<>]/);
        expect(chatText(s)).not.toMatch(CONTROL);
      }),
      { seed: 3, numRuns: 500 },
    );
    expect(chatText('guest <!channel> on <https://x|y>')).toBe('guest &lt;!channel&gt; on &lt;https://x|y&gt;');
  });

  it('a terminal table prints neither colours nor what its cells tried to send the terminal', () => {
    fc.assert(
      fc.property(fc.array(hostile, { minLength: 2, maxLength: 2 }), (cells) => {
        const table = terminalTable(['host', 'guest']);
        table.push(cells);
        const lines = table.toString().split('\n');
        // Borders, header, separator, the one row, border: a cell cannot add a line either.
        expect(lines).toHaveLength(5);
        for (const line of lines) expect(line).not.toMatch(CONTROL);
      }),
      { seed: 4, numRuns: 200 },
    );
  });
});

describe('a webhook notice', () => {
  it('names a hostile guest as plain text', async () => {
    const { alertText } = await import('../alerts/notify.js');
    const text = alertText({
      alertId: 1,
      event: 'firing',
      alert: {
        kind: 'guest-not-certified',
        severity: 'critical',
        message: 'guest <!channel> on <https://evil.example|kvm-01> is not certified',
      } as never,
    });
    expect(text).toBe(
      '[hvmap] FIRING guest-not-certified: guest &lt;!channel&gt; on &lt;https://evil.example|kvm-01&gt; is not certified',
    );
  });
});
