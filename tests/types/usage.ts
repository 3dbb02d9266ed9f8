// Compiled with `tsc --noEmit` by the test command: the package's types
// describe every call and option, with nothing typed `any`.
import {
  MPS3, MPS3Error, type CommitResult, type Entry, type Inspection, type ListEntry, type ListRange, type MPS3Config,
  type Key, type Status, type SubscribeRange, type Transaction, type Written,
} from "../../pkg/index.js";

const config: MPS3Config = {
  defaultBucket: "b",
  defaultManifest: { bucket: "b", key: "manifest.json" },
  useVersioning: false,
  pollFrequency: 1000,
  autoclean: true,
  gzip: true,
  adaptiveClock: true,
  clockOffset: 0,
  minimizeListObjectsCalls: true,
  cacheBytes: 1 << 20,
  retry: {
    attempts: 5, baseMs: 100, capMs: 2000, timeoutMs: 20000, disconnectAfterMs: 2000, disconnectAfterFailures: 2,
  },
  label: "tab-1",
  log: (event) => console.log(event.type),
  s3Config: {
    endpoint: "http://127.0.0.1:9000",
    region: "us-east-1",
    credentials: async () => ({ accessKeyId: "a", secretAccessKey: "s", sessionToken: "t", expiration: new Date() }),
  },
};

async function use(db: MPS3): Promise<void> {
  const key: Key = { bucket: "b", key: "k" };
  await db.put("key", { any: ["json", 1, null] });
  await db.put(key, 1, { manifests: ["other.json", { bucket: "b", key: "m.json" }] });
  const value: unknown = await db.get("key");
  await db.get("key", { manifest: "other.json" });
  await db.delete("key");
  await db.put("key", 2, { await: "local" });
  db.online = false;
  const online: boolean = db.online;
  const pending: number = db.pendingWrites;
  void online, pending;
  await db.putAll(new Map<Key, unknown>([["a", 1], ["b", undefined]]));
  await db.putAll({ a: 1 });
  const all: Map<Key, unknown> = await db.getAll(["a", "b"]);
  await db.import("photos/cat.json");
  await db.import(key, { manifests: ["other.json"], await: "remote" });
  await db.move("drafts/1", { bucket: "b", key: "archive/1" }, { await: "local" });
  await db.forget("archive/1");
  await db.upgrade();
  await db.upgrade({ bucket: "b", key: "old-manifest.json" });
  const keyId: string = await db.rotate("private.json");
  const sealed = (await db.inspect()).encryption;
  if (sealed) console.log(keyId, sealed.key);
  const unsubscribe: () => void = db.subscribe("key", (v: unknown, error?: MPS3Error) => {
    if (error) console.log(error.code, error.status, error.s3Code);
    else console.log(v);
  });
  unsubscribe();
  const entry: Entry = await db.getEntry("key", { manifest: "other.json" });
  const version: string | null = entry.version;
  const result: CommitResult = await db
    .atomic()
    .check({ key: "key", version })
    .check({ key: { bucket: "b", key: "new" }, version: null })
    .set("key", { n: 1 })
    .delete("old")
    .commit();
  if (result.ok) {
    const committed: string | null = result.version;
    console.log(committed);
  }
  const likes: number = await db.transaction(async (tx: Transaction) => {
    const n = ((await tx.get("likes")) as number | undefined) ?? 0;
    tx.set("likes", n + 1);
    tx.delete("old");
    return n + 1;
  });
  const notes: Entry[] = await db.list({ prefix: "note/", limit: 10, reverse: true }, { manifest: "m.json" });
  await db.list();
  const off: () => void = db.subscribe({ prefix: "note/" }, (changes: Entry[], error?: MPS3Error) => {
    for (const c of changes) console.log(c.key, c.value, c.version, error);
  });
  off();
  console.log(notes);
  const offset: number = db.clockOffset;
  console.log(likes);
  db.shutdown();
  console.log(value, all, offset);
}

use(new MPS3(config));

// Encryption: a passphrase or an app's CryptoKey, per manifest too.
export async function encrypted(key: CryptoKey) {
  const db = new MPS3({ ...config, encryption: { passphrase: "p", manifests: { "clear.json": null, "app.json": { key } } } });
  try { await db.get("a"); } catch (e) { if (e instanceof MPS3Error && e.code === "Decrypt") console.log(e.message); }
  // @ts-expect-error: a key is a CryptoKey, not its bytes.
  new MPS3({ ...config, encryption: { key: new Uint8Array(32) } });
}

// @ts-expect-error: a config needs defaultBucket.
new MPS3({ s3Config: config.s3Config });
// @ts-expect-error: a move needs the key it moves to.
new MPS3(config).move("a");
// @ts-expect-error: error codes are a closed set.
const code: MPS3Error["code"] = "Nope";
console.log(code);

// The error class narrows a caught value.
export async function caught(db: MPS3): Promise<string | undefined> {
  try {
    await db.get("key");
  } catch (e) {
    if (e instanceof MPS3Error) {
      const c: MPS3Error["code"] = e.code;
      return c;
    }
  }
  return undefined;
}

// A write says whether it is in the bucket or queued.
export async function written(db: MPS3): Promise<string | null> {
  const w: Written = await db.put("k", 1);
  // @ts-expect-error: a queued write has no version yet.
  const early = (w2: Written) => (w2.committed ? null : w2.version);
  console.log(early);
  return w.committed ? w.version : null;
}

// The status, read and followed.
export function watchStatus(db: MPS3): () => void {
  const s: Status = db.status;
  const since: number | null = s.lastSyncAt;
  console.log(s.online, s.connected, s.pendingWrites, since, s.shutdown);
  // What is wrong with the bucket, if anything: an MPS3Error with its code.
  if (s.error) console.log(s.error.code === "CorsBlocked" || s.error.code === "NoSuchBucket", s.error.message);
  // @ts-expect-error: pendingWrites is a number.
  const wrong: string = db.status.pendingWrites;
  console.log(wrong);
  return db.onStatus((next: Status) => console.log(next.connected));
}

// @ts-expect-error: a check names a version (null: absent).
new MPS3(config).atomic().check({ key: "a" });
// @ts-expect-error: a failed commit has no version.
export const noVersion = (r: CommitResult) => (r.ok ? r.version : r.version);

// Binary values: bytes in, bytes out.
export async function binary(db: MPS3, file: Blob): Promise<number> {
  await db.put("photo", new Uint8Array([1, 2, 3]), { contentType: "image/png" });
  await db.put("file", file);
  const e: Entry = await db.getEntry("photo");
  const type: string | undefined = e.contentType;
  console.log(type);
  return (e.value as Uint8Array).length;
}

// Value types the caller declares (`unknown` by default): reads say a key
// may be absent, list keys are strings, a transaction has its callback's
// type.
interface Note { text: string; by: string; }
export async function typed(db: MPS3): Promise<number> {
  const note = await db.get<Note>("note/1");
  const text: string | undefined = note?.text;
  // @ts-expect-error: a key may be absent.
  const sure: Note = await db.get<Note>("note/1");
  // @ts-expect-error: an undeclared value is unknown, not any.
  const loose: string = await db.get("note/1");
  const entry: Entry<Note> = await db.getEntry<Note>("note/1");
  const by: string | undefined = entry.value?.by;
  const all: Map<Key, Note | undefined> = await db.getAll<Note>(["note/1", "note/2"]);
  const range: ListRange = { prefix: "note/", limit: 20 };
  const notes: ListEntry<Note>[] = await db.list<Note>(range);
  const key: string = notes[0].key;
  // @ts-expect-error: a listed key is a string, never a { bucket, key }.
  console.log(notes[0].key.bucket);
  const watched: SubscribeRange = { prefix: "note/" };
  const offKey = db.subscribe<Note>("note/1", (value) => console.log(value?.text.length));
  const offRange = db.subscribe<Note>(watched, (changes) => {
    for (const c of changes) console.log(c.key.length, c.value?.by);
  });
  // @ts-expect-error: a subscribed range has no limit.
  db.subscribe({ prefix: "note/", limit: 5 }, () => {});
  // @ts-expect-error: subscribe needs a handler.
  db.subscribe("note/1");
  offKey();
  offRange();
  const count: number = await db.transaction<number>(async (tx) => {
    const n = (await tx.get<number>("count")) ?? 0;
    tx.set("count", n + 1);
    return n + 1;
  });
  // @ts-expect-error: a transaction resolves with its callback's type.
  const wrong: string = await db.transaction(async () => 1);
  const inspected: Inspection = await db.inspect();
  console.log(text, sure, loose, by, all, key, wrong, inspected.protocol);
  return count;
}
