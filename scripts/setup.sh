#!/usr/bin/env bash
# Brings a fresh Debian machine to what plexus needs: Debian packages through apt-get,
# npm packages through the lock file. Fast no-op when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(clang llvm llvm-19 libbpf-dev bpftool iproute2 iputils-ping ethtool iperf3 tcpdump nftables tshark netcat-openbsd curl python3-prometheus-client chromium)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install ${missing[*]} (run as root, or install them with apt-get)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: reinstall when the lock file changed since the last install.
stamp=node_modules/.plexus-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing npm packages from package-lock.json" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
