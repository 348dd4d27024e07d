import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
const url = process.argv[2];
const client = new Client({ name: "lat", version: "0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
for (let i = 0; i < 5; i++) await client.listTools();
const t = [];
for (let i = 0; i < 30; i++) { const s = performance.now(); await client.listTools(); t.push(performance.now() - s); }
t.sort((a, b) => a - b);
console.log(t[15].toFixed(2));
await client.close();
