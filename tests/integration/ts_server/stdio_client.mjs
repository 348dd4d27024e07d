// The official TypeScript SDK client over stdio to a command (a stdio bridge), driven line by line:
// for each line "call TOOL" on stdin it calls the tool and prints one JSON line {"text": ...} or
// {"error": ...}; it prints {"ready": true} once initialized and exits when stdin closes.
//
//   node stdio_client.mjs COMMAND [ARG ...]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createInterface } from "node:readline";

const [command, ...args] = process.argv.slice(2);
const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "inherit" });
const client = new Client({ name: "ts-stdio-host", version: "1.0.0" });
await client.connect(transport);
console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  const [verb, tool] = line.trim().split(" ");
  if (verb !== "call") continue;
  try {
    const result = await client.callTool({ name: tool, arguments: {} }, undefined, { timeout: 30000 });
    console.log(JSON.stringify({ text: result.content[0].text, isError: Boolean(result.isError) }));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error) }));
  }
}
await client.close();
