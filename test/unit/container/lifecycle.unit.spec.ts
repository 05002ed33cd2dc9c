import {
  AppNotRunningError,
  Command,
  CommandHandler,
  Injectable,
  LifecycleHookError,
  Module,
  ShutdownTimeoutError,
  type OnInit,
  type OnStart,
  type OnStop,
} from 'potter';
import { createTestApp } from 'potter/testing';

const log: string[] = [];

function participant(name: string, fail?: 'onStart' | 'onStop') {
  return class implements OnInit, OnStart, OnStop {
    onInit(): void {
      log.push(`${name}.init`);
    }
    async onStart(): Promise<void> {
      await Promise.resolve();
      if (fail === 'onStart') throw new Error(`${name} cannot start`);
      log.push(`${name}.start`);
    }
    onStop(): void {
      log.push(`${name}.stop`);
      if (fail === 'onStop') throw new Error(`${name} cannot stop`);
    }
  };
}

beforeEach(() => (log.length = 0));

describe('lifecycle hooks', () => {
  const ConfigBase = participant('config');
  @Injectable()
  class Config extends ConfigBase {}
  const DbBase = participant('db');
  @Injectable()
  class Db extends DbBase {
    constructor(readonly config: Config) {
      super();
    }
  }
  const RepoBase = participant('repo');
  @Injectable()
  class Repo extends RepoBase {
    constructor(readonly db: Db) {
      super();
    }
  }

  it('run in dependency order on start and in reverse on stop, whatever the listing order', async () => {
    @Module({ providers: [Repo, Db, Config] })
    class App {}
    const app = await createTestApp(App);
    expect(log).toEqual(['config.init', 'db.init', 'repo.init']);
    expect(app.state).toBe('ready');
    await app.start();
    expect(app.state).toBe('running');
    await app.start(); // idempotent
    await app.stop();
    await app.stop(); // idempotent
    expect(app.state).toBe('stopped');
    expect(log).toEqual([
      'config.init',
      'db.init',
      'repo.init',
      'config.start',
      'db.start',
      'repo.start',
      'repo.stop',
      'db.stop',
      'config.stop',
    ]);
  });

  it('roll back the started providers when one fails to start', async () => {
    const BrokenBase = participant('broken', 'onStart');
    @Injectable()
    class Broken extends BrokenBase {
      constructor(readonly db: Db) {
        super();
      }
    }
    @Module({ providers: [Config, Db, Broken] })
    class App {}
    const app = await createTestApp(App);
    const error = await app.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LifecycleHookError);
    expect((error as LifecycleHookError).details).toEqual({ hook: 'onStart', provider: 'Broken' });
    expect((error as LifecycleHookError).cause).toEqual(new Error('broken cannot start'));
    expect(log.slice(3)).toEqual(['config.start', 'db.start', 'db.stop', 'config.stop']);
    expect(app.state).toBe('stopped');
  });

  it('run every onStop hook even when one fails, then report the failure', async () => {
    const BadStopBase = participant('bad', 'onStop');
    @Injectable()
    class BadStop extends BadStopBase {
      constructor(readonly db: Db) {
        super();
      }
    }
    @Module({ providers: [Config, Db, BadStop] })
    class App {}
    const app = await createTestApp(App);
    await app.start();
    await expect(app.stop()).rejects.toBeInstanceOf(LifecycleHookError);
    expect(log.slice(-3)).toEqual(['bad.stop', 'db.stop', 'config.stop']);
  });

  it('wraps a failing onInit', async () => {
    @Injectable()
    class BadInit {
      onInit(): void {
        throw new Error('no config');
      }
    }
    @Module({ providers: [BadInit] })
    class App {}
    await expect(createTestApp(App)).rejects.toMatchObject({
      code: 'POTTER_LIFECYCLE_HOOK_FAILED',
      details: { hook: 'onInit', provider: 'BadInit' },
    });
  });
});

describe('graceful stop', () => {
  @Command()
  class Slow {
    constructor(readonly ms: number) {}
  }
  const finished: number[] = [];
  @CommandHandler(Slow)
  class SlowHandler {
    async execute(cmd: Slow): Promise<number> {
      await new Promise((r) => setTimeout(r, cmd.ms));
      finished.push(cmd.ms);
      return cmd.ms;
    }
  }
  @Injectable()
  class Resource implements OnStop {
    onStop(): void {
      log.push(`resource.stop after ${finished.length} finished`);
    }
  }
  @Module({ providers: [Resource], handlers: [SlowHandler] })
  class App {}

  beforeEach(() => (finished.length = 0));

  it('waits for in-flight handlers before onStop, and rejects new messages with a clear error', async () => {
    const app = await createTestApp(App);
    await app.start();
    const inFlight = [app.commandBus.execute(new Slow(30)), app.commandBus.execute(new Slow(60))];
    const stopping = app.stop();
    const rejected = await app.commandBus.execute(new Slow(1)).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(AppNotRunningError);
    expect((rejected as AppNotRunningError).message).toBe(
      'Cannot dispatch Slow: the application is stopping.',
    );
    await stopping;
    await expect(Promise.all(inFlight)).resolves.toEqual([30, 60]);
    expect(log).toEqual(['resource.stop after 2 finished']);
    await expect(app.commandBus.execute(new Slow(1))).rejects.toMatchObject({
      code: 'POTTER_APP_NOT_RUNNING',
      details: { state: 'stopped' },
    });
    await expect(app.eventBus.publish(new Slow(1))).rejects.toMatchObject({ code: 'POTTER_INVALID_MESSAGE' });
  });

  it('gives up after the deadline with ShutdownTimeoutError, still running onStop', async () => {
    const app = await createTestApp(App);
    const slow = app.commandBus.execute(new Slow(300));
    await expect(app.stop({ timeoutMs: 20 })).rejects.toBeInstanceOf(ShutdownTimeoutError);
    expect(log).toEqual(['resource.stop after 0 finished']);
    await slow;
  });

  it('stops on SIGTERM once started (signal handlers removed on stop)', async () => {
    const app = await createTestApp(App, { shutdownSignals: ['SIGTERM'], exitOnSignal: false });
    const before = process.listenerCount('SIGTERM');
    await app.start();
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    const inFlight = app.commandBus.execute(new Slow(20));
    process.emit('SIGTERM');
    await inFlight;
    await app.stop();
    expect(app.state).toBe('stopped');
    expect(finished).toEqual([20]);
    expect(log).toEqual(['resource.stop after 1 finished']);
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});
