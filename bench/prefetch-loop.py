#!/usr/bin/python3
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# bench/prefetch-loop.py: the seed loop of issue 13 on one connection
# inside a transaction: a parent query, then one lookup per row,
#   SELECT ... FROM projects_settings WHERE name = 'proj:<gid>' LIMIT 1
# Run by prefetch-loop.sh; prints "seconds=<s> com_select=<n>".
import sys
import time

import MySQLdb

host, port, root_port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
root = MySQLdb.connect(host=host, port=root_port, user="root", passwd="",
                       db="demo", autocommit=True)


def com_select():
    c = root.cursor()
    c.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
    return int(c.fetchone()[1])


conn = MySQLdb.connect(host=host, port=port, user="app", passwd="secret",
                       db="demo")  # autocommit off, as ORMs run it
cur = conn.cursor()
before = com_select()
t0 = time.perf_counter()
cur.execute("SELECT id, gid FROM projects ORDER BY id LIMIT %d" % n)
gids = [r[1] for r in cur.fetchall()]
found = 0
for gid in gids:
    cur.execute("SELECT id, name, value FROM projects_settings WHERE name = "
                "'proj:%s' LIMIT 1" % gid)
    row = cur.fetchone()
    if row is not None and row[1] == "proj:" + gid:
        found += 1
conn.rollback()
secs = time.perf_counter() - t0
after = com_select()
conn.close()
print("seconds=%.6f com_select=%d found=%d" % (secs, after - before, found))
