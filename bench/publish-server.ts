/**
 * The Hub double in a process of its own, for bench/publish.ts (so the clients' peak RSS is measured apart from
 * the server's). Started with `fork()`; talks over the IPC channel:
 *   → { type: "ready", url, storageUrl }                       once listening
 *   ← { type: "reset" }   → { type: "reset-done", objects, cpuSeconds }  forget and delete every stored LFS object,
 *                                                                so the next run uploads everything again; cpuSeconds:
 *                                                                CPU time used since the last reset
 *   ← { type: "stop" }    → { type: "stopped", maxRssBytes }     stop the double, report this process's peak RSS
 *
 *   argv[2]: JSON HubDoubleOptions (e.g. {"multipartThreshold": 1e12})
 */
import { rm } from "node:fs/promises";
import { startHubDouble, type HubDoubleOptions } from "../test/support/hub-double.js";

type Command = { type: "reset" } | { type: "stop" };

const send = (m: unknown) => new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

const options = JSON.parse(process.argv[2] ?? "{}") as HubDoubleOptions;
const double = await startHubDouble(options);
await send({ type: "ready", url: double.url, storageUrl: double.storageUrl });

/** CPU time is reported per reset: what the double spent serving the run before it. */
let lastCpu = process.cpuUsage();
process.on("message", (m: Command) => {
  void (async () => {
    if (m.type === "reset") {
      const oids = [...double.state.objects.keys()];
      double.state.objects.clear();
      double.state.repos.clear();
      double.requests.splice(0);
      for (const oid of oids) await rm(double.state.objectPath(oid), { force: true });
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      await send({ type: "reset-done", objects: oids.length, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
    } else if (m.type === "stop") {
      await double.stop();
      // resourceUsage().maxRSS is in kilobytes.
      await send({ type: "stopped", maxRssBytes: process.resourceUsage().maxRSS * 1024 });
      process.exit(0);
    }
  })();
});
