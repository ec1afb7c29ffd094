// The main job (`npm start`): boot the default guest on pmemvm and show what
// it sees. Runs wherever KVM is usable (the entry puts it in the test host).
import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestImage } from '../test/lib/guest.js';
import { makeScriptInitrd } from '../test/lib/cpio.js';
import { pmemvmNodeArgs } from './paths.js';

const SCRIPT = `
echo "== pmemvm guest: $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) RAM"
echo "== ACPI tables: $(ls /sys/firmware/acpi/tables | tr '\\n' ' ')"
echo "== persistent memory (ndctl list -RDN):"
ndctl list -RDN || true
ls -l /dev/pmem* 2>/dev/null || echo "   (no /dev/pmem* devices)"
echo "== PCI: $(for d in /sys/bus/pci/devices/*; do echo "\${d##*/}=$(cat $d/vendor):$(cat $d/device)"; done | tr '\\n' ' ')"
echo "== /proc/iomem:"; grep -i 'persistent' /proc/iomem
`;

const img = guestImage();
const initrd = await makeScriptInitrd(img.initrd, SCRIPT);
// A 1 GiB NVDIMM with a 128K label area and a 256M virtio-pmem device, on sparse files
// that go away afterwards.
const dir = mkdtempSync(join(tmpdir(), 'pmemvm-demo-'));
const sparse = (name: string, size: number) => {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
};
const backend = sparse('nvdimm0.img', 1 << 30);
const virtioBackend = sparse('virtio-pmem0.img', 256 << 20);
const args = ['-machine', 'pc,nvdimm=on', '-m', '512M,slots=2,maxmem=4G', '-smp', '2',
  '-object', `memory-backend-file,id=mem0,share=on,mem-path=${backend},size=1G`,
  '-device', 'nvdimm,id=nvdimm0,memdev=mem0,label-size=128K',
  '-object', `memory-backend-file,id=mem1,share=on,mem-path=${virtioBackend},size=256M`,
  '-device', 'virtio-pmem-pci,id=virtio-pmem0,memdev=mem1',
  '-kernel', img.bzImage, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1', '-nographic'];
process.stderr.write(`demo: pmemvm ${args.join(' ')}\n`);
const child = spawn(process.execPath, [...pmemvmNodeArgs(), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('close', (code) => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = code ?? 1;
});
