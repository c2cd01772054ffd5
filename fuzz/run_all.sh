#!/bin/sh
# Runs every target in turn, logs in fuzz/logs/<target>.log and one line per target in
# fuzz/logs/summary.txt. Each run stops after RUNS executions (default 10 million) or SECS seconds
# of wall time (default 1800), whichever comes first; TARGETS="a b" chooses the targets.
# Allocations over 1 GiB and inputs running over 10 s count as failures.
cd "$(dirname "$0")/.." || exit 1
SECS=${SECS:-1800}
RUNS=${RUNS:-10000000}
mkdir -p fuzz/logs
for t in ${TARGETS:-eth_block eth_geth_traces etl_csv btc_block blk_file core_json sdn labels snapshot}; do
  mkdir -p fuzz/corpus/$t
  start=$(date +%s)
  RUSTC_BOOTSTRAP=1 cargo fuzz run $t -- -runs=$RUNS -max_total_time=$SECS \
    -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
    > fuzz/logs/$t.log 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' fuzz/logs/$t.log | grep -o '[0-9]*$')
  echo "$t rc=$rc executions=$runs seconds=$(( $(date +%s) - start ))" >> fuzz/logs/summary.txt
done
