"""Drives bench/config-fanout.sh: waits for the simulated agents, builds the clusters, saves a
new Global Config version on each at once and reports acknowledgement latencies and the panel's
CPU time. Standard library only."""
import http.cookiejar
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request

base, password, sim_log, panel_pid, agents, clusters = sys.argv[1:7]
agents, clusters = int(agents), int(clusters)
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def call(name, data, as_json=False):
    body = json.dumps(data).encode() if as_json else urllib.parse.urlencode(data).encode()
    req = urllib.request.Request(f"{base}/api/{name}", data=body, method="POST")
    req.add_header("Accept", "application/json")
    req.add_header("Origin", base)
    if as_json:
        req.add_header("Content-Type", "application/json")
    with opener.open(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


call("login", {"username": "admin", "password": password})


def wait(what, check, limit=300):
    end = time.time() + limit
    while time.time() < end:
        if check():
            return
        time.sleep(1)
    sys.exit(f"timed out waiting for {what}")


def online():
    return [n for n in call("list_nodes", {})["data"] if n["connectivity"] == "Online"]


wait(f"{agents} agents online", lambda: len(online()) >= agents)
nodes = sorted(online(), key=lambda n: n["hostname"])[:agents]
per = agents // clusters
ids = []
for c in range(clusters):
    group = nodes[c * per:(c + 1) * per]
    ids.append(call("create_cluster", {"draft": {
        "definition": {
            "name": f"fanout-{c}", "volumes": False, "vip_enabled": False, "vips": [],
            "synctime": "1", "pools": [f"10.{100 + c}.0.0/16"], "subnet_size": "24",
            "data_path_port": "4789", "listen_port": "2377",
        },
        "members": [{"node_id": n["id"], "role": "manager" if i < 3 else "worker", "labels": "",
                     "interface": "eth0", "vip": False} for i, n in enumerate(group)],
    }}, as_json=True))


def built(cid):
    w = call("get_cluster", {"id": cid})["data"].get("workflow")
    return w is not None and w["status"] == "done"


wait("every cluster built", lambda: all(built(c) for c in ids), limit=600)
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
