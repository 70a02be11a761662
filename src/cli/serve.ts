/**
 * `consistency serve SITE_DIR [--port 8080] [--host 127.0.0.1]`: serves a folder that
 * `consistency web` built on this machine, with the cross-origin isolation headers that let
 * onnxruntime-web use wasm threads. Only files inside the folder are served; it runs until
 * interrupted (Ctrl-C).
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { Command } from './command.js';
import { UsageError, num, parseFlags, helpText, str, type FlagSpecs } from './args.js';

const NAME = 'consistency serve';
const USAGE = `${NAME} SITE_DIR [--port 8080] [--host 127.0.0.1]`;
const SUMMARY = "serve a site built by 'consistency web' on localhost";

const FLAGS: FlagSpecs = {
  port: { kind: 'int', help: 'TCP port (0: any free port)', default: 8080 },
  host: { kind: 'string', help: 'address to listen on', default: '127.0.0.1' },
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** A static file server for `root` (resolves once it listens). */
export function serveSite(root: string, port: number, host: string): Promise<Server> {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-cache' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      res.writeHead(400, headers).end();
      return;
    }
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolvePromise(server));
  });
}

async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText(USAGE, SUMMARY, FLAGS));
    return 0;
  }
  const f = parseFlags(NAME, argv, FLAGS);
  const [dir, extra] = f._;
  if (dir === undefined) throw new UsageError(`${NAME}: the site folder is required (usage: ${USAGE})`);
  if (extra !== undefined) throw new UsageError(`${NAME}: unexpected argument '${extra}'`);
  let isSite = false;
  try {
    isSite = statSync(join(dir, 'index.html')).isFile();
  } catch {
    /* reported below */
  }
  if (!isSite) throw new UsageError(`${NAME}: ${resolve(dir)} has no index.html (build it with 'consistency web --ckpt RUN --out ${dir}')`);
  const port = num(f, 'port')!;
  if (port < 0 || port > 65535) throw new UsageError(`${NAME}: --port must be in [0, 65535]; got ${port}`);
  let server: Server;
  try {
    server = await serveSite(dir, port, str(f, 'host')!);
  } catch (e) {
    throw new UsageError(`${NAME}: cannot listen on ${str(f, 'host')}:${port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  console.log(`http://${str(f, 'host')}:${actualPort}/`);
  await new Promise<void>((done) => {
    const stop = (): void => {
      server.close(() => done());
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

const command: Command = { summary: SUMMARY, run };
export default command;
