// The guest side of the ACPI power button test (test/guest/monitor.test.ts): pmemvm's GED
// (ACPI0013) notifies \_SB.PWRB (PNP0C0C) when the host presses the button (QMP
// system_powerdown), Linux's button driver reports KEY_POWER on its input device, and the
// guest powers off.
import assert from 'node:assert/strict';

/** The guest prints this (with its event device) once it is waiting for the button. */
export const WAITING = 'PWRB-WAITING';
/** ...and this once it has read the key press. */
export const PRESSED = 'PWRB-PRESSED';

/**
 * /run.sh: find the input device Linux's ACPI button driver named "Power Button", report
 * what the kernel said about the GED and the button, wait for one input_event (24 bytes on
 * x86-64: struct timeval, u16 type, u16 code, s32 value) from its /dev/input/eventN, print
 * it and power off as a guest that handles the button would.
 */
export const POWER_BUTTON_SCRIPT = [
  'ev=',
  'for d in /sys/class/input/input*; do',
  '  [ "$(cat "$d/name" 2>/dev/null)" = "Power Button" ] || continue',
  '  for e in "$d"/event*; do [ -e "$e" ] && ev=${e##*/}; done',
  'done',
  'echo "PWRB-DEVICES=$(cat /sys/class/input/input*/name 2>/dev/null | tr "\\n" ",")"',
  '[ -n "$ev" ] || { echo PWRB-MISSING; exit 1; }',
  'echo "PWRB-PHYS=$(cat /sys/class/input/$ev/device/phys)"',
  // evged's interrupt as the guest sees it: IOAPIC pin 9, edge (Linux numbers it 25 or so:
  // a hardware-reduced x86 has no legacy PIC, so GSIs do not map to IRQs 0-15 one to one).
  // The ESEL window is not in /proc/iomem: the GED's _CRS may only hold interrupts.
  'echo "GED-IRQ=$(grep -c "ACPI:Ged" /proc/interrupts)"',
  'grep "ACPI:Ged" /proc/interrupts | sed "s/^ */GED-INTERRUPTS: /"',
  'echo "GED-DEVICE=$(cat /sys/bus/acpi/devices/ACPI0013:00/path 2>/dev/null)"',
  "echo BADLINES=$(dmesg | grep -cE 'ACPI Error|ACPI BIOS Error|BUG:|WARNING:')",
  "dmesg | grep -iE 'ged|button|ACPI Error|ACPI BIOS' | sed 's/^/DMESG: /'",
  // Open the event device before saying so: evdev drops events that come while no one
  // has it open, so a press sent on WAITING must find the reader already there.
  'exec 3</dev/input/$ev',
  `echo "${WAITING} $ev"`,
  'dd of=/tmp/ev bs=24 count=1 <&3 2>/dev/null',
  'echo "PWRB-EVENT=$(od -An -tx1 -v /tmp/ev | tr -d " \\n")"',
  'grep "ACPI:Ged" /proc/interrupts | sed "s/^ */GED-INTERRUPTS: /"',
  `echo ${PRESSED}`,
  'poweroff -f',
].join('\n');

/** The last 8 bytes of the input_event a press gives: EV_KEY (1), KEY_POWER (116), value 1. */
export const KEY_POWER_DOWN = '0100740001000000';

/** What a run of POWER_BUTTON_SCRIPT with one press must show (output with \n line ends). */
export function checkPowerButtonRun(output: string, exitCode: number | null): void {
  assert.match(output, /^PWRB-PHYS=PNP0C0C\/button\/input0$/m, output);
  assert.match(output, /^GED-IRQ=1$/m, 'evged requested its interrupt');
  const irqs = [...output.matchAll(/^GED-INTERRUPTS: \d+: +(\d+) +IO-APIC +9-edge +ACPI:Ged$/gm)].map((m) => Number(m[1]));
  assert.equal(irqs.length, 2, `the GED's line in /proc/interrupts, before and after the press:\n${output}`);
  assert.deepEqual(irqs, [0, 1], 'one GED interrupt for one press');
  assert.match(output, /^GED-DEVICE=\\_SB_\.GED_$/m, output);
  assert.match(output, /^BADLINES=0$/m, output);
  assert.match(output, new RegExp(`^${WAITING} event\\d+$`, 'm'), output);
  const ev = /^PWRB-EVENT=([0-9a-f]{48})$/m.exec(output);
  assert.ok(ev, `the guest read no input_event; output:\n${output}`);
  assert.equal(ev[1]!.slice(32), KEY_POWER_DOWN, 'EV_KEY KEY_POWER pressed');
  assert.match(output, new RegExp(`^${PRESSED}$`, 'm'));
  assert.equal(exitCode, 0, 'the guest powered off');
}

