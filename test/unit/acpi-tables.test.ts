// ACPI table layout: headers, checksums, FADT/MADT field offsets, the image
// buildAcpi lays out, and iasl disassembling every table pmemvm emits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACPI_POWER, buildAcpi, isPoweroffWrite, isResetWrite, type AcpiLayout } from '../../src/acpi/build.js';
import { acpiTable, buildFadt, buildMadt, buildRsdp, FADT, FADT_FLAGS, IAPC_BOOT_ARCH, LAPIC_BASE, rtcDevice } from '../../src/acpi/tables.js';
import { buildNfit } from '../../src/acpi/nfit.js';

const BASE = 0xe0000;
const sum8 = (b: Uint8Array) => b.reduce((s, x) => (s + x) & 0xff, 0);
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const sig = (b: Uint8Array, at = 0) => String.fromCharCode(...b.subarray(at, at + 4));
const text = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

function layout(cpus: number, extra: Partial<AcpiLayout> = {}): AcpiLayout {
  return { cpus, ioapicId: cpus, ...ACPI_POWER, ...extra };
}

/** Every table reachable from the RSDP in an image, by signature (DSDT via the FADT). */
function tablesOf(image: Uint8Array, base: number): { rsdp: Uint8Array; tables: Map<string, Uint8Array[]> } {
  const v = view(image);
  const rsdp = image.subarray(0, 36);
  const at = (addr: bigint | number) => Number(addr) - base;
  const table = (off: number) => image.subarray(off, off + v.getUint32(off + 4, true));
  const tables = new Map<string, Uint8Array[]>();
  const add = (t: Uint8Array) => tables.set(sig(t), [...(tables.get(sig(t)) ?? []), t]);
  const xsdt = table(at(v.getBigUint64(24, true)));
  add(xsdt);
  for (let p = 36; p < xsdt.length; p += 8) {
    const t = table(at(view(xsdt).getBigUint64(p, true)));
    add(t);
    if (sig(t) === 'FACP') add(table(at(view(t).getBigUint64(FADT.xDsdt, true))));
  }
  return { rsdp, tables };
}

function nfitTwoDimms(): Uint8Array {
  return buildNfit({
    dimms: [
      { slot: 0, base: 0x140000000, size: 0x40000000, unarmed: false },
      { slot: 1, base: 0x180000000, size: 0x20000000, unarmed: true },
    ],
    persistence: 'cpu',
  });
}

test('every table has a matching length and a zero byte sum', () => {
  for (const cpus of [1, 4]) {
    const { image } = buildAcpi(layout(cpus), BASE);
    const { rsdp, tables } = tablesOf(image, BASE);
    assert.equal(sum8(rsdp.subarray(0, 20)), 0, 'RSDP checksum (first 20 bytes)');
    assert.equal(sum8(rsdp), 0, 'RSDP extended checksum');
    assert.deepEqual([...tables.keys()].sort(), ['APIC', 'DSDT', 'FACP', 'XSDT']);
    for (const [name, list] of tables) {
      for (const t of list) {
        assert.equal(sum8(t), 0, `${name} checksum`);
        assert.equal(text(t, 10, 6), 'PMEMVM');
        assert.equal(text(t, 16, 8), 'PMEMVMTB');
        assert.equal(text(t, 28, 4), 'PMVM');
      }
    }
  }
});

test('RSDP: revision 2, XSDT only', () => {
  const r = buildRsdp(0xe0030);
  assert.equal(r.length, 36);
  assert.equal(text(r, 0, 8), 'RSD PTR ');
  assert.equal(text(r, 9, 6), 'PMEMVM');
  assert.equal(r[15], 2);
  assert.equal(view(r).getUint32(16, true), 0); // no RSDT
  assert.equal(view(r).getUint32(20, true), 36);
  assert.equal(view(r).getBigUint64(24, true), 0xe0030n);
});

test('FADT: hardware-reduced 6.5 with reset and sleep registers', () => {
  const f = buildFadt({ dsdtAddress: 0xe0100, resetPort: 0x602, resetValue: 1, sleepControlPort: 0x600, sleepStatusPort: 0x601 });
  const v = view(f);
  assert.equal(f.length, 276);
  assert.equal(sig(f), 'FACP');
  assert.equal(v.getUint32(4, true), 276);
  assert.equal(f[8], 6); // revision
  assert.equal(f[FADT.minorVersion], 5);
  assert.equal(v.getUint32(FADT.flags, true), FADT_FLAGS.HW_REDUCED_ACPI | FADT_FLAGS.RESET_REG_SUP);
  assert.equal(v.getUint16(FADT.iapcBootArch, true), IAPC_BOOT_ARCH.VGA_NOT_PRESENT); // no 8042, no VGA
  assert.equal(v.getUint32(FADT.firmwareCtrl, true), 0);
  assert.equal(v.getUint32(FADT.dsdt, true), 0);
  assert.equal(v.getBigUint64(FADT.xFirmwareCtrl, true), 0n);
  assert.equal(v.getBigUint64(FADT.xDsdt, true), 0xe0100n);
  assert.equal(v.getUint16(FADT.sciInt, true), 0);
  // GAS: SystemIO, 8 bits, offset 0, byte access, port
  const gas = (off: number) => [f[off], f[off + 1], f[off + 2], f[off + 3], Number(v.getBigUint64(off + 4, true))];
  assert.deepEqual(gas(FADT.resetReg), [1, 8, 0, 1, 0x602]);
  assert.equal(f[FADT.resetValue], 1);
  assert.deepEqual(gas(FADT.sleepControlReg), [1, 8, 0, 1, 0x600]);
  assert.deepEqual(gas(FADT.sleepStatusReg), [1, 8, 0, 1, 0x601]);
  assert.equal(text(f, FADT.hypervisorVendorId, 8), 'PMEMVM\0\0');
  // PM1/GPE blocks stay empty in hardware-reduced mode.
  assert.ok(f.subarray(48, 109).every((b) => b === 0));
  assert.ok(f.subarray(148, 244).every((b) => b === 0));
});

test('MADT: LAPIC base, PCAT_COMPAT, one LAPIC per CPU, IOAPIC, IRQ0 override, LINT1 NMI', () => {
  const m = buildMadt({ cpus: 4, ioapicId: 4 });
  const v = view(m);
  assert.equal(sig(m), 'APIC');
  assert.equal(v.getUint32(36, true), LAPIC_BASE);
  assert.equal(v.getUint32(40, true), 1);
  assert.equal(m.length, 44 + 4 * 8 + 12 + 10 + 6);
  const entries: Uint8Array[] = [];
  for (let off = 44; off < m.length; off += m[off + 1]!) entries.push(m.subarray(off, off + m[off + 1]!));
  for (let cpu = 0; cpu < 4; cpu++) {
    const e = entries[cpu]!;
    assert.deepEqual([...e], [0, 8, cpu, cpu, 1, 0, 0, 0], `LAPIC ${cpu}`);
  }
  assert.deepEqual([...entries[4]!], [1, 12, 4, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0]); // IOAPIC 0xFEC00000, GSI 0
  assert.deepEqual([...entries[5]!], [2, 10, 0, 0, 2, 0, 0, 0, 0, 0]); // ISA IRQ0 -> GSI 2
  assert.deepEqual([...entries[6]!], [4, 6, 0xff, 0, 0, 1]); // all CPUs, LINT1
  // Sparse APIC ids (-smp 6,sockets=2,cores=3): processor UIDs stay 0..5.
  const sparse = buildMadt({ cpus: 6, apicIds: [0, 1, 2, 4, 5, 6], ioapicId: 7 });
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => [sparse[44 + i * 8 + 2], sparse[44 + i * 8 + 3]]), [[0, 0], [1, 1], [2, 2], [3, 4], [4, 5], [5, 6]]);
  assert.throws(() => buildMadt({ cpus: 2, apicIds: [0, 255], ioapicId: 0 }), RangeError);
  // -smp 2,maxcpus=4: four processors listed, the last two not enabled but online capable (hotplug).
  const possible = buildMadt({ cpus: 4, present: 2, ioapicId: 4 });
  assert.deepEqual([0, 1, 2, 3].map((i) => possible[44 + i * 8 + 4]), [1, 1, 2, 2]);
  assert.throws(() => buildMadt({ cpus: 0, ioapicId: 0 }), RangeError);
  assert.throws(() => buildMadt({ cpus: 256, ioapicId: 0 }), RangeError);
});

test('buildAcpi: absolute pointers, alignment, extras listed, fits in the BIOS area', () => {
  const extra = acpiTable('TEST', 1, Uint8Array.of(1, 2, 3));
  const { image, rsdpAddress } = buildAcpi(layout(4, { extraTables: [extra] }), BASE);
  assert.equal(rsdpAddress, BASE);
  assert.ok(BASE + image.length <= 0x100000);
  const { tables } = tablesOf(image, BASE);
  assert.deepEqual(tables.get('TEST')?.[0], extra);
  const xsdt = tables.get('XSDT')![0]!;
  for (let p = 36; p < xsdt.length; p += 8) assert.equal(Number(view(xsdt).getBigUint64(p, true)) % 16, 0);
  assert.throws(() => buildAcpi(layout(1), BASE + 4), RangeError); // RSDP must be 16-byte aligned
  const huge = acpiTable('HUGE', 1, new Uint8Array(0x20000));
  assert.throws(() => buildAcpi(layout(1, { extraTables: [huge] }), BASE), RangeError);
  // Ports default to ACPI_POWER.
  const def = tablesOf(buildAcpi({ cpus: 1, ioapicId: 1 }, BASE).image, BASE).tables.get('FACP')![0]!;
  assert.equal(Number(view(def).getBigUint64(FADT.sleepControlReg + 4, true)), ACPI_POWER.sleepControlPort);
  assert.equal(Number(view(def).getBigUint64(FADT.resetReg + 4, true)), ACPI_POWER.resetPort);
});

test('DSDT: \\_S5_, COM1 and extra devices inside \\_SB', () => {
  const extraDev = Uint8Array.of(0x08, 0x58, 0x58, 0x58, 0x58, 0x01); // Name (XXXX, One)
  const { image } = buildAcpi(layout(1, { dsdtDevices: [extraDev] }), BASE);
  const dsdt = tablesOf(image, BASE).tables.get('DSDT')![0]!;
  const hex = Buffer.from(dsdt.subarray(36)).toString('hex');
  assert.ok(hex.startsWith('085c5f53355f1208040a050a050000'), 'Name (\\_S5, Package (4) {5, 5, 0, 0})');
  assert.ok(hex.endsWith('7900' + '085858585801'), 'extra device follows COM1 inside the scope');
});

test('DSDT: the RTC device, byte for byte as iasl compiles it', () => {
  // Device (RTC) { Name (_HID, EisaId ("PNP0B00"))
  //   Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0070, 0x0070, 0x00, 0x02) IRQNoFlags () {8} }) }
  assert.equal(Buffer.from(rtcDevice()).toString('hex'),
    '5b8225' + '5254435f' // DeviceOp, PkgLength, RTC_
    + '085f484944' + '0c41d00b00' // Name (_HID, EisaId ("PNP0B00"))
    + '085f435253' + '11100a0d' // Name (_CRS, Buffer (13) {
    + '4701700070000002' + '220001' + '7900'); // IO, IRQNoFlags {8}, End Tag })
  const { image } = buildAcpi(layout(1), BASE);
  const dsdt = Buffer.from(tablesOf(image, BASE).tables.get('DSDT')![0]!);
  assert.ok(dsdt.includes(Buffer.from(rtcDevice())), 'the DSDT declares the RTC');
});

test('power register semantics', () => {
  assert.equal(ACPI_POWER.s5SlpTyp, 5);
  assert.ok(isPoweroffWrite((5 << 2) | 0x20)); // 0x34, what Linux writes for S5
  assert.ok(!isPoweroffWrite(5 << 2)); // SLP_EN missing
  assert.ok(!isPoweroffWrite((3 << 2) | 0x20)); // S3
  assert.ok(isResetWrite(ACPI_POWER.resetValue));
  assert.ok(!isResetWrite(0x06));
  const ports = [ACPI_POWER.sleepControlPort, ACPI_POWER.sleepStatusPort, ACPI_POWER.resetPort];
  assert.equal(new Set(ports).size, 3);
});

// ---- iasl -----------------------------------------------------------------------------------

function iasl(args: string[], cwd: string): string {
  const r = spawnSync('iasl', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`iasl is required for these tests: ${r.error.message}`);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, `iasl ${args.join(' ')} failed:\n${out}`);
  return out;
}

/** Disassemble one table with iasl -d; its output must mention no error or warning. */
function disassemble(dir: string, name: string, table: Uint8Array): string {
  writeFileSync(join(dir, `${name}.dat`), table);
  const out = iasl(['-d', `${name}.dat`], dir);
  assert.doesNotMatch(out, /error|warning/i, `iasl -d ${name}:\n${out}`);
  assert.ok(existsSync(join(dir, `${name}.dsl`)), `iasl wrote no ${name}.dsl:\n${out}`);
  return readFileSync(join(dir, `${name}.dsl`), 'utf8');
}

/**
 * iasl 20200925 cannot disassemble an RSDP (its signature is not a NameSeg),
 * so compile the RSDP as a data table instead and expect identical bytes;
 * iasl computes both checksums itself.
 */
function checkRsdpWithIasl(dir: string, rsdp: Uint8Array): void {
  const v = view(rsdp);
  const h = (n: number | bigint, w: number) => n.toString(16).toUpperCase().padStart(w, '0');
  const src = [
    '[0008] Signature : "RSD PTR "',
    '[0001] Checksum : 00',
    `[0006] Oem ID : "${text(rsdp, 9, 6)}"`,
    `[0001] Revision : ${h(rsdp[15]!, 2)}`,
    `[0004] RSDT Address : ${h(v.getUint32(16, true), 8)}`,
    `[0004] Length : ${h(v.getUint32(20, true), 8)}`,
    `[0008] XSDT Address : ${h(v.getBigUint64(24, true), 16)}`,
    '[0001] Extended Checksum : 00',
    '[0003] Reserved : 000000',
  ].join('\n');
  writeFileSync(join(dir, 'rsdp.asl'), src + '\n');
  const out = iasl(['rsdp.asl'], dir);
  assert.doesNotMatch(out, /\b[1-9]\d* (errors|warnings)/i, out);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'rsdp.aml'))), rsdp);
}

test('iasl disassembles every table pmemvm emits (1 and 4 CPUs, NFIT with 2 DIMMs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmemvm-acpi-'));
  try {
    for (const cpus of [1, 4]) {
      const { image } = buildAcpi(layout(cpus, { extraTables: [nfitTwoDimms()] }), BASE);
      const { rsdp, tables } = tablesOf(image, BASE);
      checkRsdpWithIasl(dir, rsdp);
      for (const [name, list] of tables) {
        list.forEach((t, i) => {
          const dsl = disassemble(dir, `${name.toLowerCase()}${cpus}-${i}`, t);
          if (name === 'FACP') assert.match(dsl, /Hardware Reduced \(V5\) : 1/);
          if (name === 'APIC') assert.equal(dsl.match(/Processor Local APIC/g)?.length, cpus);
          if (name === 'DSDT') assert.match(dsl, /EisaId \("PNP0501"\)/);
          if (name === 'NFIT') assert.equal(dsl.match(/Subtable Type : 0000 \[System Physical Address Range\]/g)?.length, 2);
        });
      }
      assert.deepEqual([...tables.keys()].sort(), ['APIC', 'DSDT', 'FACP', 'NFIT', 'XSDT']);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
