#!/usr/bin/env bash
# Rebuild every generated file of sample_logs/ (not sample_logs/scenarios/, which is written by hand)
# from fixed seeds. The generator is deterministic and stdlib-only: the same generator version gives
# byte-identical files (tests/bench/test_generate_logs.py checks that these commands reproduce the
# committed files). After changing bench/loggen/, run this script and commit the result.
#
#   sample_logs/regenerate.sh [OUTPUT_DIR]      # default: the directory of this script
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
python="${PYTHON:-python3}"
gen() { "$python" "$here/../bench/generate_logs.py" "$@" --quiet; }

# nginx on web1, rotated daily at 06:25 by logrotate: older content in higher numbers, .2 compressed.
gen access --out "$out/web/nginx/access.log.2.gz" --lines 520 --seed 121 --start 2026-11-20T06:25:03Z --rate 0.0066 --attack-rate 0.07
gen access --out "$out/web/nginx/access.log.1" --lines 600 --seed 78 --start 2026-11-21T06:25:02Z --rate 0.0075 --attack-rate 0.07
gen access --out "$out/web/nginx/access.log" --lines 700 --seed 198 --start 2026-11-22T06:25:04Z --rate 0.0085 --attack-rate 0.07
gen error-nginx --out "$out/web/nginx/error.log" --lines 400 --seed 2 --start 2026-11-22T06:25:04Z --rate 0.0052 --attack-rate 0.12

# Apache: vhost_combined for all virtual hosts, a common-format log rotated with dateext, the error log.
gen access-vhost --out "$out/web/apache/other_vhosts_access.log" --lines 600 --seed 570 --start 2026-11-22T06:25:01Z --rate 0.0075 --attack-rate 0.07
gen access-common --out "$out/web/apache/access_log-20261122" --lines 500 --seed 161 --start 2026-11-21T03:21:07Z --rate 0.0063 --attack-rate 0.07
gen error-apache --out "$out/web/apache/error_log" --lines 400 --seed 6 --start 2026-11-22T03:21:07Z --rate 0.005 --attack-rate 0.12

# Application logs: the shop API (JSON lines) and the billing service (logfmt).
gen app-json --out "$out/app/shop-api.jsonl" --lines 700 --seed 7 --start 2026-11-23T08:00:00Z --rate 0.15 --attack-rate 0.1
gen app-logfmt --out "$out/app/billing.logfmt.log" --lines 500 --seed 9 --start 2026-11-22T14:00:00Z --rate 0.1 --attack-rate 0.1

# Infrastructure: auth.log (RFC 3164) and its previous generation, an ISO-timestamp auth log of the
# bastion, a central RFC 5424 collector, and kern.log with UFW drops (one nmap port scan).
gen auth --out "$out/infra/auth.log.1" --lines 600 --seed 27 --start 2026-11-21T18:00:00Z --rate 0.05 --attack-rate 0.1
gen auth --out "$out/infra/auth.log" --lines 700 --seed 33 --start 2026-11-23T07:30:00Z --rate 0.05 --attack-rate 0.12
gen auth-iso --out "$out/infra/secure-iso.log" --lines 500 --seed 18 --start 2026-11-22T09:10:00Z --rate 0.04 --attack-rate 0.1 --host bastion
gen syslog5424 --out "$out/infra/syslog-5424.log" --lines 600 --seed 47 --start 2026-11-23T09:00:00Z --rate 0.1 --attack-rate 0.1
gen kern-firewall --out "$out/infra/kern.log" --lines 500 --seed 13 --start 2026-11-22T22:00:00Z --rate 0.02 --attack-rate 0.12
