// The main job (`npm start`): boot the default guest on pmemvm and show what
// it sees. Runs wherever KVM is usable (the entry puts it in the test host).
import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestImage } from '../test/lib/guest.js';
import { makeScriptInitrd } from '../test/lib/cpio.js';
import { repoRoot } from './paths.js';

const SCRIPT = `
echo "== pmemvm guest: $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) RAM"
echo "== ACPI tables: $(ls /sys/firmware/acpi/tables | tr '\\n' ' ')"
echo "== persistent memory (ndctl list -RDN):"
ndctl list -RDN || true
ls -l /dev/pmem* 2>/dev/null || echo "   (no /dev/pmem* devices)"
echo "== /proc/iomem:"; grep -i 'persistent' /proc/iomem
`;

const img = guestImage();
const initrd = await makeScriptInitrd(img.initrd, SCRIPT);
// A 1 GiB NVDIMM with a 128K label area, on a sparse file that goes away afterwards.
// (virtio-pmem joins it once the PCI host bridge lands.)
const dir = mkdtempSync(join(tmpdir(), 'pmemvm-demo-'));
const backend = join(dir, 'nvdimm0.img');
const fd = openSync(backend, 'w');
ftruncateSync(fd, 1 << 30);
closeSync(fd);
const args = [join(repoRoot, 'bin', 'pmemvm.mjs'), '-machine', 'pc,nvdimm=on', '-m', '512M,slots=2,maxmem=4G', '-smp', '2',
  '-object', `memory-backend-file,id=mem0,share=on,mem-path=${backend},size=1G`,
  '-device', 'nvdimm,id=nvdimm0,memdev=mem0,label-size=128K',
  '-kernel', img.bzImage, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1', '-nographic'];
process.stderr.write(`demo: pmemvm ${args.slice(1).join(' ')}\n`);
const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('close', (code) => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = code ?? 1;
});
