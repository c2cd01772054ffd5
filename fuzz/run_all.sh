#!/bin/sh
# Runs every target for $SECS seconds (default 150), one at a time; logs in fuzz/logs/.
cd "$(dirname "$0")/.." || exit 1
SECS=${SECS:-150}
mkdir -p fuzz/logs
for t in ${TARGETS:-eth_block eth_geth_traces etl_csv btc_block blk_file core_json sdn labels snapshot}; do
  mkdir -p fuzz/corpus/$t
  RUSTC_BOOTSTRAP=1 cargo fuzz run $t -- -max_total_time=$SECS -rss_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 > fuzz/logs/$t.log 2>&1
  echo "$t rc=$?" >> fuzz/logs/summary.txt
done
