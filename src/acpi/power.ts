// Hardware-reduced ACPI power control: the FADT reset and sleep registers and
// the values Linux writes to them. The device emulation decodes writes with
// the helpers below.
//
// Poweroff: Linux evaluates \_S5_ = Package {SLP_TYPa, SLP_TYPb, 0, 0} and, in
// hardware-reduced mode, writes WAK_STS (0x80) to SLEEP_STATUS_REG, then
// (SLP_TYPa << 2) | SLP_EN (0x20) to SLEEP_CONTROL_REG (ACPI 6.x 4.8.3.7).
// With SLP_TYP 5 that byte is 0x34.
// Reboot: Linux's acpi_reboot writes RESET_VALUE to RESET_REG.

/** SLP_TYP for S5 (soft off) declared in \_S5_. Any 3-bit value works; 5 mirrors the state number. */
export const S5_SLP_TYP = 5;

/**
 * Port numbers chosen for the power registers: 0x600-0x602, a range no PC
 * device uses here (0x3C0 would collide with the VGA ports). Field names match
 * AcpiLayout and the device emulation's options so the object can be spread.
 */
export const ACPI_POWER = {
  /** SLEEP_CONTROL_REG, 8-bit write: (SLP_TYP << 2) | SLP_EN. */
  sleepControlPort: 0x600,
  /** SLEEP_STATUS_REG, 8-bit: bit 7 WAK_STS (write 1 to clear). */
  sleepStatusPort: 0x601,
  /** RESET_REG, 8-bit: writing resetValue means reboot. */
  resetPort: 0x602,
  resetValue: 0x01,
  /** SLP_TYP that \_S5_ declares (poweroff). */
  s5SlpTyp: S5_SLP_TYP,
} as const;

/** The same constants under the name the ACPI brief uses. */
export const ACPI_POWER_PORTS = ACPI_POWER;

export const SLP_EN = 0x20;
export const SLP_TYP_SHIFT = 2;
export const SLP_TYP_MASK = 0x1c;
export const WAK_STS = 0x80;

/** True when a byte written to SLEEP_CONTROL_REG requests S5 (poweroff). */
export function isPoweroffWrite(value: number): boolean {
  return (value & SLP_EN) !== 0 && (value & SLP_TYP_MASK) >> SLP_TYP_SHIFT === S5_SLP_TYP;
}

/** True when a byte written to RESET_REG requests a reboot. */
export function isResetWrite(value: number, resetValue: number = ACPI_POWER.resetValue): boolean {
  return (value & 0xff) === resetValue;
}
