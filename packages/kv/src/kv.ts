// The `Kv` seam: short-lived shared state (sessions, interactions, codes, rate limits, revocations).
// Two real backends: Redis (one server, a Sentinel-watched primary, or a Cluster: ioredis's own support
// follows failovers), and an in-process store for the single-process embedded mode. On a Cluster every
// key is used on its own (no multi-key command spans slots; scans go node by node) and pub/sub is sharded.
import { EventEmitter } from 'node:events';
import { Cluster, Redis, ReplyError, type RedisOptions } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, type IRateLimiterOptions } from 'rate-limiter-flexible';

export interface Kv {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** SET NX: true when this call created the key (an atomic compare-and-set). */
  setIfAbsent(key: string, value: string, ttlSeconds?: number): Promise<boolean>;
  del(...keys: string[]): Promise<void>;
  /**
   * Adds a member to an index set for `ttlSeconds` (adding it again never shortens its time). Each member
   * lapses on its own, and lapsed members are dropped as new ones arrive: a set indexing short-lived
   * keys (a person's sessions, a grant's tokens) holds what is alive, not everything it ever held.
   */
  addToSet(key: string, member: string, ttlSeconds: number): Promise<void>;
  /** The members that have not lapsed. */
  setMembers(key: string): Promise<string[]>;
  /** Keys (without the store prefix) that start with `prefix`. */
  keys(prefix: string): Promise<string[]>;
  /** Publishes; resolves with how many subscribed processes the message was handed to. */
  publish(channel: string, message: string): Promise<number>;
  /** INCR with an expiry: the new value. */
  increment(key: string, ttlSeconds: number): Promise<number>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  /** Whether a message published now reaches this process's subscribe() handlers: false from the
   * moment a subscription connection is lost until every channel is subscribed again. */
  subscriptionLive?(): boolean;
  /** `listener(false)` when the subscription connection is lost, `listener(true)` once every channel
   * is subscribed again (messages published in between were missed). Returns a function that stops it. */
  onSubscriptionChange?(listener: (live: boolean) => void): () => void;
  rateLimiter(options: Omit<IRateLimiterOptions, 'storeClient'>): RateLimiterAbstract;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The cache could not be reached (connection refused, lost or not yet up): an outage, not a bad request. */
export class KvUnavailableError extends Error {
  override readonly name = 'KvUnavailableError';
  static readonly code = 'ERR_KV_UNAVAILABLE';
  readonly code = KvUnavailableError.code;
}

/** Where the Redis data lives: one server (`REDIS_URL`), a Sentinel-watched primary, or a Cluster. */
export interface RedisTarget {
  /** A single server; with Sentinel or Cluster, only its credentials, TLS and database are used. */
  url?: string | undefined;
  /** `host:port` of each Sentinel, and the name of the primary they watch. */
  sentinels?: { host: string; port: number }[] | undefined;
  sentinelName?: string | undefined;
  /** `host:port` of some Cluster nodes (the rest are discovered). */
  clusterNodes?: { host: string; port: number }[] | undefined;
}

export interface KvConfig {
  REDIS_URL?: string | undefined;
  REDIS_SENTINELS?: readonly { host: string; port: number }[] | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_CLUSTER_NODES?: readonly { host: string; port: number }[] | undefined;
  REDIS_PREFIX: string;
}

/** Whether the configuration names a shared Redis (a server, Sentinels or a Cluster). */
export function sharedCacheConfigured(config: Omit<KvConfig, 'REDIS_PREFIX'>): boolean {
  return Boolean(config.REDIS_URL || config.REDIS_SENTINELS?.length || config.REDIS_CLUSTER_NODES?.length);
}

export function createKv(config: KvConfig): Kv {
  if (!sharedCacheConfigured(config)) return new MemoryKv();
  return new RedisKv(
    {
      url: config.REDIS_URL,
      sentinels: config.REDIS_SENTINELS ? [...config.REDIS_SENTINELS] : undefined,
      sentinelName: config.REDIS_SENTINEL_NAME,
      clusterNodes: config.REDIS_CLUSTER_NODES ? [...config.REDIS_CLUSTER_NODES] : undefined,
    },
    config.REDIS_PREFIX,
  );
}

/** Credentials, TLS and database number of a redis:// URL, as ioredis options. */
function urlOptions(url: string | undefined): RedisOptions {
  if (!url) return {};
  const parsed = new URL(url);
  const db = Number(parsed.pathname.slice(1) || 0);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    ...(db ? { db } : {}),
  };
}

/** A connection to the target (ioredis's own Sentinel and Cluster support: failover is followed by it). */
function connect(target: RedisTarget, options: RedisOptions): Redis | Cluster {
  if (target.clusterNodes?.length) {
    const { keyPrefix, ...redisOptions } = options;
    return new Cluster(target.clusterNodes, {
      ...(keyPrefix ? { keyPrefix } : {}),
      enableOfflineQueue: options.enableOfflineQueue ?? true,
      // Sharded pub/sub (SSUBSCRIBE/SPUBLISH): a channel lives on its slot's primary, so PUBLISH's
      // count of receivers (which the acknowledgements wait for) is of every subscriber, not one node's.
      shardedSubscribers: true,
      redisOptions: { ...urlOptions(target.url), ...redisOptions },
    });
  }
  if (target.sentinels?.length) {
    return new Redis({
      ...urlOptions(target.url),
      ...options,
      sentinels: target.sentinels,
      name: target.sentinelName ?? 'mymaster',
      role: 'master',
      // Told of a failover by the Sentinels' +switch-master at once; a demoted primary's READONLY reconnects.
      failoverDetector: true,
      reconnectOnError: (err) => /^READONLY/.test(err.message),
    });
  }
  return new Redis(target.url!, options);
}

/** The primaries serving all 16384 slots, waiting (bounded) for a client still learning the topology. */
async function clusterPrimaries(cluster: Cluster): Promise<Redis[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const owners = new Set<string>();
    let covered = 0;
    for (let slot = 0; slot < 16384; slot += 1) {
      const owner = cluster.slots[slot]?.[0];
      if (owner) {
        owners.add(owner);
        covered += 1;
      }
    }
    const primaries = cluster.nodes('master').filter((n) => owners.has(`${n.options.host}:${n.options.port}`));
    if (cluster.status === 'ready' && covered === 16384 && primaries.length === owners.size) return primaries;
    if (Date.now() > deadline) throw new Error('the cluster topology is not known yet');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The longest the first command waits for a connection to be made (a Cluster's topology learnt). */
const CLUSTER_READY_WAIT_MS = 10_000;

const TRANSIENT_REPLY = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK)\b/;

// Index sets are sorted sets scored by each member's expiry (ms, Redis's own clock: every process of a
// fleet judges a member's time alike). An add drops the lapsed members and sets the key to expire with
// its longest-lived member; a read returns the members still alive. A key still holding the plain SET
// of earlier versions (members without times of their own) is read as it is, and the first add turns
// it into a sorted set whose old members keep the old set's expiry.
const INDEX_SET_NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const INDEX_SET_SCRIPTS = {
  cdIndexAdd: `${INDEX_SET_NOW}
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'set' then
  local pttl = redis.call('PTTL', KEYS[1])
  local members = redis.call('SMEMBERS', KEYS[1])
  redis.call('DEL', KEYS[1])
  local until_ = now + tonumber(ARGV[2])
  if pttl > 0 then until_ = now + pttl end
  for _, m in ipairs(members) do redis.call('ZADD', KEYS[1], until_, m) end
elseif kind ~= 'none' and kind ~= 'zset' then
  return redis.error_reply('WRONGTYPE index set key holds a ' .. kind)
end
redis.call('ZADD', KEYS[1], 'GT', now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1`,
  cdIndexMembers: `${INDEX_SET_NOW}
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'set' then return redis.call('SMEMBERS', KEYS[1]) end
if kind ~= 'zset' then return {} end
return redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE')`,
};
interface IndexSetCommands {
  cdIndexAdd(key: string, member: string, ttlMs: string): Promise<number>;
  cdIndexMembers(key: string): Promise<string[]>;
}

export class RedisKv implements Kv {
  readonly kind = 'redis' as const;
  readonly client: Redis | Cluster;
  private subscriber?: Redis | Cluster;
  private readonly target: RedisTarget;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();
  private live = false;
  private readonly liveness = new Set<(live: boolean) => void>();
  /** Settles once the first connection attempt has (either way): without an offline queue, a command
   * sent while still connecting would be refused, so commands wait for this; afterwards they fail fast. */
  private readonly firstConnect: Promise<void>;

  constructor(
    target: string | RedisTarget,
    private readonly prefix: string,
  ) {
    this.target = typeof target === 'string' ? { url: target } : target;
    this.client = connect(this.target, { keyPrefix: prefix, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    this.client.on('error', () => {}); // surfaced through failed commands and /readyz
    for (const [name, lua] of Object.entries(INDEX_SET_SCRIPTS)) this.client.defineCommand(name, { numberOfKeys: 1, lua });
    this.firstConnect = new Promise<void>((resolve) => {
      // A Cluster client reports errors of single nodes while it learns the topology: only 'ready' (or
      // giving up, or CLUSTER_READY_WAIT_MS) ends its first attempt.
      const events = this.client instanceof Cluster ? (['ready', 'end'] as const) : (['ready', 'error', 'close', 'end'] as const);
      const settle = () => {
        clearTimeout(timer);
        for (const e of events) this.client.off(e, settle);
        resolve();
      };
      const timer = setTimeout(settle, CLUSTER_READY_WAIT_MS);
      timer.unref();
      for (const e of events) this.client.on(e, settle);
    });
  }

  async get(key: string) {
    return this.command(() => this.client.get(key));
  }
  async set(key: string, value: string, ttlSeconds?: number) {
    await this.command(() => (ttlSeconds ? this.client.set(key, value, 'EX', Math.max(1, Math.ceil(ttlSeconds))) : this.client.set(key, value)));
  }
  async setIfAbsent(key: string, value: string, ttlSeconds?: number) {
    const result = await this.command(() =>
      ttlSeconds ? this.client.set(key, value, 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX') : this.client.set(key, value, 'NX'),
    );
    return result === 'OK';
  }
  async del(...keys: string[]) {
    if (keys.length === 0) return;
    // On a Cluster the keys may live in different slots: one DEL each (a multi-key DEL would be CROSSSLOT).
    if (this.client instanceof Cluster) await this.command(() => Promise.all(keys.map((k) => this.client.del(k))));
    else await this.command(() => this.client.del(...keys));
  }
  async addToSet(key: string, member: string, ttlSeconds: number) {
    const ttlMs = Math.max(1, Math.ceil(ttlSeconds)) * 1000;
    await this.command(() => (this.client as Redis & IndexSetCommands).cdIndexAdd(key, member, String(ttlMs)));
  }
  async setMembers(key: string) {
    return this.command(() => (this.client as Redis & IndexSetCommands).cdIndexMembers(key));
  }
  async keys(prefix: string) {
    return this.command(async () => {
      const found: string[] = [];
      // A Cluster's keys are spread over its primaries: each one is scanned, once the client knows
      // the primary of every slot (a scan of some of them would miss keys, not fail).
      const nodes = this.client instanceof Cluster ? await clusterPrimaries(this.client) : [this.client];
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, batch] = await node.scan(cursor, 'MATCH', `${this.prefix}${prefix}*`, 'COUNT', 500);
          cursor = next;
          for (const k of batch) found.push(k.slice(this.prefix.length));
        } while (cursor !== '0');
      }
      return found;
    });
  }
  async publish(channel: string, message: string) {
    const full = `${this.prefix}${channel}`;
    if (this.client instanceof Cluster) {
      const cluster = this.client;
      // The shard channel counts as a key: the client's keyPrefix is applied to it, as to `full` below.
      return this.command(() => cluster.spublish(channel, message) as Promise<number>);
    }
    return this.command(() => this.client.publish(full, message));
  }
  async increment(key: string, ttlSeconds: number) {
    const [[, value]] = (await this.command(() => this.client.multi().incr(key).expire(key, Math.max(1, Math.ceil(ttlSeconds))).exec())) as [[Error | null, number]];
    return value;
  }
  /** Runs one command once the first connection attempt has settled; a lost or refused connection
   * becomes a KvUnavailableError (an outage, told apart by class), a Redis reply error stays as it is. */
  private async command<T>(run: () => Promise<T>): Promise<T> {
    await this.firstConnect;
    try {
      return await run();
    } catch (err) {
      // A primary being demoted, a replica still loading, a Cluster slot moving: outages, not bad requests.
      if (err instanceof ReplyError && !TRANSIENT_REPLY.test((err as Error).message)) throw err;
      throw new KvUnavailableError(`the cache is unavailable: ${(err as Error)?.message ?? err}`, { cause: err });
    }
  }
  async subscribe(channel: string, onMessage: (message: string) => void) {
    if (!this.subscriber) {
      this.subscriber = connect(this.target, { maxRetriesPerRequest: null });
      this.subscriber.on('error', () => {});
      const deliver = (ch: string, message: string) => {
        for (const handler of this.handlers.get(ch) ?? []) handler(message);
      };
      this.subscriber.on('message', deliver);
      this.subscriber.on('smessage', deliver);
      const subscriber = this.subscriber;
      subscriber.on('close', () => this.setLive(false));
      // Back after a lost connection: live again only once the server has confirmed every channel.
      subscriber.on('ready', () => {
        if (this.live || this.handlers.size === 0) return;
        this.subscribeTo(subscriber, [...this.handlers.keys()]).then(
          () => this.setLive(subscriber.status === 'ready'),
          () => {},
        );
      });
    }
    const full = `${this.prefix}${channel}`;
    if (!this.handlers.has(full)) {
      this.handlers.set(full, new Set());
      await this.subscribeTo(this.subscriber, [full]);
      if (this.subscriber.status === 'ready') this.setLive(true);
    }
    this.handlers.get(full)!.add(onMessage);
  }
  private subscribeTo(subscriber: Redis | Cluster, channels: string[]): Promise<unknown> {
    return subscriber instanceof Cluster ? Promise.all(channels.map((c) => subscriber.ssubscribe(c))) : subscriber.subscribe(...channels);
  }
  subscriptionLive() {
    return this.live;
  }
  onSubscriptionChange(listener: (live: boolean) => void) {
    this.liveness.add(listener);
    return () => void this.liveness.delete(listener);
  }
  private setLive(live: boolean) {
    if (this.live === live) return;
    this.live = live;
    for (const listener of [...this.liveness]) listener(live);
  }
  rateLimiter(options: Omit<IRateLimiterOptions, 'storeClient'>) {
    return new RateLimiterRedis({ ...options, storeClient: this.client, keyPrefix: `rl:${options.keyPrefix ?? 'default'}` });
  }
  async ping() {
    try {
      await this.firstConnect;
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }
  async close() {
    this.subscriber?.disconnect();
    this.setLive(false);
    await this.client.quit().catch(() => this.client.disconnect());
  }
  /** Runs a Lua script with keys given without the prefix. */
  async eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    return this.command(() => this.client.eval(script, keys.length, ...keys, ...args));
  }
}

interface Entry {
  /** A string, or an index set: each member with its own expiry (ms epoch). */
  value: string | Map<string, number>;
  expiresAt: number; // ms epoch; Infinity when none
}

export class MemoryKv implements Kv {
  readonly kind = 'memory' as const;
  private readonly data = new Map<string, Entry>();
  private readonly bus = new EventEmitter();
  private readonly sweeper: NodeJS.Timeout;

  constructor() {
    this.bus.setMaxListeners(0);
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  private live(key: string): Entry | undefined {
    const entry = this.data.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.data.delete(key);
      return undefined;
    }
    return entry;
  }
  private sweep() {
    const now = Date.now();
    for (const [key, entry] of this.data) if (entry.expiresAt <= now) this.data.delete(key);
  }
  private expiry(ttlSeconds?: number) {
    return ttlSeconds ? Date.now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY;
  }

  async get(key: string) {
    const v = this.live(key)?.value;
    return typeof v === 'string' ? v : null;
  }
  async set(key: string, value: string, ttlSeconds?: number) {
    this.data.set(key, { value, expiresAt: this.expiry(ttlSeconds) });
  }
  async setIfAbsent(key: string, value: string, ttlSeconds?: number) {
    if (this.live(key)) return false;
    this.data.set(key, { value, expiresAt: this.expiry(ttlSeconds) });
    return true;
  }
  async del(...keys: string[]) {
    for (const k of keys) this.data.delete(k);
  }
  async addToSet(key: string, member: string, ttlSeconds: number) {
    const now = Date.now();
    const expiresAt = now + Math.max(1, Math.ceil(ttlSeconds)) * 1000;
    const entry = this.live(key);
    const members = entry && entry.value instanceof Map ? entry.value : new Map<string, number>();
    members.set(member, Math.max(members.get(member) ?? 0, expiresAt));
    let last = 0;
    for (const [m, until] of members) {
      if (until <= now) members.delete(m);
      else last = Math.max(last, until);
    }
    this.data.set(key, { value: members, expiresAt: last });
  }
  async setMembers(key: string) {
    const v = this.live(key)?.value;
    if (!(v instanceof Map)) return [];
    const now = Date.now();
    return [...v].filter(([, until]) => until > now).map(([m]) => m);
  }
  async keys(prefix: string) {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix) && this.live(k));
  }
  async publish(channel: string, message: string) {
    // Like Redis, the count is of subscribed connections (here: this one process), not of handlers.
    return this.bus.emit(channel, message) ? 1 : 0;
  }
  async increment(key: string, ttlSeconds: number) {
    const next = Number((await this.get(key)) ?? 0) + 1;
    this.data.set(key, { value: String(next), expiresAt: this.expiry(ttlSeconds) });
    return next;
  }
  async subscribe(channel: string, onMessage: (message: string) => void) {
    this.bus.on(channel, onMessage);
  }
  /** In-process delivery cannot be lost: always live. */
  subscriptionLive() {
    return true;
  }
  onSubscriptionChange(_listener: (live: boolean) => void) {
    return () => {};
  }
  rateLimiter(options: Omit<IRateLimiterOptions, 'storeClient'>) {
    return new RateLimiterMemory(options);
  }
  async ping() {
    return true;
  }
  async close() {
    clearInterval(this.sweeper);
    this.bus.removeAllListeners();
  }
}
