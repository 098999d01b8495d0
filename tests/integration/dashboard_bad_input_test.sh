#!/usr/bin/env bash
# Bad input for log, plot, top and the writer: a missing run directory, a directory without a
# log, a log of a newer schema, a corrupt file, a locked database and a second writer. Each is
# one clear line naming the file, exit code 2, and the database left byte for byte as it was.
source "$(dirname "$0")/dashboard_lib.sh"

# expect_bad NEEDLE COMMAND...: exit 2 and a single stderr line containing NEEDLE.
expect_bad() {
  local needle=$1
  shift
  local rc=0
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  [ "$rc" = 2 ] || fail "expected exit 2, got $rc from: $* ($(cat "$WORK/err.txt"))"
  [ "$(wc -l <"$WORK/err.txt")" = 1 ] || fail "expected one line from: $*: $(cat "$WORK/err.txt")"
  grep -qF -- "$needle" "$WORK/err.txt" || fail "'$needle' not in: $(cat "$WORK/err.txt")"
}
# every_reader NEEDLE RUN_DIR: log, plot and top --print all refuse RUN_DIR the same way.
every_reader() {
  expect_bad "$1" "$BIN" log "$2"
  expect_bad "$1" "$BIN" plot "$2" -o "$WORK/plot.svg"
  expect_bad "$1" "$BIN" top "$2" --print
  [ ! -e "$WORK/plot.svg" ] || fail "plot wrote a file for a bad log"
}

every_reader "$WORK/missing" "$WORK/missing"
[ ! -e "$WORK/missing" ] || fail "a reader created the missing directory"

mkdir "$WORK/empty"
every_reader "$WORK/empty/run.db" "$WORK/empty"
[ ! -e "$WORK/empty/run.db" ] || fail "a reader created run.db"

mkdir "$WORK/newer"
sqlite3 "$WORK/newer/run.db" "CREATE TABLE runs (id INTEGER); PRAGMA user_version=99;"
sum=$(md5sum <"$WORK/newer/run.db")
every_reader "newer" "$WORK/newer"
grep -qF "$WORK/newer/run.db" "$WORK/err.txt" || fail "the message does not name the file"
expect_bad "newer" "$BIN" demo-run "$WORK/newer" --steps 1 --step-ms 0
[ "$(md5sum <"$WORK/newer/run.db")" = "$sum" ] || fail "the newer log was modified"

mkdir "$WORK/corrupt"
head -c 16384 /dev/urandom >"$WORK/corrupt/run.db"
sum=$(md5sum <"$WORK/corrupt/run.db")
every_reader "corrupt" "$WORK/corrupt"
expect_bad "corrupt" "$BIN" demo-run "$WORK/corrupt" --steps 1 --step-ms 0
[ "$(md5sum <"$WORK/corrupt/run.db")" = "$sum" ] || fail "the corrupt file was modified"

# A good log, then someone holds an exclusive lock on it.
"$BIN" demo-run "$WORK/locked" --steps 5 --step-ms 0 2>/dev/null
sum=$(md5sum <"$WORK/locked/run.db")
mkfifo "$WORK/hold"
sqlite3 "$WORK/locked/run.db" <"$WORK/hold" >/dev/null 2>&1 &
PIDS+=($!)
exec 7>"$WORK/hold"
echo "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; SELECT count(*) FROM runs;" >&7
sleep 0.5
every_reader "locked" "$WORK/locked"
exec 7>&-
wait_until 10 bash -c "'$BIN' log '$WORK/locked' runs >/dev/null 2>&1" || fail "the log stayed locked"
[ "$(md5sum <"$WORK/locked/run.db")" = "$sum" ] || fail "the locked log was modified"

# A second writer on a directory in use.
"$BIN" demo-run "$WORK/busy" --steps 1000000 --step-ms 50 >/dev/null 2>&1 &
PIDS+=($!)
wait_until 20 test -s "$WORK/busy/run.db" || fail "the first writer did not start"
expect_bad "locked by another writer" "$BIN" demo-run "$WORK/busy" --steps 1 --step-ms 0

# Plot into a directory that does not exist; a table that does not exist.
expect_bad "does not exist" "$BIN" plot "$WORK/busy" -o "$WORK/no/such/dir/plot.svg"
rc=0
"$BIN" log "$WORK/busy" recipes >/dev/null 2>"$WORK/err.txt" || rc=$?
[ "$rc" = 2 ] && grep -q "recipes" "$WORK/err.txt" || fail "an unknown table is not refused: $rc $(cat "$WORK/err.txt")"
echo "PASS dashboard_bad_input_test"
