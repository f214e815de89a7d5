#!/usr/bin/env bash
# Install the Debian packages minegate's tests and reports use, only those that are missing.
#   mosquitto        MQTT broker (northbound and platform ingest tests start private brokers)
#   victoria-metrics real InfluxDB line-protocol server for the InfluxDB sink tests
#   socat            pseudo-terminal pairs for Modbus RTU serial tests
#   fonts-noto-cjk   Chinese text in charts and PDF reports
#   chromium         browser tests of the web pages
#   poppler-utils    pdftotext, to check generated PDF reports
set -euo pipefail
want=(mosquitto victoria-metrics socat fonts-noto-cjk chromium poppler-utils)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
