#!/usr/bin/env python3
"""bench/tools/tracks_setup.py: set-up of bench/tracks.sh.

  tracks_setup.py people PORT ADMIN_TOKEN N OUT.json   N inspectors, logged in and checked in;
                                                        writes [{token, base}] for tracks_load.js
  tracks_setup.py baseline DEV0 N B SIZE BASE OUTDIR    the same rows as tracks_load.js would send,
                                                        as multi-row INSERTs (SIZE rows each) into
                                                        track_points, one file per client
  tracks_setup.py latest N REGION                       SQL for N on-duty users with a position
"""
import json
import sys
import urllib.request


def call(port, method, path, token, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"{}")


def people(port, admin, n, out):
    clients = []
    for i in range(int(n)):
        user = f"benchgps{i}"
        pw = "Bench-Gps!2026x"
        try:
            call(port, "POST", "/api/v1/admin/users", admin,
                 {"username": user, "password": pw, "display_name": f"压测{i}",
                  "roles": ["inspector"]})
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
        tok = call(port, "POST", "/api/v1/auth/login", None,
                   {"account": user, "password": pw, "device_id": f"bench-{i}",
                    "platform": "android"})["access_token"]
        try:
            c = call(port, "POST", "/api/v1/checkins", tok,
                     {"type": "in", "lat": 31.3, "lng": 120.6, "accuracy": 5})
            at = c["at"]
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
            at = None
        clients.append({"token": tok, "at": at})
    # Fix times start a second after the latest check-in.
    import datetime
    last = max(datetime.datetime.fromisoformat(c["at"].replace("Z", "+00:00"))
               for c in clients if c["at"])
    base = int(last.timestamp() * 1000) + 1000
    json.dump([{"token": c["token"], "base": base} for c in clients], open(out, "w"))
    print(base)


def baseline(dev0, n, b, size, base, outdir):
    for k in range(int(n)):
        with open(f"{outdir}/base.{k}.sql", "w") as f:
            for j in range(int(b)):
                rows = []
                for i in range(int(size)):
                    seq = j * int(size) + i
                    rows.append(f"({int(dev0) + k},{seq},{int(base) + seq},{int(base)},"
                                f"{31.3 + k * 0.001:.3f},120.6,5,0,0,10,80,'ok')")
                f.write("INSERT INTO track_points (dev_id, seq, t, recv_ms, lat, lng, accuracy_m,"
                        " speed, heading, altitude, battery, filtered) VALUES "
                        + ",".join(rows) + ";\n")


def latest(n, region):
    n = int(n)
    print("INSERT INTO users (username, display_name, roles, region_id) VALUES "
          + ",".join(f"('live{i}','在岗{i}',2,{region})" for i in range(n)) + ";")
    print("INSERT INTO duty (user_id, on_duty, since) SELECT id, 1, NOW(3) FROM users"
          " WHERE username LIKE 'live%';")
    # The entries as ingest renders them (track.c render_item), for the same rows.
    print("INSERT INTO positions_latest (owner_type, owner_id, t, lat, lng, accuracy_m, speed,"
          " heading, region_id, on_duty, item, item_gcj) SELECT 'user', id,"
          " UNIX_TIMESTAMP() * 1000, 31.25 + (id % 100) * 0.001,"
          " 120.55 + (id DIV 100 % 100) * 0.001, 8, 1.2, 90, region_id, 1, '', ''"
          " FROM users WHERE username LIKE 'live%';")
    print("UPDATE positions_latest p JOIN users u ON u.id = p.owner_id SET p.item = CONCAT("
          "'{\"owner_type\":\"user\",\"owner_id\":', p.owner_id, ',\"name\":\"',"
          " u.display_name, '\",\"t\":\"', DATE_FORMAT(FROM_UNIXTIME(p.t / 1000),"
          " '%Y-%m-%dT%H:%i:%s.000Z'), '\",\"lat\":', FORMAT(p.lat, 7, 'en_US'),"
          " ',\"lng\":', FORMAT(p.lng, 7, 'en_US'), ',\"accuracy\":8.0,\"speed\":1.20,"
          "\"heading\":90.0}'), p.item_gcj = p.item WHERE u.username LIKE 'live%';")


if __name__ == "__main__":
    {"people": people, "baseline": baseline, "latest": latest}[sys.argv[1]](*sys.argv[2:])
