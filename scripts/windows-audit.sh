#!/usr/bin/env bash
# Auditors use Windows laptops: cross-build niem-audit for x86_64-pc-windows-gnu
# with Debian's mingw-w64, then run its bundle and local-store verification tests
# (audit-cli/tests/local.rs) and the witness process test (tests/witness.rs) under
# Debian's Wine. Idempotent: installs only what is missing.
# Output: target/x86_64-pc-windows-gnu/release/niem-audit.exe.
#
#   scripts/windows-audit.sh            build and test
#   scripts/windows-audit.sh --build    build only
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/packages.sh

# mingw-w64 links (and builds ring's and SQLite's C for Windows); wine64 runs the tests.
install_packages gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64
[ -x "$HOME/.cargo/bin/rustup" ] && export PATH="$HOME/.cargo/bin:$PATH"
rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu

target=x86_64-pc-windows-gnu
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
# Wine: a prefix of its own, no desktop, quiet; cargo runs each .exe through it.
wine_bin=$(command -v wine64 || ls /usr/lib/wine/wine64 2>/dev/null || command -v wine || true)
[ -n "$wine_bin" ] || { echo "windows-audit: no wine found" >&2; exit 1; }
export WINEPREFIX="${WINEPREFIX:-${CARGO_TARGET_DIR:-$PWD/target}/wine-prefix}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$wine_bin"

cargo build --release --locked --target "$target" -p audit-cli --bin niem-audit
echo "windows-audit: built $(ls "${CARGO_TARGET_DIR:-target}/$target/release/niem-audit.exe")"
[ "${1:-}" = "--build" ] && exit 0

[ -d "$WINEPREFIX/drive_c" ] || "$wine_bin" wineboot --init >/dev/null 2>&1 || true

# Rust's std (1.78+) draws randomness from ProcessPrng in bcryptprimitives.dll,
# which every Windows 10+ has and Debian 12's Wine 8 does not. For Wine only, a
# two-line stand-in over RtlGenRandom goes into the prefix (never shipped).
shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$shim" ]; then
  src=$(mktemp --suffix=.c)
  cat >"$src" <<'C'
#include <windows.h>
#include <ntsecapi.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  for (; len > 0; ) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!RtlGenRandom(data, n)) return FALSE;
    data += n; len -= n;
  }
  return TRUE;
}
C
  x86_64-w64-mingw32-gcc -shared -O2 -o "$shim" "$src" -ladvapi32
  rm -f "$src"
fi
"$wine_bin" "${CARGO_TARGET_DIR:-target}/$target/release/niem-audit.exe" --version
cargo test --locked --target "$target" -p audit-cli --test local --test witness
