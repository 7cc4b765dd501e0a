// Driver of bench/first-load.sh: node bench/first_load.mjs BASE PASSWORD RUNS LATENCY_MS KBIT_S
import { createRequire } from "node:module";
const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("@playwright/test");

const [base, password, runs, latency, kbits] = process.argv.slice(2);
const bytesPerSec = (Number(kbits) * 1000) / 8;

async function once(browser, cookies) {
  const context = await browser.newContext({ baseURL: base, ignoreHTTPSErrors: true });
  await context.addCookies(cookies);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: Number(latency),
    downloadThroughput: bytesPerSec,
    uploadThroughput: bytesPerSec,
  });
  const start = Date.now();
  await page.goto("/nodes", { waitUntil: "commit" });
  await page.waitForSelector('#app[data-hydrated="true"]', { timeout: 120_000 });
  const live = Date.now() - start;
  const stats = await page.evaluate(() => {
    const all = performance.getEntriesByType("resource");
    const nav = performance.getEntriesByType("navigation")[0];
    return {
      requests: all.length + 1,
      bytes: all.reduce((n, e) => n + e.transferSize, nav.transferSize),
      protocol: nav.nextHopProtocol,
    };
  });
  await context.close();
  return { live, ...stats };
}

async function series(label, args) {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args });
  const setup = await browser.newContext({ baseURL: base, ignoreHTTPSErrors: true });
  const signed = await setup.request.post("/api/login", {
    form: { username: "admin", password },
    headers: { Accept: "application/json" },
  });
  if (!signed.ok()) throw new Error(`sign-in failed: ${signed.status()}`);
  const cookies = await setup.cookies();
  await setup.close();
  const results = [];
  for (let i = 0; i < Number(runs); i++) results.push(await once(browser, cookies));
  await browser.close();
  const times = results.map((r) => r.live).sort((a, b) => a - b);
  const last = results[results.length - 1];
  console.log(
    `${label}: live after p50 ${times[Math.floor(times.length / 2)]} ms (min ${times[0]}, max ${times[times.length - 1]}), ` +
      `${last.requests} requests, ${last.bytes.toLocaleString("en")} B on the wire, protocol ${last.protocol}`,
  );
}

console.log(`first page /nodes, cold cache, ${runs} runs, RTT +${latency} ms, ${kbits} kbit/s`);
// The protocol column shows what the panel negotiated (HTTP/1.1 since HTTP/2 was taken out).
await series("first page", []);
