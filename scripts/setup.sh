#!/usr/bin/env bash
# Installs every build and test dependency of trunkwatch from Debian 12's archive.
# Idempotent, non-interactive, and quiet when everything is already there.
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh --vm     also what the DAHDI-in-qemu integration test needs
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev libfuzzer-14-dev
  # libraries (see docs/architecture.md for why each one)
  libpri-dev libspandsp-dev dahdi-source libboost-log-dev libgtest-dev libgmock-dev
  libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libsqlite3-dev libpcap-dev libsndfile1-dev
  libhowardhinnant-date-dev libcurl4-openssl-dev libsystemd-dev
  # independent decoder for cross-check tests, sqlite shell for inspecting records
  tshark wireshark-common sqlite3 bc
  # a real SMTP server on loopback for the alert-mail tests (openssl makes its certificate)
  python3-aiosmtpd openssl
  # real recorded speech and music for DSP talk-off tests
  asterisk-core-sounds-en-wav asterisk-moh-opsound-wav
  # the Debian package (cpack runs dpkg-shlibdeps) and checking the unit (systemd-analyze)
  dpkg-dev systemd
)
if [[ "${1:-}" == "--vm" ]]; then
  packages+=(qemu-system-x86 qemu-utils debootstrap)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
