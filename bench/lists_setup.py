"""Prepares bench/lists.sh: waits for the simulated agents and builds clusters of 10 of them.
Standard library only."""
import sys

from panel_api import Panel, wait

base, password, agents, clusters = sys.argv[1:5]
agents, clusters = int(agents), int(clusters)
panel = Panel(base, password)
wait(f"{agents} agents online", lambda: len(panel.online()) >= agents, limit=600)
nodes = sorted(panel.online(), key=lambda n: n["hostname"])[:agents]
panel.build_clusters(nodes, clusters, limit=1800)
