/** -help and -version texts: QEMU's layout, only what pmemvm supports. */

export const VERSION_TEXT = 'pmemvm 0.1.0 (QEMU-compatible command line)';

export const HELP_TEXT = `${VERSION_TEXT}
usage: pmemvm [options]

Standard options:
-h or -help     display this help and exit
-version        display version information and exit
-durability-report
                open the memory backends as a run would, print as JSON whether
                each device's guest writes survive a host crash, and exit
-machine [type=]pc[,nvdimm=on|off][,nvdimm-persistence=cpu|mem-ctrl][,accel=kvm]
                selects the machine: 'pc' (i440FX) is the only one
                nvdimm=on enables NVDIMM support (required by -device nvdimm)
                nvdimm-persistence advertises what survives power loss
-M              same as -machine
-accel kvm      selects KVM, the only accelerator
-enable-kvm     same as -accel kvm
-cpu host|max   CPU model (both pass the host CPU through)
-smp [cpus=]n[,maxcpus=n][,sockets=n][,cores=n][,threads=n]
                number of vCPUs (1 to 255) and their topology
-m [size=]megs[,slots=n,maxmem=size]
                boot RAM (default 128M; a bare number means MiB; suffixes
                K, M, G, T); slots and maxmem reserve room for -device nvdimm
                and virtio-pmem-pci (a bare maxmem number means bytes)
-name string    name of the guest
-nodefaults     don't create default devices
-no-user-config accepted for compatibility (pmemvm reads no config files)

Persistent memory:
-object memory-backend-file,id=id,mem-path=file,size=size[,share=on|off]
        [,pmem=on|off][,align=size][,readonly=on|off][,discard-data=on|off]
        [,prealloc=on|off]
                guest memory backed by a file (use share=on for persistence)
-object memory-backend-ram,id=id,size=size[,share=on|off][,prealloc=on|off]
                anonymous guest memory
-device nvdimm,memdev=id[,id=id][,label-size=size][,unarmed=on|off][,slot=n]
        [,addr=gpa][,uuid=uuid][,label-overwrite=on]
                ACPI NVDIMM backed by -object id (needs -machine nvdimm=on
                and -m ...,slots=n,maxmem=size); label-size keeps namespace
                labels in the backend's last bytes (at least 128K), and is
                refused when those bytes hold other data unless
                label-overwrite=on
-device virtio-pmem-pci,memdev=id[,id=id][,addr=slot[.fn]]
                virtio persistent memory (needs -m ...,maxmem=size)

Display options:
-display none   no display (the only kind pmemvm has)
-nographic      no display; serial port and monitor on stdio

Character device options:
-serial dev     serial port (first is COM1): stdio, mon:stdio, null, none,
                file:path, chardev:id
-chardev backend,id=id[,...]
                a character device for -serial/-qmp/-monitor chardev:id
-qmp dev        QMP (JSON) monitor: stdio, unix:path,server=on,wait=off,
                chardev:id
-monitor dev    human monitor: same devices as -qmp, or none

Boot Image or Kernel specific:
-kernel bzImage use 'bzImage' as kernel image
-append cmdline use 'cmdline' as kernel command line
-initrd file    use 'file' as initial ram disk

Debug/Expert options:
-S              freeze CPUs at startup (use QMP 'cont' to start)
-no-reboot      exit instead of rebooting
-no-shutdown    stop before shutdown (keep pmemvm running for QMP)
-pidfile file   write PID to 'file'

Options may also be written with two dashes (--m 512). Properties accept
the short boolean forms of QEMU (nvdimm means nvdimm=on, noshare means
share=off); ',,' puts a literal comma in a value.
`;
