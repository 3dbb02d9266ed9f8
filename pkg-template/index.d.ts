// Types of the package entry (index.js): the class, its error class and
// its config and option types, without the low-level init functions.
import type { MPS3Error as MPS3ErrorInstance, MPS3ErrorCode } from "./mps3.js";
export { MPS3 } from "./mps3.js";
export type {
  Atomic, AtomicCheck, CommitResult, Credentials, EncryptionOptions, Entry, GetOptions, Inspection, Key, ListEntry, ListRange, LogEvent,
  MPS3Config, MPS3ErrorCode, PutOptions, Ref, RetryOptions, S3Config, Status, SubscribeOptions, SubscribeRange,
  Transaction, ValueMeta, Written,
} from "./mps3.js";

/** What every call rejects with and subscribers receive:
 *  `e instanceof MPS3Error`, with a stable `e.code`. */
export type MPS3Error = MPS3ErrorInstance;
export declare const MPS3Error: {
  new (message: string, code: MPS3ErrorCode, status?: number, s3Code?: string): MPS3ErrorInstance;
  readonly prototype: MPS3ErrorInstance;
};
