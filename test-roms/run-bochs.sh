#!/bin/sh
# Runs test ROMs under Bochs (if installed: apt-get install bochs bochs-term)
# as a cross-check of the ROMs themselves. Unlike QEMU, Bochs enforces
# real-mode segment limits, so every ROM can pass there. Bochs has no exit
# port: the script stops it once a PASS or FAIL line appears on port 0xE9.
#
# Usage: test-roms/run-bochs.sh [name...]   (default: all ROMs)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/ferrite-test-roms
cargo run -q --manifest-path "$here/Cargo.toml" --bin build-roms -- "$out" >/dev/null
[ $# -gt 0 ] || set -- arith strings ivt exceptions smc unreal
work=$(mktemp -d)
# A do-nothing VGA option ROM (Bochs insists on loading one): 55 AA 40,
# RETF, zeros, and a checksum byte (0x55+0xAA+0x40+0xCB+0xF6 = 0x300).
printf '\125\252\100\313' > "$work/vga.rom"
head -c 32763 /dev/zero >> "$work/vga.rom"
printf '\366' >> "$work/vga.rom"
printf 'c\n' > "$work/commands"
status=0
# The shell reports the killed Bochs on stderr: keep that quiet.
exec 3>&2 2>/dev/null
for name in "$@"; do
    cat > "$work/bochsrc" <<CFG
megs: 16
romimage: file=$out/$name.rom
vgaromimage: file=$work/vga.rom
cpu: model=p3_katmai, ips=50000000
display_library: term
port_e9_hack: enabled=1
speaker: enabled=0
log: $work/bochs.log
panic: action=fatal
error: action=ignore
info: action=ignore
debug: action=ignore
CFG
    : > "$work/out"
    rm -f "$work/pid"
    # Watchdog: stop Bochs once the ROM has reported, or after 60 s.
    (
        i=0
        while [ ! -s "$work/pid" ]; do sleep 0.1; done
        while [ $i -lt ${BOCHS_TIMEOUT:-600} ] && ! grep -aq '^\(PASS\|FAIL\)' "$work/out"; do
            sleep 0.1
            i=$((i + 1))
        done
        sleep 0.2
        kill -9 "$(cat "$work/pid")" 2>/dev/null || true
    ) &
    (sh -c 'echo $$ > "$1/pid"; exec bochs -q -f "$1/bochsrc" < "$1/commands" > "$1/out" 2>/dev/null' sh "$work") 2>/dev/null || true
    wait 2>/dev/null || true
    line=$(grep -a '^\(PASS\|FAIL\)' "$work/out" || echo "TIMEOUT $name")
    echo "$line"
    case "$line" in PASS*) ;; *) status=1 ;; esac
done
exec 2>&3 3>&-
[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
exit $status
