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
-vga none       no VGA card (pmemvm has no display devices)

Character device options:
-serial dev     serial port (first is COM1): stdio, mon:stdio, null, none,
                file:path, chardev:id
-chardev socket,id=id,path=path,server=on[,wait=on|off]
-chardev socket,id=id,host=host,port=port,server=on[,wait=on|off]
                a listening socket for -mon (pmemvm only listens: server=on
                is required; wait=on, the default, starts the guest once a
                client has connected)
-chardev stdio,id=id[,mux=on|off][,signal=on|off]
                the terminal; mux=on lets -serial and -mon share it (Ctrl-A c
                switches); signal=off passes Ctrl-C to the guest
-chardev null,id=id
                discards output
-mon [chardev=]id[,mode=readline|control]
                a monitor on -chardev id: human (readline, the default) or
                QMP (control)
-qmp dev        QMP (JSON) monitor: stdio, unix:path,server=on[,wait=off],
                tcp:[host]:port,server=on[,wait=off] (no host: every
                address), chardev:id
-monitor dev    human monitor: same devices as -qmp, or none

Network options:
-nic none, -net none
                no network (pmemvm has no network devices)

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
