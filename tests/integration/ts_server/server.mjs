// Stateful Streamable HTTP MCP server on the official TypeScript SDK (v1, @modelcontextprotocol/sdk),
// for interop tests of the Python library.
//
//   node server.mjs --port N [--exit-on-stdin-close]
//
// * Listens on 127.0.0.1:N (N = 0 picks a free port) and prints exactly `READY <port>` on stdout once
//   listening. Nothing else is written to stdout; diagnostics go to stderr. On a listen error it exits 1
//   without printing READY.
// * MCP endpoint: POST/GET/DELETE /mcp. One SDK StreamableHTTPServerTransport + McpServer per session,
//   wired like the SDK's own example (examples/server/simpleStreamableHttp.js):
//     - `initialize` without Mcp-Session-Id            -> new session, id in the Mcp-Session-Id header
//     - known Mcp-Session-Id                           -> that session's transport
//     - unknown Mcp-Session-Id (also on `initialize`)  -> 404 {"jsonrpc":"2.0","error":{"code":-32001,
//                                                         "message":"Session not found"},"id":null}
//     - no Mcp-Session-Id and not `initialize`         -> 400 -32000 "Bad Request: No valid session ID provided"
//   Sessions live in memory only, so a restarted process answers every old id with that 404.
// * Tools: `bump` (increments the process-wide counter, returns it), `add` (a + b, readOnlyHint),
//   `peek` (returns the counter).
// * GET /_stats -> {"initializes": n, "tool_executions": {"bump": n, "add": n, "peek": n}, "pid": n},
//   counted since the process started; `initializes` counts `initialize` requests answered with a 2xx
//   status.
// * --exit-on-stdin-close: exit when stdin reaches EOF (start it with a stdin pipe you keep open), so the
//   server dies with its parent even if the parent cannot kill it. SIGTERM/SIGINT exit at once.

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

const MCP_PATH = '/mcp';
const STATS_PATH = '/_stats';
const MAX_BODY_BYTES = 4 * 1024 * 1024;

function parseArgs(argv) {
    let port;
    let exitOnStdinClose = false;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '--port' && i + 1 < argv.length) {
            port = argv[++i];
        } else if (arg.startsWith('--port=')) {
            port = arg.slice('--port='.length);
        } else if (arg === '--exit-on-stdin-close') {
            exitOnStdinClose = true;
        } else {
            usage(`unknown argument: ${arg}`);
        }
    }
    if (port === undefined || !/^\d+$/.test(port) || Number(port) > 65535) {
        usage('--port N is required (0-65535)');
    }
    return { port: Number(port), exitOnStdinClose };
}

function usage(message) {
    process.stderr.write(`server.mjs: ${message}\nusage: node server.mjs --port N [--exit-on-stdin-close]\n`);
    process.exit(2);
}

const options = parseArgs(process.argv.slice(2));

// ---- process-wide state -------------------------------------------------------------------------------

let counter = 0;
const stats = { initializes: 0, tool_executions: { bump: 0, add: 0, peek: 0 } };
/** @type {Map<string, StreamableHTTPServerTransport>} */
const sessions = new Map();

function buildMcpServer() {
    const server = new McpServer({ name: 'mcp-session-recovery-ts-interop', version: '0.0.0' });
    server.registerTool(
        'bump',
        { description: 'Increment the process-wide counter and return its new value.' },
        async () => {
            stats.tool_executions.bump++;
            counter++;
            return { content: [{ type: 'text', text: String(counter) }] };
        }
    );
    server.registerTool(
        'add',
        {
            description: 'Return a + b.',
            inputSchema: { a: z.number(), b: z.number() },
            annotations: { readOnlyHint: true }
        },
        async ({ a, b }) => {
            stats.tool_executions.add++;
            return { content: [{ type: 'text', text: String(a + b) }] };
        }
    );
    server.registerTool(
        'peek',
        { description: 'Return the process-wide counter without changing it.' },
        async () => {
            stats.tool_executions.peek++;
            return { content: [{ type: 'text', text: String(counter) }] };
        }
    );
    return server;
}

// ---- HTTP helpers -------------------------------------------------------------------------------------

function sendJson(res, status, payload, headers = {}) {
    const body = JSON.stringify(payload);
    res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        ...headers
    });
    res.end(body);
}

function sendJsonRpcError(res, status, code, message) {
    sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

function sessionNotFound(res) {
    sendJsonRpcError(res, 404, -32001, 'Session not found');
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on('data', chunk => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
                reject(Object.assign(new Error('body too large'), { tooLarge: true }));
                req.destroy();
                return;
            }
            chunks.push(chunk);
        });
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

function headerValue(req, name) {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
}

/** Count this response in stats.initializes once its status line is written with a 2xx status. */
function countInitializeOn2xx(res) {
    let counted = false;
    const count = status => {
        if (!counted && status >= 200 && status < 300) {
            counted = true;
            stats.initializes++;
        }
    };
    const writeHead = res.writeHead;
    res.writeHead = function (status, ...rest) {
        count(status);
        return writeHead.call(this, status, ...rest);
    };
    // Implicit headers (statusCode + write/end without writeHead).
    res.on('finish', () => count(res.statusCode));
}

// ---- MCP routing (SDK example wiring) -----------------------------------------------------------------

async function handlePost(req, res) {
    let raw;
    try {
        raw = await readBody(req);
    } catch (error) {
        if (error && error.tooLarge) {
            sendJsonRpcError(res, 413, -32000, 'Payload too large');
        }
        return;
    }
    let body;
    try {
        body = JSON.parse(raw);
    } catch {
        sendJsonRpcError(res, 400, -32700, 'Parse error: Invalid JSON');
        return;
    }

    const sessionId = headerValue(req, 'mcp-session-id');
    const existing = sessionId ? sessions.get(sessionId) : undefined;
    if (existing) {
        await existing.handleRequest(req, res, body);
        return;
    }
    if (sessionId) {
        // Unknown or expired session id (e.g. after a restart), even on `initialize`.
        sessionNotFound(res);
        return;
    }
    if (!isInitializeRequest(body)) {
        sendJsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
        return;
    }

    const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: id => {
            sessions.set(id, transport);
        }
    });
    transport.onclose = () => {
        const id = transport.sessionId;
        if (id && sessions.get(id) === transport) {
            sessions.delete(id);
        }
    };
    const server = buildMcpServer();
    await server.connect(transport);
    countInitializeOn2xx(res);
    await transport.handleRequest(req, res, body);
}

async function handleGetOrDelete(req, res) {
    const sessionId = headerValue(req, 'mcp-session-id');
    if (!sessionId) {
        sendJsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
        return;
    }
    const transport = sessions.get(sessionId);
    if (!transport) {
        sessionNotFound(res);
        return;
    }
    await transport.handleRequest(req, res);
}

async function handle(req, res) {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === STATS_PATH) {
        if (req.method !== 'GET') {
            sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET' });
            return;
        }
        sendJson(res, 200, { ...stats, tool_executions: { ...stats.tool_executions }, pid: process.pid });
        return;
    }
    if (path !== MCP_PATH) {
        sendJson(res, 404, { error: `no such path: ${path}` });
        return;
    }
    switch (req.method) {
        case 'POST':
            await handlePost(req, res);
            return;
        case 'GET':
        case 'DELETE':
            await handleGetOrDelete(req, res);
            return;
        default:
            res.writeHead(405, { Allow: 'GET, POST, DELETE', 'Content-Type': 'application/json; charset=utf-8' });
            res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }));
    }
}

// ---- main ---------------------------------------------------------------------------------------------

const httpServer = http.createServer((req, res) => {
    handle(req, res).catch(error => {
        process.stderr.write(`server.mjs: error handling ${req.method} ${req.url}: ${error?.stack ?? error}\n`);
        if (!res.headersSent) {
            sendJsonRpcError(res, 500, -32603, 'Internal server error');
        } else {
            res.destroy();
        }
    });
});

httpServer.on('error', error => {
    process.stderr.write(`server.mjs: cannot listen on 127.0.0.1:${options.port}: ${error.message}\n`);
    process.exit(1);
});

httpServer.on('listening', () => {
    const address = httpServer.address();
    process.stdout.write(`READY ${address.port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => process.exit(0));
}

if (options.exitOnStdinClose) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
}

httpServer.listen(options.port, '127.0.0.1');
