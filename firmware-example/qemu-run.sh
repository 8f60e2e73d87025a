#!/usr/bin/env bash
# Cargo runner for the firmware (see .cargo/config.toml): runs an ELF under
# QEMU with semihosting and decodes its defmt output with defmt-print.
#
#   qemu-run.sh <elf> [extra qemu args...]
#
# Environment:
#   FIRMWARE_MACHINE   mps2-an386 (Cortex-M4F) or microbit (Cortex-M0);
#                      default: microbit for thumbv6m ELFs, else mps2-an386
#   QEMU_EXTRA_ARGS    more QEMU arguments (e.g. -icount shift=3, or -plugin ...)
#   QEMU_TIMEOUT       seconds before QEMU is killed (default 300)
#   DEFMT_PRINT_ARGS   defmt-print arguments (default: --log-format '{L} {s}',
#                      level and message, no source locations or timestamps)
#
# Exits with QEMU's status, i.e. the firmware's semihosting exit code
# (0 = every output matched), or 124 on timeout.
set -euo pipefail
elf="$1"
shift
machine="${FIRMWARE_MACHINE:-}"
if [ -z "$machine" ]; then
  case "$elf" in
    *thumbv6m*) machine=microbit ;;
    *) machine=mps2-an386 ;;
  esac
fi
case "$machine" in
  mps2-an386) cpu=cortex-m4 ;;
  microbit) cpu=cortex-m0 ;;
  *) echo "qemu-run.sh: unknown FIRMWARE_MACHINE '$machine'" >&2; exit 2 ;;
esac
if [ -n "${DEFMT_PRINT_ARGS+set}" ]; then
  read -ra defmt_args <<< "$DEFMT_PRINT_ARGS"
else
  defmt_args=(--log-format '{L} {s}')
fi
# shellcheck disable=SC2086 # QEMU_EXTRA_ARGS is a word list
timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -cpu "$cpu" -machine "$machine" -nographic \
  -semihosting-config enable=on,target=native \
  ${QEMU_EXTRA_ARGS:-} "$@" -kernel "$elf" \
  | defmt-print -e "$elf" "${defmt_args[@]}" stdin
