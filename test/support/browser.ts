/**
 * A real browser for the report page's tests: Debian's `chromium` driven headless by playwright-core (which
 * downloads nothing). Every request other than the page's own file:// URL is aborted and recorded, and console
 * errors and uncaught page errors are recorded, so a test can assert that there were none.
 */
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

/** Where chromium is looked for: `TRUECAST_CHROMIUM`, then Debian's and Ubuntu's paths. */
export function chromiumPath(): string {
  const candidates = [process.env.TRUECAST_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(`the report page tests need chromium, not found at ${candidates.join(" or ")}: run, as root, apt-get install -y chromium (or set TRUECAST_CHROMIUM)`);
  }
  return found;
}

/** Launch headless chromium (`--no-sandbox` when root, which chromium's sandbox refuses). */
export async function launchBrowser(): Promise<Browser> {
  const root = process.getuid?.() === 0;
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: root ? ["--no-sandbox"] : [] });
}

export interface OpenedPage {
  readonly page: Page;
  /** Requests other than the page itself (all aborted), console errors and page errors, one line each. */
  readonly problems: string[];
  close(): Promise<void>;
}

/** Open `file` in a fresh context of `browser`, with the network cut off and problems recorded. Waits until the page's script has run. */
export async function openPage(browser: Browser, file: string, viewport = { width: 1280, height: 900 }): Promise<OpenedPage> {
  const url = pathToFileURL(file).href;
  const context = await browser.newContext({ viewport, javaScriptEnabled: true });
  const problems: string[] = [];
  await context.route("**/*", async (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    problems.push(`request: ${u}`);
    return route.abort();
  });
  context.on("request", (r) => {
    if (r.url() !== url && !problems.includes(`request: ${r.url()}`)) problems.push(`request: ${r.url()}`);
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("html[data-ready]", { timeout: 60_000 });
  return { page, problems, close: () => context.close() };
}
