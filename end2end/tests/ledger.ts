// The ledger: a writer service for the cluster volume's tests and benchmark, and the collector
// of what it acknowledges.
import { createServer, Socket } from "node:net";
import { APIRequestContext } from "@playwright/test";
import { api } from "./helpers";

// The ledger writes like the keeper and reports each number once its write returned, with its
// node, to a collector the test runs on the host.
export const COLLECTOR_PORT = 3199;
export const LEDGER = `services:
  writer:
    image: flotilla-lab/busybox:1
    environment:
      NODE: "{{.Node.Hostname}}"
    command: [sh, -c, "i=$(tail -n1 /data/seq 2>/dev/null || echo 0); while true; do i=$((i+1)); echo $i | dd of=/data/seq oflag=append conv=notrunc,fsync 2>/dev/null || exit 1; echo \\"$NODE $i\\"; sleep 0.02; done | nc 10.77.0.1 ${COLLECTOR_PORT}"]
    volumes: ["data:/data"]
volumes:
  data:
    driver: flotilla-cluster
`;

/** A collector of the ledger's reports on the host: each line "NODE NUMBER", with its time. */
export async function collect() {
  const acks: { at: number; node: string; n: number }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let rest = "";
    socket.on("data", (chunk) => {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        const [node, n] = line.trim().split(" ");
        if (node && n) acks.push({ at: Date.now(), node, n: Number(n) });
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(COLLECTOR_PORT, "10.77.0.1", done));
  const close = () => new Promise<void>((done) => {
    for (const s of sockets) s.destroy();
    server.close(() => done());
  });
  return { acks, close };
}

/** Adds the ledger as the app `title` and installs it on the cluster as `name`, one writer: the
 * installed app's id. */
export async function installLedger(request: APIRequestContext, clusterId: string, title: string, name: string): Promise<string> {
  const app = await api(request, "create_app", { draft: { name: title, kind: "app", model_format: "", description: "" } });
  const version = await api(request, "add_app_version", { app_id: app, draft: { version: "1", compose: LEDGER } });
  return api(request, "install_app", {
    cluster_id: clusterId,
    draft: {
      version_id: version, name, secrets: [],
      services: [{ name: "writer", mode: "replicated", replicas: "1", constraints: "", spread: "", ports: [] }],
    },
  });
}
