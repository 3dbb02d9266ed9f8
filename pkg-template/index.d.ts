// Types of the package entry (index.js): the class and its config, error
// and option types, without the low-level init functions.
export { MPS3 } from "./mps3.js";
export type {
  Credentials, GetOptions, Key, LogEvent, MPS3Config, MPS3Error, PutOptions, Ref, S3Config,
  SubscribeOptions,
} from "./mps3.js";
