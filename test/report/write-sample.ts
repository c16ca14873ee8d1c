/**
 * `scripts/sample-report [FILE] [TENSORS] [--hostile]`: writes a report page of made-up data for a person to look
 * at (default: /tmp/truecast-sample-report.html, 2,000 tensors), replacing the file if it exists.
 */
import { writeReportPage } from "../../src/report/write-page.js";
import { samplePage } from "./sample-page.js";

const args = process.argv.slice(2).filter((a) => a !== "--hostile");
const file = args[0] ?? "/tmp/truecast-sample-report.html";
const tensors = Number(args[1] ?? 2000);
if (!Number.isSafeInteger(tensors) || tensors < 0) {
  process.stderr.write("usage: scripts/sample-report [FILE] [TENSORS] [--hostile]\n");
  process.exit(2);
}
await writeReportPage(file, samplePage({ tensors, hostile: process.argv.includes("--hostile") }), { force: true });
process.stdout.write(`${file}\n`);
