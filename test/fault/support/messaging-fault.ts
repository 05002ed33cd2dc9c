import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { BrokerMessage, MessageEnvelope } from 'potter';

/**
 * Support of the messaging fault tests: worker processes (test/fault/support/messaging-*-worker.js,
 * running the compiled package) that print JSON lines, envelopes, and a private `redis-server`.
 */

const ROOT = join(__dirname, '..', '..', '..');

/** One line a worker printed. */
export interface Line {
  t: string;
  at: number;
  [key: string]: unknown;
}

/** A running worker process and the lines it printed. */
export class ProcessWorker {
  readonly name: string;
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: Line[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(script: string, env: Record<string, string>, name = script) {
    this.name = name;
    this.child = spawn(process.execPath, [join(__dirname, script)], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) {
        if (part.trim() === '') continue;
        try {
          this.lines.push(JSON.parse(part) as Line);
        } catch {
          this.lines.push({ t: 'text', at: Date.now(), text: part });
        }
      }
      this.#notify();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#notify();
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  of(t: string): Line[] {
    return this.lines.filter((line) => line.t === t);
  }

  /** Resolves once `check` holds (checked on each line and exit); rejects on exit or timeout. */
  async until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (check()) return;
      const error = this.lines.find((line) => line.t === 'error');
      if (error) throw new Error(`${this.describe()}\nreported an error before ${what}`);
      if (this.#exit)
        throw new Error(`${this.describe()}\nexited (${JSON.stringify(this.#exit)}) before ${what}`);
      if (Date.now() > deadline) throw new Error(`${this.describe()}\nno ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(1, Math.min(250, deadline - Date.now())));
        const waiters = this.#waiters;
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }

  describe(): string {
    const tail = this.lines
      .slice(-8)
      .map((line) => JSON.stringify(line))
      .join('\n  ');
    return `${this.name} (pid ${this.child.pid})\n  last lines:\n  ${tail}\n  stderr: ${this.#stderr.slice(-1500)}`;
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Starts workers and makes sure none survives its test (SIGKILL in `afterEach`). */
export function useProcessWorkers(): {
  start(script: string, env: Record<string, string>, name?: string): ProcessWorker;
} {
  const workers: ProcessWorker[] = [];
  afterEach(async () => {
    const survivors = workers.splice(0);
    for (const worker of survivors) worker.signal('SIGKILL');
    await Promise.all(survivors.map((worker) => worker.exited));
  });
  return {
    start(script, env, name) {
      const worker = new ProcessWorker(script, env, name);
      workers.push(worker);
      return worker;
    },
  };
}

/** An envelope carrying `{ n }`. */
export function numbered(n: number): MessageEnvelope {
  return {
    id: randomUUID(),
    type: 'fault.Numbered',
    kind: 'event',
    payload: { n },
    metadata: {
      correlationId: randomUUID(),
      timestamp: new Date().toISOString(),
      schemaVersion: 1,
      headers: {},
    },
  };
}

export const nOf = (message: BrokerMessage): number => (message.envelope.payload as { n: number }).n;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true; on timeout fails with `what` and `explain()`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
  explain: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await sleep(20);
  }
}

/** A free TCP port on 127.0.0.1 (free when asked: the caller binds it right away). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * A `redis-server` of the test's own (the shared test Redis runs without persistence), with the
 * append-only file fsynced on every write and no RDB snapshots, in `dir`, on `port`.
 */
export class PrivateRedis {
  readonly port: number;
  readonly dir: string;
  #process: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until it answers PING (and has loaded its AOF). */
  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--protected-mode',
        'yes',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.on('error', (error) => (this.#output += `spawn error: ${String(error)}\n`));
    const collect = (chunk: Buffer): void =>
      void (this.#output = (this.#output + chunk.toString()).slice(-4000));
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.#process = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await until(
      async () => (await this.ping()) === 'PONG',
      `redis-server on port ${this.port}`,
      10_000,
      () => this.#output,
    );
  }

  /** Stops it with `signal` (SIGTERM: graceful shutdown; SIGKILL: a crash) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }

  get output(): string {
    return this.#output;
  }

  /** One PING over a raw socket ('PONG', or the error/loading reply), undefined when not reachable. */
  ping(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      let reply = '';
      const finish = (value: string | undefined): void => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(1000, () => finish(undefined));
      socket.on('error', () => finish(undefined));
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (chunk) => {
        reply += chunk.toString();
        if (reply.endsWith('\r\n')) finish(reply.replace(/^[+-]/, '').trim());
      });
    });
  }
}

/**
 * A one-node KRaft Kafka broker of the test's own (so that restarting it disturbs no other test
 * using the shared broker), run from the jars `scripts/services/up kafka` cached, with its log dir
 * in `dir`. The data survives `stop()` + `start()`.
 */
export class PrivateKafka {
  readonly dir: string;
  readonly port: number;
  readonly controllerPort: number;
  #process: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';
  #formatted = false;

  constructor(dir: string, port: number, controllerPort: number) {
    this.dir = dir;
    this.port = port;
    this.controllerPort = controllerPort;
  }

  static readonly LIBS = join(ROOT, '.cache', 'services', 'kafka', '3.9.1', 'libs');

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  get output(): string {
    return this.#output;
  }

  #javaArgs(): string[] {
    return [
      '-Xms128m',
      '-Xmx384m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(this.dir, 'log4j.properties')}`,
      `-Dkafka.logs.dir=${this.dir}`,
      '-cp',
      `${PrivateKafka.LIBS}/*`,
    ];
  }

  #format(): void {
    if (!existsSync(join(PrivateKafka.LIBS, '.complete'))) {
      throw new Error(
        `Kafka's jars are not in ${PrivateKafka.LIBS}: run \`bash scripts/services/up kafka\` first (it fetches them).`,
      );
    }
    const config = join(this.dir, 'server.properties');
    writeFileSync(
      config,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${this.controllerPort}`,
        `listeners=PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${this.controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${this.port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        `log.dirs=${join(this.dir, 'data')}`,
        'auto.create.topics.enable=false',
        'num.partitions=3',
        'default.replication.factor=1',
        'min.insync.replicas=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=1',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'transaction.state.log.num.partitions=1',
        'group.initial.rebalance.delay.ms=0',
        'num.network.threads=2',
        'num.io.threads=2',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(this.dir, 'log4j.properties'),
      [
        'log4j.rootLogger=WARN, file',
        'log4j.appender.file=org.apache.log4j.FileAppender',
        `log4j.appender.file.File=${join(this.dir, 'kafka.log')}`,
        'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
        '',
      ].join('\n'),
    );
    const format = spawnSync(
      'java',
      [
        ...this.#javaArgs(),
        'kafka.tools.StorageTool',
        'format',
        '-t',
        'cG90dGVyRmF1bHRUZXN0MQ',
        '-c',
        config,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (format.status !== 0) {
      throw new Error(
        `kafka-storage format failed (${format.error ?? format.status}): ${format.stderr}${format.stdout}`,
      );
    }
    this.#formatted = true;
  }

  /** Starts the broker (formatting its log dir the first time) and waits until it serves metadata. */
  async start(): Promise<void> {
    if (!this.#formatted) this.#format();
    const child = spawn('java', [...this.#javaArgs(), 'kafka.Kafka', join(this.dir, 'server.properties')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.on('error', (error) => (this.#output += `spawn error: ${String(error)}\n`));
    const collect = (chunk: Buffer): void =>
      void (this.#output = (this.#output + chunk.toString()).slice(-4000));
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.#process = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const admin = new Kafka({
      brokers: this.brokers,
      clientId: 'potter-fault-probe',
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retry: { retries: 0 },
    }).admin();
    try {
      await until(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null)
            throw new Error(`Kafka exited: ${this.#output}`);
          try {
            await admin.connect();
            const cluster = await admin.describeCluster();
            return cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0;
          } catch {
            await admin.disconnect().catch(() => undefined);
            return false;
          }
        },
        `the private Kafka broker on port ${this.port}`,
        60_000,
        () => this.#output,
      );
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /** Stops it with `signal` (SIGTERM: controlled shutdown; SIGKILL: a crash) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
