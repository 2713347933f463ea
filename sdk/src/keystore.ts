// Key stores: where a client keeps its device's private keys and its own
// sender chains for end-to-end encrypted rooms. A store holds one record,
// loaded once and saved whole after every change. Private keys never
// leave it except into this process.

/** KeyRecord is what a key store holds. Binary values are standard base64. */
export interface KeyRecord {
  v: 1;
  /** The device's private keys: the Ed25519 seed and the X25519 private key. */
  device: { seed: string; box: string };
  /**
   * This device's own sender chain per room home address ("room@node"),
   * for the latest epoch it sent in: the keys entry's seq, the chain key
   * of counter n, and n, the next message's counter.
   */
  chains: Record<string, { epoch: number; keys: number; ck: string; n: number }>;
}

/**
 * KeyStore loads and saves a client's KeyRecord. save must be atomic: a
 * crash leaves the old record or the new one, never a mix. One store
 * belongs to one client at a time.
 */
export interface KeyStore {
  /** load returns the stored record, or undefined when there is none yet. */
  load(): Promise<KeyRecord | undefined>;
  save(record: KeyRecord): Promise<void>;
}

/** isKeyRecord checks a loaded value's shape. */
export function isKeyRecord(v: unknown): v is KeyRecord {
  const r = v as KeyRecord;
  return (
    typeof r === "object" &&
    r !== null &&
    r.v === 1 &&
    typeof r.device === "object" &&
    r.device !== null &&
    typeof r.device.seed === "string" &&
    typeof r.device.box === "string" &&
    typeof r.chains === "object" &&
    r.chains !== null
  );
}

const copy = (r: KeyRecord): KeyRecord => JSON.parse(JSON.stringify(r)) as KeyRecord;

/** memoryKeyStore keeps the record in memory only (tests; a device that lives as long as the process). */
export function memoryKeyStore(): KeyStore & { readonly record: KeyRecord | undefined } {
  let record: KeyRecord | undefined;
  return {
    get record() {
      return record && copy(record);
    },
    load: () => Promise.resolve(record && copy(record)),
    save: (r) => {
      record = copy(r);
      return Promise.resolve();
    },
  };
}

/**
 * fileKeyStore keeps the record in a JSON file (Node only), written
 * atomically: a temporary file beside it (mode 0600), synced, then
 * renamed over it. A file that is not a key record is an error, never
 * silently replaced.
 */
export function fileKeyStore(path: string): KeyStore {
  let fsp: Promise<FS> | undefined;
  // The specifier is a variable so that bundlers for the browser leave node:fs out.
  const fs = (): Promise<FS> => (fsp ??= import(/* @vite-ignore */ nodeFS) as Promise<FS>);
  return {
    async load() {
      let text: string;
      try {
        text = await (await fs()).readFile(path, "utf8");
      } catch (err) {
        if ((err as { code?: string }).code === "ENOENT") return undefined;
        throw err;
      }
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        throw new Error(`mesh: key store ${path} is not JSON`);
      }
      if (!isKeyRecord(v)) throw new Error(`mesh: key store ${path} is not a key record`);
      return v;
    },
    async save(r) {
      const f = await fs();
      const tmp = `${path}.tmp-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
      const h = await f.open(tmp, "wx", 0o600);
      try {
        await h.writeFile(JSON.stringify(r, null, 2) + "\n");
        await h.sync();
      } finally {
        await h.close();
      }
      try {
        await f.rename(tmp, path);
      } catch (err) {
        await f.rm(tmp, { force: true });
        throw err;
      }
    },
  };
}
const nodeFS = "node:fs/promises";

/** FS is the part of node:fs/promises a file key store uses (the SDK's sources are typed without Node's types). */
interface FS {
  readFile(path: string, encoding: "utf8"): Promise<string>;
  open(path: string, flags: string, mode: number): Promise<{ writeFile(data: string): Promise<void>; sync(): Promise<void>; close(): Promise<void> }>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, opts: { force: boolean }): Promise<void>;
}

/**
 * indexedDbKeyStore keeps the record in the browser's IndexedDB, database
 * name, in one transaction per save (atomic by IndexedDB's rules).
 */
export function indexedDbKeyStore(name: string): KeyStore {
  const storeName = "keys";
  const key = "record";
  let dbp: Promise<IDBDatabase> | undefined;
  const db = (): Promise<IDBDatabase> =>
    (dbp ??= new Promise((resolve, reject) => {
      const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
      if (!idb) return reject(new Error("mesh: indexedDbKeyStore needs IndexedDB (a browser)"));
      const req = idb.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(storeName);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error(`mesh: cannot open IndexedDB ${name}`));
    }));
  const run = <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest | undefined): Promise<T> =>
    db().then(
      (d) =>
        new Promise<T>((resolve, reject) => {
          const tx = d.transaction(storeName, mode);
          const req = op(tx.objectStore(storeName));
          tx.oncomplete = () => resolve(req?.result as T);
          tx.onerror = tx.onabort = () => reject(tx.error ?? new Error(`mesh: IndexedDB ${name}: transaction failed`));
        }),
    );
  return {
    async load() {
      const v = await run<unknown>("readonly", (s) => s.get(key));
      if (v === undefined) return undefined;
      if (!isKeyRecord(v)) throw new Error(`mesh: IndexedDB ${name} does not hold a key record`);
      return v;
    },
    async save(r) {
      await run("readwrite", (s) => s.put(copy(r), key));
    },
  };
}
