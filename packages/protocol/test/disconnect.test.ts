import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes, Disconnect, disconnectOf, shouldReconnect, type DisconnectReason } from '../src/index.ts';

describe('disconnect reasons', () => {
  test('one entry per close code, with the wire code unchanged', () => {
    assert.deepEqual(Object.keys(Disconnect).sort(), Object.keys(CloseCodes).sort());
    for (const [name, d] of Object.entries(Disconnect) as [keyof typeof Disconnect, DisconnectReason][]) {
      assert.equal(d.code, CloseCodes[name], name);
      assert.equal(typeof d.reason, 'string');
      assert.ok(d.reason.length > 0 && Buffer.byteLength(d.reason) <= 123, `${name}: a close reason fits a close frame`);
    }
    const codes = Object.values(Disconnect).map((d) => d.code);
    assert.equal(new Set(codes).size, codes.length, 'codes are unique');
    assert.equal(Disconnect.SHUTDOWN.code, 4000);
    assert.equal(Disconnect.RATE_LIMITED.code, 1013);
  });

  test('the reconnect flag is what shouldReconnect answers for each code', () => {
    for (const d of Object.values(Disconnect)) assert.equal(shouldReconnect(d.code), d.reconnect, String(d.code));
    assert.equal(Disconnect.SHUTDOWN.reconnect, true);
    assert.equal(Disconnect.TOKEN_REVOKED.reconnect, false);
    assert.equal(Disconnect.USER_CHANGED.reconnect, true);
    assert.equal(Disconnect.RATE_LIMITED.reconnect, true);
  });

  test('codes outside the list follow the ranges; disconnectOf finds a listed code only', () => {
    assert.equal(shouldReconnect(1006), true);
    assert.equal(shouldReconnect(4999), false);
    assert.equal(shouldReconnect(4499), true);
    assert.equal(disconnectOf(4502), Disconnect.TOKEN_REVOKED);
    assert.equal(disconnectOf(1006), undefined);
    assert.equal(disconnectOf(Number.NaN), undefined);
  });
});
