"""Drives bench/config-fanout.sh: waits for the simulated agents, builds the clusters, saves a
new Global Config version on each at once and reports acknowledgement latencies and the panel's
CPU time. Standard library only."""
import json
import os
import sys
import threading
import time

from panel_api import Panel, wait

base, password, sim_log, panel_pid, agents, clusters = sys.argv[1:7]
agents, clusters = int(agents), int(clusters)
panel = Panel(base, password)
call = panel.call


wait(f"{agents} agents online", lambda: len(panel.online()) >= agents)
nodes = sorted(panel.online(), key=lambda n: n["hostname"])[:agents]
per = agents // clusters
ids = panel.build_clusters(nodes, clusters, limit=600)
time.sleep(3)


def ticks():
    with open(f"/proc/{panel_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


saved = {}
cpu0, t0 = ticks(), time.time()


def save(cid):
    saved[cid] = time.time() * 1000
    call("save_global_config", {"cluster_id": cid, "base": "0",
                                "document": json.dumps({"line": "A", "speed": 3}), "uploaded": "false"})


threads = [threading.Thread(target=save, args=(c,)) for c in ids]
for t in threads:
    t.start()
for t in threads:
    t.join()


def acks():
    out = []
    with open(sim_log) as f:
        for line in f:
            if line.startswith("config-acked ") and " version=1 " in line:
                kv = dict(p.split("=", 1) for p in line.split()[1:])
                if kv["cluster"] in saved:
                    out.append(int(kv["at_ms"]) - saved[kv["cluster"]])
    return out


wait("every acknowledgement", lambda: len(acks()) >= agents, limit=120)
cpu1, t1 = ticks(), time.time()
lat = sorted(acks())
hz = os.sysconf("SC_CLK_TCK")
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
synced = sum(
    1 for c in ids for n in call("global_config", {"cluster_id": c})["data"]["nodes"]
    if n["state"]["state"] == "synced" and n["version"] == 1)
print(f"agents, clusters:        {agents} in {clusters} clusters of {per}")
print(f"acknowledged version 1:  {len(lat)} (panel shows {synced} synced)")
print(f"latency p50 / p99 / max: {pick(0.5):.0f} / {pick(0.99):.0f} / {lat[-1]:.0f} ms")
print(f"panel CPU during it:     {(cpu1 - cpu0) / hz:.2f} s over {t1 - t0:.2f} s"
      f" ({(cpu1 - cpu0) / hz / (t1 - t0) * 100:.0f} % of one core)")
