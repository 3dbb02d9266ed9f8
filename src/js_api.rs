//! The JavaScript API's names in one place: the options each call and the
//! config take, the error codes, and the TypeScript declarations that name
//! them. Target-independent, so a native test holds the declarations to
//! exactly these lists; the browser binding (`web::convert`) refuses any
//! option not listed here, and `web::class` publishes the declarations.

use crate::engine::error::ErrorKind;

/// `new MPS3(config)`.
pub const CONFIG: &[&str] = &[
    "defaultBucket",
    "defaultManifest",
    "s3Config",
    "useVersioning",
    "pollFrequency",
    "autoclean",
    "gzip",
    "protocol",
    "adaptiveClock",
    "clockOffset",
    "minimizeListObjectsCalls",
    "cacheBytes",
    "offlineStorage",
    "offlineBytes",
    "online",
    "retry",
    "label",
    "log",
    "encryption",
];
/// `config.encryption`, and each of its `manifests`' settings.
pub const ENCRYPTION: &[&str] = &["passphrase", "key", "manifests"];
/// `config.s3Config`.
pub const S3_CONFIG: &[&str] = &["endpoint", "region", "credentials", "forcePathStyle"];
/// `config.s3Config.credentials`, or what its function returns.
pub const CREDENTIALS: &[&str] = &[
    "accessKeyId",
    "secretAccessKey",
    "sessionToken",
    "expiration",
    "writerPrefix",
];
/// `config.retry`.
pub const RETRY: &[&str] = &[
    "attempts",
    "baseMs",
    "capMs",
    "timeoutMs",
    "disconnectAfterMs",
    "disconnectAfterFailures",
];
/// The options of `put`, `putAll`, `delete`, `import`, `forget`, `move`.
pub const PUT: &[&str] = &["manifests", "await", "trace", "contentType"];
/// The options of `get` and `getAll`.
pub const GET: &[&str] = &["manifest"];
/// The options of `subscribe`.
pub const SUBSCRIBE: &[&str] = &["manifest"];
/// A range of `list`.
pub const RANGE: &[&str] = &["prefix", "start", "end", "limit", "reverse"];
/// A check of `atomic().check`.
pub const CHECK: &[&str] = &["key", "version"];
/// A key given as an object.
pub const REF: &[&str] = &["bucket", "key"];

/// Every error kind, in the order of their codes in [`TYPESCRIPT`].
pub const ERROR_KINDS: [ErrorKind; 19] = ErrorKind::ALL;

/// The declarations of the config, options and errors (the class's own
/// methods are declared by wasm-bindgen from their signatures).
pub const TYPESCRIPT: &str = r#"
/** An object in a bucket. A plain string means `{ bucket: defaultBucket, key }`. */
export interface Ref { bucket: string; key: string; }
export type Key = string | Ref;

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials expire (a Date, epoch ms, or ISO string). */
  expiration?: Date | number | string;
  /** Set by an auth proxy (mps3-proxy): this client's writer ids start
   * with it, so that the proxy can tell its log entries from another's. */
  writerPrefix?: string;
}

export interface S3Config {
  /** e.g. "https://<account>.r2.cloudflarestorage.com" or "http://127.0.0.1:9000"; default: AWS in `region`.
   *  `"local:"` (or mps3's `"indexdb:"`): a bucket in this browser's IndexedDB, no server, no credentials. */
  endpoint?: string;
  region?: string;
  /** Credentials, or a function returning them (called again near `expiration`
   *  and when a request is refused for an expired token). */
  credentials?: Credentials | (() => Credentials | Promise<Credentials>);
  /** Path-style URLs (default: true for a custom endpoint, false for AWS). */
  forcePathStyle?: boolean;
}

/** A structured log event, e.g. `{ type: "request", method, url, status, ms }`. */
export interface LogEvent { type: string; [field: string]: unknown; }

export interface MPS3Config {
  defaultBucket: string;
  /** Default `"manifest.json"` in `defaultBucket`. */
  defaultManifest?: Key;
  s3Config: S3Config;
  /** Content under the bucket's own versions instead of `key@uuid` (default false). */
  useVersioning?: boolean;
  /** Milliseconds between polls of subscribed manifests (default 1000). */
  pollFrequency?: number;
  /** Delete log entries older than the replay window, 10 minutes after
   *  they landed (default true). */
  autoclean?: boolean;
  /** Upload values and log entries of 1 KiB or more gzipped
   *  (`Content-Encoding: gzip`), where the browser has `CompressionStream`;
   *  readers' browsers decode them as they fetch (default true). */
  gzip?: boolean;
  /** The log format of manifests: "v2" (a log the bucket orders with
   *  `If-None-Match: *`, docs/protocol-v2.md), "v1" (mps3 0.0.81's layout,
   *  for buckets shared with it), or "auto" (default): a v2 manifest is
   *  v2, a v1 manifest v1, and a new manifest v2 when the bucket enforces
   *  `If-None-Match: *`. "v2" on a bucket that does not rejects writes
   *  with code "Unsupported". */
  protocol?: "auto" | "v1" | "v2";
  /** Correct the clock from servers' `Date` headers (default true). */
  adaptiveClock?: boolean;
  /** Milliseconds added to the local clock (default 0). */
  clockOffset?: number;
  /** Polls trust an unchanged change marker instead of listing the log (default true). */
  minimizeListObjectsCalls?: boolean;
  /** Retries of transient failures (5xx, SlowDown, network): attempts in all
   *  (default 10), and capped exponential backoff with full jitter (default
   *  100 ms doubling up to 5000 ms). `timeoutMs`: how long one attempt waits
   *  for its answer before it counts as a network failure and is retried
   *  (default 30000; 0: no limit). The client becomes disconnected
   *  (`status.connected` false) when every attempt over the last
   *  `disconnectAfterMs` (default 2000) failed without an answer, at least
   *  `disconnectAfterFailures` (default 2) of them, or when the browser
   *  says it is offline; a single reset or time-out is only retried. */
  retry?: RetryOptions;
  /** Bytes of content kept in memory, least recently used out (default 4 MiB). */
  cacheBytes?: number;
  /** Keep the last state, values read or written and the queue of writes not
   *  yet committed in IndexedDB, per label and endpoint: reloads start from
   *  them, and no accepted write is lost (default true). */
  offlineStorage?: boolean;
  /** Bytes of content kept in IndexedDB, least recently used out (default
   *  64 MiB); queued writes and the state are never evicted. */
  offlineBytes?: number;
  /** Start online (default true); see `MPS3.online`. */
  online?: boolean;
  /** A name for this client in logs, and its offline storage: tabs with the
   *  same label (and endpoint) share state and queued writes. */
  label?: string;
  /** `true`: log to the console; a function receives each event. */
  log?: boolean | ((event: LogEvent) => void);
  /** End-to-end encryption of values (protocol v2 manifests; a v1 one
   *  refuses writes with "Unsupported"). Keys stay in clear. See
   *  docs/encryption.md. */
  encryption?: EncryptionOptions;
}

/** What values are encrypted with: a `passphrase` (stretched with
 *  PBKDF2-SHA-256, 600,000 iterations, the salt kept with the manifest)
 *  or a `key` the app manages (an AES-GCM `CryptoKey` with usages
 *  "encrypt" and "decrypt"), for every manifest; `manifests` overrides
 *  that per manifest (by its key in `defaultBucket`; `null`: in clear). */
export interface EncryptionOptions {
  passphrase?: string;
  key?: CryptoKey;
  manifests?: { [manifest: string]: { passphrase?: string; key?: CryptoKey } | null };
}

export interface RetryOptions {
  attempts?: number;
  baseMs?: number;
  capMs?: number;
  timeoutMs?: number;
  disconnectAfterMs?: number;
  disconnectAfterFailures?: number;
}

/** `MPS3.status`, and what `onStatus` handlers receive. */
export interface Status {
  /** The application's switch (`MPS3.online`). */
  online: boolean;
  /** Whether the bucket can be reached now, as the client last found
   *  (from its requests and the browser's online/offline events). */
  connected: boolean;
  /** Writes accepted and not yet committed to the bucket. */
  pendingWrites: number;
  /** When (epoch ms) the client last caught up with the bucket; null before.
   *  Moving it alone does not call `onStatus` handlers. */
  lastSyncAt: number | null;
  /** The client was shut down (`online` and `connected` are then false). */
  shutdown: boolean;
  /** What is wrong with the bucket or the config, while it lasts (null:
   *  nothing known): code "NoSuchBucket", "AccessDenied" or "CorsBlocked",
   *  with a message naming the likely fix. Not the network: the client
   *  stays `connected`. */
  error: MPS3Error | null;
}

/** What a write (`put`, `putAll`, `delete`, `import`, `forget`, `move`)
 *  resolves with: `committed: true` once its entry is in the bucket, with
 *  the `version` it gave the keys it set (null: it set none);
 *  `committed: false` once it is queued durably in IndexedDB, to be
 *  committed in the background (`await: "local"`, or offline, or
 *  disconnected). */
export type Written = { committed: true; version: string | null } | { committed: false };

export interface PutOptions {
  manifests?: Key[];
  /** Resolve once the write is durable in IndexedDB ("local"), or once its
   *  entry is in the bucket ("remote"). Default: "remote" while the bucket
   *  can be reached, "local" offline or disconnected (`status.connected`).
   *  Without IndexedDB, "local" waits for the bucket too. */
  await?: "local" | "remote";
  /** A trace id (W3C trace-context: 32 lowercase hex digits, not all 0)
   *  that follows the write into its log entry, the `log` events of its
   *  requests, and every client's `notify` event as it applies it
   *  (protocol v2). Default: one made for each write. */
  trace?: string;
  /** The MIME type of a binary value (a `Uint8Array`, `ArrayBuffer` or
   *  `Blob`; default the Blob's own type, else
   *  "application/octet-stream"): stored as the object's bytes with this
   *  `Content-Type`, and read back as a `Uint8Array`. (`put` only.) */
  contentType?: string;
}
export interface GetOptions { manifest?: Key; }

/** A key's value and version (`getEntry`). Absent: `value` undefined,
 *  `version` null. A version is opaque and changes with every write of
 *  the key. `T`: the value's type as the caller declares it (nothing
 *  checks it: values are whatever was written). */
export interface Entry<T = unknown> {
  key: Key; value: T | undefined; version: string | null;
  /** "application/json", or a binary value's own type; absent when the
   *  key is. */
  contentType?: string;
}

/** An entry of `list` or of a range's subscriber: its key is always a
 *  string, a key of `defaultBucket`. */
export interface ListEntry<T = unknown> extends Entry<T> { key: string; }

/** Which keys `list` reads, in `defaultBucket`: those starting with
 *  `prefix`, from `start` (inclusive) to `end` (exclusive), in key order
 *  (byte order), at most `limit`, from the last when `reverse`. */
export interface ListRange {
  prefix?: string; start?: string; end?: string; limit?: number; reverse?: boolean;
}

/** `atomic().check(...)`: holds only if `key` is still at `version`
 *  (null: still absent) where the write lands. */
export interface AtomicCheck { key: Key; version: string | null; }

/** What `atomic().commit()` resolves with: `ok: false` when a check
 *  failed (nothing was written); `version`, what the keys set are now at
 *  (null when it only deleted). */
export type CommitResult = { ok: true; version: string | null } | { ok: false };

/** What `inspect` tells of a manifest: its protocol (null: not decided,
 *  nothing written yet), and for v2 the newest slot read (`head`), the
 *  newest checkpoint known, this client's own `writer` id (what the
 *  entries it writes name), and the last entries applied, newest last (`keys`:
 *  urls, `bucket/key`; `at`: the writer's clock, epoch ms). */
export interface Inspection {
  protocol: "v1" | "v2" | null;
  head: number;
  checkpoint: number;
  writer: string;
  entries: { seq: number; writer: string; at: number; keys: string[] }[];
  /** null: values in clear; else the id of the key new values are sealed
   *  with (null until this client read the ring). Never a key. */
  encryption: { key: string | null } | null;
}

/** What a key's subscriber gets beside a value: its version, and for a
 *  write read from a v2 log entry, its writer, time (the writer's clock,
 *  epoch ms) and trace id. */
export interface ValueMeta { version: string | null; writer?: string; at?: number; trace?: string; }

/** What a range's subscriber watches (keys of `defaultBucket`). */
export type SubscribeRange = Omit<ListRange, "limit" | "reverse">;

/** The calls whose value types the caller declares: `T` is what the keys
 *  hold (`unknown` by default), as in `db.get<Note>("note/1")`. Nothing
 *  checks it at run time. */
export interface MPS3 {
  /** The value of `key` (`undefined` when absent), reading this client's
   *  own writes. */
  get<T = unknown>(key: Key, options?: GetOptions): Promise<T | undefined>;
  /** `{ key, value, version, contentType }` of `key`: `version` is what
   *  `atomic().check` names (absent: `value` undefined, `version` null). */
  getEntry<T = unknown>(key: Key, options?: GetOptions): Promise<Entry<T>>;
  /** Values of `keys` from one consistent snapshot, as a `Map` from each
   *  given key to its value (`undefined` when absent). */
  getAll<T = unknown>(keys: Key[], options?: GetOptions): Promise<Map<Key, T | undefined>>;
  /** Each key with a value in `range` (keys of `defaultBucket`), in key
   *  order, from one consistent snapshot. */
  list<T = unknown>(range?: ListRange, options?: GetOptions): Promise<ListEntry<T>[]>;
  /** Calls `handler(value)` with the current value of `key`, then once per
   *  new version of it (`undefined` when deleted); errors come as
   *  `handler(undefined, error)` and polling carries on. Returns the
   *  unsubscribe function (calling it again does nothing). Throws
   *  `BadInput` without a handler, `Shutdown` after `shutdown()`. */
  subscribe<T = unknown>(key: Key, handler: (value: T | undefined, error?: MPS3Error, meta?: ValueMeta) => void, options?: SubscribeOptions): () => void;
  /** Calls `handler(entries)` with every key in `range`, then with those
   *  that changed (deleted: `value` undefined, `version` null). */
  subscribe<T = unknown>(range: SubscribeRange, handler: (changes: ListEntry<T>[], error?: MPS3Error) => void, options?: SubscribeOptions): () => void;
  /** Runs `callback` until its writes commit over unchanged reads; resolves
   *  with its value, of type `R`. */
  transaction<R>(callback: (tx: Transaction) => R | Promise<R>, options?: GetOptions): Promise<R>;
}

/** What a `transaction` callback reads through (its `set` and `delete`
 *  are declared with the class). */
export interface Transaction {
  /** The value of `key`: what this run set, else as read (its version is
   *  then what the commit checks). */
  get<T = unknown>(key: Key): Promise<T | undefined>;
}
export interface SubscribeOptions { manifest?: Key; }

export type MPS3ErrorCode =
  | "NotFound" | "NotModified" | "PreconditionFailed" | "AccessDenied" | "SlowDown"
  | "ServerError" | "Network" | "BadResponse" | "BadInput" | "ClockSkew" | "Offline" | "Storage"
  | "Shutdown" | "Unsupported" | "Conflict" | "OutcomeUnknown" | "NoSuchBucket" | "CorsBlocked"
  | "Decrypt";

/** What every call rejects with and subscribers receive: an `Error` with a
 *  stable `code`, and the HTTP `status` and S3 `s3Code` when S3 answered.
 *  `e instanceof MPS3Error` holds (the class is exported by the package). */
export interface MPS3Error extends Error {
  readonly name: "MPS3Error";
  readonly code: MPS3ErrorCode;
  readonly status?: number;
  readonly s3Code?: string;
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The property names of `interface <name> { ... }` in the declarations.
    fn properties(name: &str) -> Vec<String> {
        let start = TYPESCRIPT
            .find(&format!("export interface {name} "))
            .unwrap_or_else(|| panic!("no interface {name}"));
        let body = &TYPESCRIPT[start..];
        let open = body.find('{').unwrap();
        let mut depth = 0;
        let mut end = open;
        for (i, c) in body[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        // Comments out, then each `name?:` or `name:` at depth one.
        let mut text = String::new();
        let mut rest = &body[open + 1..end];
        while let Some(i) = rest.find("/*") {
            text.push_str(&rest[..i]);
            rest = &rest[rest[i..].find("*/").unwrap() + i + 2..];
        }
        text.push_str(rest);
        let mut names = Vec::new();
        let mut depth = 0;
        let mut token = String::new();
        for c in text.chars() {
            match c {
                '{' | '(' => depth += 1,
                '}' | ')' => depth -= 1,
                _ => {}
            }
            if c.is_alphanumeric() || c == '_' || c == '$' {
                token.push(c);
                continue;
            }
            if depth == 0 && (c == '?' || c == ':') && !token.is_empty() && !names.contains(&token)
            {
                names.push(token.clone());
            }
            if c != '?' {
                token.clear();
            }
        }
        names
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    fn sorted_props(name: &str) -> Vec<String> {
        let mut v = properties(name);
        v.sort();
        v
    }

    #[test]
    fn the_declarations_name_exactly_the_options_the_binding_takes() {
        assert_eq!(sorted_props("MPS3Config"), sorted(CONFIG));
        assert_eq!(sorted_props("S3Config"), sorted(S3_CONFIG));
        assert_eq!(sorted_props("Credentials"), sorted(CREDENTIALS));
        assert_eq!(sorted_props("RetryOptions"), sorted(RETRY));
        assert_eq!(sorted_props("PutOptions"), sorted(PUT));
        assert_eq!(sorted_props("GetOptions"), sorted(GET));
        assert_eq!(sorted_props("AtomicCheck"), sorted(CHECK));
        assert_eq!(sorted_props("ListRange"), sorted(RANGE));
        assert_eq!(sorted_props("SubscribeOptions"), sorted(SUBSCRIBE));
        assert_eq!(sorted_props("Ref"), sorted(REF));
        assert_eq!(sorted_props("EncryptionOptions"), sorted(ENCRYPTION));
    }

    #[test]
    fn the_package_entry_exports_every_declared_type() {
        let entry = include_str!("../pkg-template/index.d.ts");
        let start = entry.find("export type {").expect("a type export list");
        let list = &entry[start..start + entry[start..].find('}').unwrap()];
        let exported: Vec<&str> = list["export type {".len()..]
            .split([',', ' ', '\n'])
            .filter(|n| !n.is_empty())
            .collect();
        let mut missing = Vec::new();
        for line in TYPESCRIPT.lines() {
            let Some(rest) = line
                .strip_prefix("export interface ")
                .or_else(|| line.strip_prefix("export type "))
            else {
                continue;
            };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
            // The class and its error are exported as values.
            if !["MPS3", "MPS3Error"].contains(&name.as_str()) && !exported.contains(&name.as_str())
            {
                missing.push(name);
            }
        }
        assert_eq!(missing, Vec::<String>::new(), "not exported by index.d.ts");
    }

    #[test]
    fn the_declarations_name_exactly_the_error_codes() {
        let start = TYPESCRIPT.find("export type MPS3ErrorCode =").unwrap();
        let decl = &TYPESCRIPT[start..start + TYPESCRIPT[start..].find(';').unwrap()];
        let declared: Vec<&str> = decl.split('"').skip(1).step_by(2).collect();
        let codes: Vec<&str> = ERROR_KINDS.iter().map(|k| k.code()).collect();
        assert_eq!(declared, codes);
        // A new variant breaks this match: list it in ERROR_KINDS and in
        // the declarations too.
        for kind in ERROR_KINDS {
            match kind {
                ErrorKind::NotFound
                | ErrorKind::NotModified
                | ErrorKind::PreconditionFailed
                | ErrorKind::AccessDenied
                | ErrorKind::SlowDown
                | ErrorKind::ServerError
                | ErrorKind::Network
                | ErrorKind::BadResponse
                | ErrorKind::BadInput
                | ErrorKind::ClockSkew
                | ErrorKind::Offline
                | ErrorKind::Storage
                | ErrorKind::Shutdown
                | ErrorKind::Unsupported
                | ErrorKind::Conflict
                | ErrorKind::OutcomeUnknown
                | ErrorKind::NoSuchBucket
                | ErrorKind::CorsBlocked
                | ErrorKind::Decrypt => {}
            }
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ERROR_KINDS.len(), "each kind once");
    }
}
