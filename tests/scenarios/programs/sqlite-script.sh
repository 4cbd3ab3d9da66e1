#!/bin/bash
# sqlite-script.sh: writes script.sql (see below); sqlite-script.sh --check: prints what the
# database holds, after an integrity check (the driver compares it with the reference).
#
# script.sql for `sqlite3 db.sqlite < script.sql`: 200 transactions of 25 inserts,
# each paced by a query that computes for a while and prints nothing, each followed by a
# progress line padded to 120 bytes (sqlite3's stdout is a regular file, so stdio buffers
# it: the driver checkpoints once the first 4 KiB have been flushed, well before the end).
set -euo pipefail
if [[ ${1:-} == --check ]]; then
    exec sqlite3 db.sqlite 'PRAGMA integrity_check;
        SELECT count(*), sum(k), total(length(v)) FROM t;
        SELECT id, k, length(v) FROM t;'
fi
awk 'BEGIN {
    print "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER UNIQUE, v TEXT);"
    pace = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40000) SELECT x FROM c WHERE x < 0;"
    for (t = 1; t <= 200; t++) {
        print "BEGIN;"
        for (r = 0; r < 25; r++) {
            k = t * 1000 + r
            printf "INSERT INTO t(k, v) VALUES (%d, printf(\"%%.*c\", %d, \"x\"));\n", k, (k * 7) % 300
        }
        print pace
        print "COMMIT;"
        printf "SELECT printf(\"%%-119s\", printf(\"txn %%d rows %%d sum %%d chars %%d\", %d, count(*), sum(k), total(length(v)))) FROM t;\n", t
        print pace
    }
}' >script.sql
