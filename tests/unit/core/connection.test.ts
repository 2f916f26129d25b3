// A store's database connection (database.ts Connection): shared while open, opened again after a close, a failed
// open or a call that finds it closed, never dropped by an old connection's late close event, and closed for good by close().
import { expect, test } from 'vitest';
import { Connection } from '../../../src/core/data/database.ts';

interface FakeDb {
  id: number;
  closed: boolean;
  close(): void;
}

/** Opens numbered fake connections; `closes[i]` is the close callback the i-th open was given. */
function opener(failFirst = 0) {
  const closes: (() => void)[] = [];
  let opens = 0;
  const open = async (onClosed: () => void): Promise<FakeDb> => {
    opens++;
    closes.push(onClosed);
    if (opens <= failFirst) throw new DOMException('The user denied permission to access the database.', 'UnknownError');
    const db: FakeDb = { id: opens, closed: false, close: () => { db.closed = true; } };
    return db;
  };
  return { open, closes, opens: () => opens };
}

test('calls share one connection until it is closed, then the next call opens another', async () => {
  const fake = opener();
  const connection = new Connection(fake.open);
  const [a, b] = await Promise.all([connection.get(), connection.get()]);
  expect(a).toBe(b);
  expect(fake.opens()).toBe(1);
  fake.closes[0]!();
  expect((await connection.get()).id).toBe(2);
  // The first connection's close arriving again (blocking, then terminated) leaves the second in place.
  fake.closes[0]!();
  expect((await connection.get()).id).toBe(2);
  expect(fake.opens()).toBe(2);
});

test('a failed open reaches the call that met it, and the next call tries again', async () => {
  const fake = opener(1);
  const connection = new Connection(fake.open);
  await expect(connection.get()).rejects.toThrow(/denied permission/);
  expect((await connection.get()).id).toBe(2);
});

test('use runs a call once more on a new connection when it finds the old one closed, and only then', async () => {
  const fake = opener();
  const connection = new Connection(fake.open);
  const used: number[] = [];
  const first = await connection.get();
  const result = await connection.use(async (db) => {
    used.push(db.id);
    if (db.id === 1) throw new DOMException('The database connection is closing.', 'InvalidStateError');
    return 'read';
  });
  expect(result).toBe('read');
  expect(used).toEqual([1, 2]);
  expect(first.closed, 'the old connection is not left open beside the new one').toBe(true);
  // Any other error is the call's own: no second try.
  await expect(connection.use(async (db) => {
    used.push(db.id);
    throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  })).rejects.toThrow(/quota/);
  expect(used).toEqual([1, 2, 2]);
});

test('close closes the open connection at once and for good: later calls fail instead of opening another', async () => {
  const fake = opener();
  const connection = new Connection(fake.open);
  const db = await connection.get();
  connection.close();
  expect(db.closed).toBe(true);
  await expect(connection.use(async () => 'read')).rejects.toThrow(/closed/);
  expect(fake.opens()).toBe(1);
});
