/**
 * pmemvm has no BIOS, but a guest may still reboot by jumping to the BIOS
 * reset vector (F000:FFF0, physical 0xFFFF0), as Linux's machine_real_restart
 * does. A real PC would reset there; we put a 16-bit stub that writes the
 * ACPI reset register, so that path ends in a clean reset too.
 */
export const RESET_VECTOR = 0xffff0;

export function resetVectorStub(resetPort: number, resetValue: number): Uint8Array {
  return Uint8Array.from([
    0xb0, resetValue & 0xff,                   // mov al, resetValue
    0xba, resetPort & 0xff, resetPort >> 8,    // mov dx, resetPort
    0xee,                                      // out dx, al
    0xf4,                                      // hlt
    0xeb, 0xfd,                                // jmp back to hlt
  ]);
}
