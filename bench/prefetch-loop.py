#!/usr/bin/python3
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# bench/prefetch-loop.py: the seed loop of issue 13 on one connection
# inside a transaction, from Python (MySQLdb): a parent query, then one
# lookup per row,
#   SELECT id, name, owner FROM projects_settings WHERE name = 'proj:<gid>'
#   LIMIT 1
# or, with a fourth argument "id", by the parent row's id (an integer key):
#   SELECT id, name, owner FROM projects_settings WHERE id = <id>
# Run by prefetch-loop.sh with CLIENT=python; prints "seconds=<s> found=<n>".
import sys
import time

import MySQLdb

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
by_id = len(sys.argv) > 4 and sys.argv[4] == "id"
conn = MySQLdb.connect(host=host, port=port, user="app", passwd="secret",
                       db="demo")  # autocommit off, as ORMs run it
cur = conn.cursor()
t0 = time.perf_counter()
cur.execute("SELECT id, gid FROM projects ORDER BY id LIMIT %d" % n)
parents = cur.fetchall()
found = 0
for pid, gid in parents:
    if by_id:
        cur.execute("SELECT id, name, owner FROM projects_settings WHERE "
                    "id = %d" % pid)
    else:
        cur.execute("SELECT id, name, owner FROM projects_settings WHERE "
                    "name = 'proj:%s' LIMIT 1" % gid)
    row = cur.fetchone()
    if row is not None and row[1] == "proj:" + gid:
        found += 1
conn.rollback()
secs = time.perf_counter() - t0
conn.close()
print("seconds=%.6f found=%d" % (secs, found))
