#!/bin/sh
# Runs test ROMs under QEMU (if installed) as a cross-check of the ROMs
# themselves: qemu-system-i386 implements the same report protocol
# (debugcon on port 0xE9, isa-debug-exit on port 0xF4).
#
# Usage: test-roms/run-qemu.sh [name...]   (default: all ROMs)
# Known QEMU (TCG) deviations: it does not enforce real-mode segment limits,
# so the `exceptions` ROM's #GP check and the `unreal` ROM's limit check
# cannot pass there.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/ferrite-test-roms
cargo run -q --manifest-path "$here/Cargo.toml" --bin build-roms -- "$out" >/dev/null
[ $# -gt 0 ] || set -- arith strings ivt exceptions smc unreal
status=0
for name in "$@"; do
    set +e
    timeout 20 qemu-system-i386 -cpu pentium3 -m 16 -display none -no-reboot \
        -bios "$out/$name.rom" -debugcon stdio \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null
    rc=$?
    set -e
    echo "[$name: exit status $rc]"
    [ "$rc" -eq 1 ] || status=1
done
exit $status
