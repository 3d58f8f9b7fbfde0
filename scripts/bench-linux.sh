#!/usr/bin/env bash
# Boots the test guest (Debian's 686 kernel + the busybox initramfs from
# scripts/fetch-guests.sh) headless and reports the wall time to the init
# marker, the retired instruction count and MIPS; when qemu-system-i386 is
# installed, boots the same kernel and initramfs under QEMU's TCG in the same
# run and prints the ratio of the two times.
#
# Usage: scripts/bench-linux.sh        (run scripts/fetch-guests.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
G=.cache/guests
[ -f "$G/vmlinuz" ] && [ -f "$G/initrd.img" ] || { echo "no guest images: run scripts/fetch-guests.sh" >&2; exit 2; }
APPEND="console=ttyS0 panic=-1"
MARKER="FERRITE-MARKER: init done"
cargo build --release -q -p frontend

# Prints the seconds from start until MARKER appears in the command's output
# (the command is stopped there).
time_to_marker() {
    local start end
    start=$(date +%s.%N)
    "$@" 2>&1 | tee /tmp/ferrite-bench.$$.log | grep -q -m1 "$MARKER" || true
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

out=$(mktemp)
start=$(date +%s.%N)
# Timestamp the marker as it goes by; the run continues to the power-off,
# which gives the retired instruction count.
./target/release/ferrite run --kernel "$G/vmlinuz" --initrd "$G/initrd.img" --append "$APPEND" \
    --memory 128M --max-instructions 40G 2>&1 | while IFS= read -r line; do
    printf '%s\n' "$line" >>"$out"
    case "$line" in *"$MARKER"*) date +%s.%N >"$out.marker" ;; esac
done
end=$(date +%s.%N)
[ -f "$out.marker" ] || { echo "ferrite: the guest did not reach the marker; see $out" >&2; exit 1; }
insns=$(grep -o 'after [0-9]* instructions' "$out" | grep -o '[0-9]*')
secs=$(echo "$(cat "$out.marker") - $start" | bc)
total=$(echo "$end - $start" | bc)
echo "ferrite: $secs s to the marker ($total s to power-off), $insns instructions, $(echo "$insns / $total / 1000000" | bc) MIPS"

if command -v qemu-system-i386 >/dev/null; then
    qsecs=$(time_to_marker timeout 600 qemu-system-i386 -accel tcg,thread=single -nographic -m 128M \
        -kernel "$G/vmlinuz" -initrd "$G/initrd.img" -append "$APPEND" -no-reboot)
    echo "qemu-system-i386 (TCG): $qsecs s to the marker"
    echo "ratio ferrite/qemu: $(echo "scale=2; $secs / $qsecs" | bc)"
else
    echo "qemu-system-i386 not installed: no reference timing (apt-get install qemu-system-x86)"
fi
rm -f "$out" "$out.marker" /tmp/ferrite-bench.$$.log
