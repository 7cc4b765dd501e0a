"""Replica benchmark driver (bench/replicas.sh): waits until replica B shows every agent online,
then times `refresh_node` (a RefreshFacts command and the agent's answer) issued on B for nodes
whose agents replica A holds, and the same issued on A."""
import random
import statistics
import sys
import time

from panel_api import Panel, wait

a_base, b_base, password, agents, started = sys.argv[1:6]
agents, started = int(agents), float(started)
a, b = Panel(a_base, password), Panel(b_base, password)

wait(f"{agents} agents online on B", lambda: b.call("list_nodes", {"status": "online", "per_page": "25"})
     ["data"]["page"]["matched"] >= agents, limit=600)
print(f"agents: {agents} connected to A; all online on B after {time.time() - started:.1f} s")

ids = [n["id"] for n in b.online()]
random.seed(7)


def timed(panel, n=200):
    times = []
    for node in random.choices(ids, k=n):
        t = time.perf_counter()
        panel.call("refresh_node", {"id": node})
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


for label, panel in (("on B (agent held by A)", b), ("on A (agent held here)", a)):
    p50, p99 = timed(panel)
    print(f"command round trip {label:<24} p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  (200 refresh_node calls)")
