// The official TypeScript SDK client (the one Claude Code embeds), driven by JSON lines.
//
// Python tests and benchmarks run this as a process and write one request per line on its stdin;
// it answers each on stdout with one line carrying the request's "id". Requests run concurrently
// (a call sent while the server is down is answered later, after the test restarted it), so the
// answers may come in any order: match them by "id".
//
//   {"id": 1, "op": "connect", "client": "c", "url": "http://127.0.0.1:8123/mcp"}
//   {"id": 2, "op": "connect", "client": "s", "command": "python", "args": [...], "env": {...}, "cwd": "..."}
//   {"id": 3, "op": "call", "client": "c", "tool": "count_to", "arguments": {"n": 3}}
//       -> {"id": 3, "ok": true, "text": "counted 3", "progress": [{"progress": 1, "total": 3, ...}]}
//   {"id": 4, "op": "list_tools", "client": "c", "count": 30}
//       -> {"id": 4, "ok": true, "tools": ["add", ...], "ms": [1.9, ...]}
//   {"id": 5, "op": "interleave", "clients": ["a", "b"], "rounds": 60, "warmup": 3, "tool": "add", "arguments": {...}}
//       -> {"id": 5, "ok": true, "ms": {"a": [...], "b": [...]}}   (round-robin, the order rotating)
//   {"id": 6, "op": "close", "client": "c"}
//
// A failed request answers {"id": n, "ok": false, "error": "...", "code": <JSON-RPC code or null>}.
// A stdio client's server (the bridge) writes its stderr here as {"event": "stderr", "client": ..,
// "line": ..} lines, so a test can wait for its status lines. End of stdin closes every client.

import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

// Longer than any outage a test makes; the Python side bounds every wait itself.
const DEFAULT_TIMEOUT_MS = 120_000;

const clients = new Map();

function emit(document) {
  process.stdout.write(JSON.stringify(document) + "\n");
}

function clientNamed(name) {
  const client = clients.get(name);
  if (client === undefined) throw new Error(`no client named ${JSON.stringify(name)}`);
  return client;
}

function textOf(result) {
  return (result.content ?? [])
    .filter((part) => part.type === "text")
    .map((part) => part.text)
    .join("");
}

async function connect(request) {
  if (clients.has(request.client)) throw new Error(`client ${JSON.stringify(request.client)} exists`);
  let transport;
  if (request.url !== undefined) {
    transport = new StreamableHTTPClientTransport(new URL(request.url));
  } else {
    transport = new StdioClientTransport({
      command: request.command,
      args: request.args ?? [],
      env: request.env,
      cwd: request.cwd,
      stderr: "pipe",
    });
    // The pipe exists before start(): read it from the first byte on.
    const lines = createInterface({ input: transport.stderr });
    lines.on("line", (line) => emit({ event: "stderr", client: request.client, line }));
  }
  const client = new Client({ name: "ts-sdk-test-client", version: "1.0.0" }, { capabilities: {} });
  await client.connect(transport, { timeout: request.timeout_ms ?? DEFAULT_TIMEOUT_MS });
  clients.set(request.client, client);
  return { server: client.getServerVersion()?.name ?? null };
}

async function call(request) {
  const progress = [];
  const result = await clientNamed(request.client).callTool(
    { name: request.tool, arguments: request.arguments ?? {} },
    undefined,
    {
      timeout: request.timeout_ms ?? DEFAULT_TIMEOUT_MS,
      onprogress: ({ progress: step, total, message }) => progress.push({ progress: step, total, message }),
    },
  );
  return { text: textOf(result), is_error: result.isError === true, progress };
}

async function listTools(request) {
  const client = clientNamed(request.client);
  const ms = [];
  let tools = [];
  for (let index = 0; index < (request.count ?? 1); index++) {
    const started = performance.now();
    tools = (await client.listTools(undefined, { timeout: DEFAULT_TIMEOUT_MS })).tools;
    ms.push(performance.now() - started);
  }
  return { tools: tools.map((tool) => tool.name), ms };
}

// One call of each client per round, the order rotating, so noise on the machine hits all alike.
async function interleave(request) {
  const names = request.clients;
  const chosen = names.map(clientNamed);
  const once = (client) =>
    request.tool === undefined
      ? client.listTools(undefined, { timeout: DEFAULT_TIMEOUT_MS })
      : client.callTool({ name: request.tool, arguments: request.arguments ?? {} }, undefined, {
          timeout: DEFAULT_TIMEOUT_MS,
        });
  for (let round = 0; round < (request.warmup ?? 3); round++) {
    for (const client of chosen) await once(client);
  }
  const ms = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < request.rounds; round++) {
    for (let turn = 0; turn < names.length; turn++) {
      const index = (round + turn) % names.length;
      const started = performance.now();
      await once(chosen[index]);
      ms[names[index]].push(performance.now() - started);
    }
  }
  return { ms };
}

async function close(request) {
  const client = clientNamed(request.client);
  clients.delete(request.client);
  await client.close();
  return {};
}

const OPERATIONS = { connect, call, list_tools: listTools, interleave, close };

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    emit({ id: null, ok: false, error: `not JSON: ${error.message}`, code: null });
    return;
  }
  try {
    const operation = OPERATIONS[request.op];
    if (operation === undefined) throw new Error(`unknown op ${JSON.stringify(request.op)}`);
    emit({ id: request.id, ok: true, ...(await operation(request)) });
  } catch (error) {
    emit({ id: request.id, ok: false, error: String(error?.message ?? error), code: error?.code ?? null });
  }
}

const pending = new Set();
const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (line) => {
  if (line.trim() === "") return;
  const work = handle(line).finally(() => pending.delete(work));
  pending.add(work);
});
input.on("close", async () => {
  await Promise.allSettled([...pending]);
  await Promise.allSettled([...clients.values()].map((client) => client.close()));
  process.exit(0);
});
