/**
 * Free loopback ports for tests: servers that must not answer (a dead Temporal, PostgreSQL or S3) and
 * processes that need a port of their own. The OS could hand the port to someone else before the test
 * binds it; in a test run that race is practically nil, and nothing in src/ relies on it.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** Asks the OS for a free loopback port (listen on port 0, read it, close). */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
