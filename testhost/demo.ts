// The main job (`npm start`): boot the default guest on pmemvm and show what
// it sees. Runs wherever KVM is usable (the entry puts it in the test host).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { guestImage } from '../test/lib/guest.js';
import { makeScriptInitrd } from '../test/lib/cpio.js';
import { repoRoot } from './paths.js';

const SCRIPT = `
echo "== pmemvm guest: $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) RAM"
echo "== ACPI tables: $(ls /sys/firmware/acpi/tables | tr '\\n' ' ')"
echo "== persistent memory (ndctl list -RDN):"
ndctl list -RDN || true
ls /dev/pmem* 2>/dev/null || echo "   (no /dev/pmem* devices)"
`;

const img = guestImage();
const initrd = await makeScriptInitrd(img.initrd, SCRIPT);
const args = [join(repoRoot, 'bin', 'pmemvm.mjs'), '-machine', 'pc', '-m', '512M', '-smp', '2',
  '-kernel', img.bzImage, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1', '-nographic'];
process.stderr.write(`demo: pmemvm ${args.slice(1).join(' ')}\n`);
const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('close', (code) => { process.exitCode = code ?? 1; });
