"""What the Python benchmark drivers share: a signed-in client of the panel's server functions,
waiting, and building clusters of simulated agents (flotilla-agent-sim --answer-commands).
Standard library only."""
import http.cookiejar
import json
import sys
import time
import urllib.parse
import urllib.request


class Panel:
    def __init__(self, base, password):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.call("login", {"username": "admin", "password": password})

    def call(self, name, data, as_json=False):
        body = json.dumps(data).encode() if as_json else urllib.parse.urlencode(data).encode()
        req = urllib.request.Request(f"{self.base}/api/{name}", data=body, method="POST")
        req.add_header("Accept", "application/json")
        req.add_header("Origin", self.base)
        if as_json:
            req.add_header("Content-Type", "application/json")
        with self.opener.open(req, timeout=60) as r:
            return json.loads(r.read() or b"null")

    def online(self):
        """Every online node (pages of 1,000), by name."""
        rows, page = [], 1
        while True:
            data = self.call("list_nodes", {"status": "online", "per_page": "1000",
                                            "page": str(page)})["data"]["page"]
            rows += data["rows"]
            if data["page"] * data["per_page"] >= data["matched"]:
                return rows
            page += 1

    def build_clusters(self, nodes, count, managers=3, limit=900):
        """Groups `nodes` into `count` clusters (`managers` managers each, the rest workers),
        created at once, and waits until every creation workflow is done; returns their ids."""
        per = len(nodes) // count
        ids = []
        for c in range(count):
            group = nodes[c * per:(c + 1) * per]
            ids.append(self.call("create_cluster", {"draft": {
                "definition": {
                    "name": f"bench-{c}", "volumes": False, "vip_enabled": False, "vips": [],
                    "synctime": "1", "pools": [f"10.{100 + c // 250}.{c % 250}.0/24"],
                    "subnet_size": "28", "data_path_port": "4789", "listen_port": "2377",
                },
                "members": [{"node_id": n["id"], "role": "manager" if i < managers else "worker",
                             "labels": "", "interface": "eth0", "vip": False}
                            for i, n in enumerate(group)],
            }}, as_json=True))
        pending = set(ids)

        def built():
            for cid in list(pending):
                w = self.call("get_cluster", {"id": cid})["data"].get("workflow")
                if w is not None and w["status"] == "done":
                    pending.discard(cid)
            return not pending

        wait(f"{count} clusters built", built, limit=limit)
        return ids


def wait(what, check, limit=300):
    end = time.time() + limit
    while time.time() < end:
        if check():
            return
        time.sleep(1)
    sys.exit(f"timed out waiting for {what}")
