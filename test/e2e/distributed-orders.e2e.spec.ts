import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { kafkaBrokers, redisUrl } from '../support/services';
import { root } from './support/run-example';

const built = (file: string): string => join(root, 'build', 'examples', 'distributed-orders', 'src', file);

interface Service {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  exited: Promise<number | null>;
}

function start(file: string, args: string[], env: Record<string, string>): Service {
  if (!existsSync(built(file))) throw new Error(`${built(file)} is missing: run \`npm run build\` first.`);
  const child = spawn(process.execPath, [built(file), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each([
  ['Kafka', []],
  ['Redis', ['--redis']],
] as const)('examples/distributed-orders on %s', (broker, args) => {
  const run = `e2e${Date.now().toString(36)}${broker.toLowerCase()}`;
  let dataDir: string;
  const services: Service[] = [];
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'potter-distributed-orders-'));
  });
  afterAll(async () => {
    for (const s of services) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    if (broker === 'Redis') {
      const client = createClient({ url: redisUrl() });
      await client.connect();
      const keys = await client.keys(`*distributed-orders.${run}*`);
      if (keys.length > 0) await client.del(keys);
      await client.quit();
    }
  });

  it('two processes exchange events: every order placed is shipped, correlation ids carried through', async () => {
    const env = {
      POTTER_RUN_ID: run,
      POTTER_ORDERS: '6',
      POTTER_DATA_DIR: join(dataDir, 'orders'),
      POTTER_KAFKA_BROKERS: kafkaBrokers().join(','),
      POTTER_REDIS_URL: redisUrl(),
      POTTER_TIMEOUT_MS: '45000',
    };
    const shipping = start('shipping-service.js', [...args], env);
    services.push(shipping);
    await until(() => shipping.output().includes('shipping service: ready'), 'the shipping service');
    const orders = start('order-service.js', [...args], env);
    services.push(orders);
    const code = await orders.exited;
    const out = orders.output();
    expect({ code, out }).toMatchObject({ code: 0 });
    expect(out).toContain('all 6 orders shipped');
    for (let i = 1; i <= 6; i++) {
      // Shipped once each, and the reply carries the checkout's correlation id across both hops.
      expect(out).toContain(
        `${run}-${i} shipped with ${i * 10 >= 30 ? 'ups' : 'dhl'} (correlation checkout-${run}-${i})`,
      );
      expect(shipping.output().split(`shipping ${run}-${i} for`).length - 1).toBe(1);
    }
    shipping.child.kill('SIGTERM');
    expect(await shipping.exited).toBe(0);
  }, 90_000);
});
