// Time from navigation to a hydrated, live dashboard in headless Chromium.
//
//   node end2end/bench/time-to-live.mjs http://127.0.0.1:8080/ [runs]
//
// For each run: a fresh browser context (cold cache), `page.goto`, then wait
// until the live indicator says "connected" (the WASM client has hydrated and
// its WebSocket subscription was answered). Reports the median and the max.
import { chromium } from "playwright-core";

const url = process.argv[2] ?? "http://127.0.0.1:8080/";
const runs = Number(process.argv[3] ?? 10);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const times = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const t0 = performance.now();
  await page.goto(url);
  const html = performance.now();
  await page.waitForSelector('.link[data-state="connected"]', { timeout: 30_000 });
  times.push([html - t0, performance.now() - t0]);
  await context.close();
}
await browser.close();
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => `${x.toFixed(0)} ms`;
console.log(
  `${runs} cold loads of ${url}: page loaded (HTML + scripts) median ${fmt(median(times.map((t) => t[0])))}, ` +
    `hydrated and live median ${fmt(median(times.map((t) => t[1])))}, max ${fmt(Math.max(...times.map((t) => t[1])))}`,
);
