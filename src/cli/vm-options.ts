/**
 * The parsed command line: what parseArgs() returns and validateOptions()
 * checks. Pure data, no defaults hidden elsewhere: every field is set.
 * Optional values are explicit `T | undefined`.
 */

/** -machine / -M (merged over all occurrences, like QEMU). */
export interface MachineOptions {
  /** Machine type as written: 'pc' (default) or a versioned 'pc-i440fx-X.Y'. */
  type: string;
  /** nvdimm=on: NVDIMM support (ACPI NFIT) enabled. Default false. */
  nvdimm: boolean;
  /**
   * nvdimm-persistence: what the NFIT Platform Capabilities structure
   * advertises as persistent on power loss: 'cpu' (CPU caches) or
   * 'mem-ctrl' (memory controller). undefined: no capabilities structure.
   */
  nvdimmPersistence: 'cpu' | 'mem-ctrl' | undefined;
}

/** -m [size=]SIZE[,slots=N][,maxmem=SIZE] (merged over occurrences). */
export interface MemoryOptions {
  /** Boot RAM in bytes; default 128 MiB; rounded up to 8 KiB like QEMU. */
  size: bigint;
  /** Hotplug slots (nvdimm devices occupy one each); 0 when not given. */
  slots: number;
  /** Upper bound of RAM + memory devices in bytes; undefined: no device memory area. */
  maxmem: bigint | undefined;
}

/** -smp, resolved to a full topology as QEMU 7.2 does (cores preferred over sockets). */
export interface SmpOptions {
  /** vCPUs present at boot; default 1. */
  cpus: number;
  /** Maximum vCPUs (hotplug); equals sockets * cores * threads. */
  maxcpus: number;
  sockets: number;
  cores: number;
  threads: number;
}

/** Where a serial port's bytes go (-serial). */
export type SerialSpec =
  /** -serial none: no port at all. */
  | { kind: 'none' }
  /** -serial null: port exists, output discarded, no input. */
  | { kind: 'null' }
  /** -serial stdio, or mon:stdio (withMonitor: the human monitor shares stdio, Ctrl-A c switches). */
  | { kind: 'stdio'; withMonitor: boolean }
  /** -serial file:PATH: output written to PATH, truncated first as QEMU does. */
  | { kind: 'file'; path: string }
  /** -serial chardev:ID: a -chardev defined elsewhere. */
  | { kind: 'chardev'; id: string };

/** Where a monitor listens (-qmp / -monitor / -mon). */
export type MonitorEndpoint =
  | { kind: 'stdio' }
  /**
   * unix:PATH,server=on[,wait=off]. `server` is always true: pmemvm only
   * listens (server=off, QEMU's default, is refused at parse time).
   * wait (default on, as QEMU): the guest starts once a client connects.
   */
  | { kind: 'unix'; path: string; server: boolean; wait: boolean }
  /**
   * tcp:[HOST]:PORT,server=on[,wait=off]. host as written: '' means every
   * address (QEMU listens on 0.0.0.0). port 0-65535 (0: the kernel picks).
   */
  | { kind: 'tcp'; host: string; port: number; server: boolean; wait: boolean }
  /** chardev:ID (or -mon chardev=ID): a -chardev defined elsewhere. */
  | { kind: 'chardev'; id: string };

export interface MonitorSpec {
  /** 'qmp' for -qmp / -mon mode=control (JSON), 'hmp' for -monitor / -mon (human, QEMU's default mode=readline). */
  protocol: 'qmp' | 'hmp';
  endpoint: MonitorEndpoint;
  /**
   * Which option made it. QEMU numbers the chardevs of -qmp/-monitor
   * (compat_monitorN, one number per -qmp/-monitor other than '-monitor none',
   * chardev:ID included); -mon takes none. -nographic's monitor is made as
   * '-monitor stdio' and only when no -qmp/-monitor/-mon exists, so it is
   * always compat_monitor0.
   */
  option: '-qmp' | '-monitor' | '-mon' | '-nographic';
  /** The option and argument as written, for error messages ("-qmp stdio"). */
  source: string;
}

/** -object TYPE,id=ID,...: generic; see parseMemoryBackend() for the typed form. */
export interface ObjectSpec {
  /** qom-type: 'memory-backend-file', 'memory-backend-ram', ... */
  qomType: string;
  /** Required, a well-formed identifier. */
  id: string;
  /** Remaining properties, raw strings (id and qom-type excluded). */
  props: Map<string, string>;
  /** Properties written as short-form booleans, key → as typed ("noshare"). */
  flags: Map<string, string>;
  /** The argument as written, for error messages. */
  arg: string;
}

/** -device DRIVER,...: generic; see parseDevice() for the typed form. */
export interface DeviceSpec {
  driver: string;
  /** Optional, a well-formed identifier when given. */
  id: string | undefined;
  /** Remaining properties, raw strings (id and driver excluded). */
  props: Map<string, string>;
  flags: Map<string, string>;
  arg: string;
}

/** -chardev BACKEND,id=ID,...: generic; see readChardev() for the typed form. */
export interface ChardevSpec {
  /** 'stdio', 'socket', 'null' (others are refused by readChardev()). */
  backend: string;
  id: string;
  /** Remaining properties, raw strings (id and backend excluded). */
  props: Map<string, string>;
  /** Properties written as short-form booleans, key → as typed ("nowait"). */
  flags: Map<string, string>;
  arg: string;
}

export interface VmOptions {
  /**
   * 'help' / 'version': -help / -version was seen; print HELP_TEXT or
   * VERSION_TEXT and exit 0. Parsing stopped there, so the rest is defaults.
   * 'durability-report': check everything and open the backends as a run would,
   * print the durability of each memory device as JSON, and exit without a guest.
   */
  action: 'run' | 'help' | 'version' | 'durability-report';
  machine: MachineOptions;
  /** Always 'kvm': pmemvm has no other accelerator; recorded for clarity. */
  accel: 'kvm';
  /** -cpu host|max; undefined when not given (pmemvm then behaves as host). */
  cpu: 'host' | 'max' | undefined;
  memory: MemoryOptions;
  smp: SmpOptions;
  /** -kernel PATH: Linux bzImage to boot. */
  kernel: string | undefined;
  /** -initrd PATH. */
  initrd: string | undefined;
  /** -append CMDLINE: kernel command line. */
  append: string | undefined;
  /** -nographic (also supplies the default serial, see `serials`). */
  nographic: boolean;
  /**
   * Serial ports in -serial order; the first is COM1. Without -serial:
   * with -nographic (and no -nodefaults) [mon:stdio], or [stdio] if a
   * -qmp/-monitor was given; else [] (QEMU's default 'vc' needs a display).
   */
  serials: SerialSpec[];
  /** -no-reboot: exit instead of rebooting the guest. */
  noReboot: boolean;
  /** -no-shutdown: on guest poweroff, stop the VM but keep pmemvm (and its monitor) running. */
  noShutdown: boolean;
  /** -name NAME (the 'guest' key): VM name for logs and QMP query-name. */
  name: string | undefined;
  /** -display none was given (the only display pmemvm accepts). */
  displayNone: boolean;
  /** -object, in command-line order. */
  objects: ObjectSpec[];
  /** -device, in command-line order. */
  devices: DeviceSpec[];
  /** -chardev, in command-line order. */
  chardevs: ChardevSpec[];
  /**
   * -qmp, -monitor (except -monitor none) and -mon, in command-line order; plus
   * an HMP monitor on stdio from -nographic when -serial was given but no
   * -qmp/-monitor/-mon (source '-nographic'), as QEMU. A monitor sharing
   * stdio with a serial port (-serial mon:stdio) is not listed here: it is
   * the serial's `withMonitor`; resolveMonitors() (monitors.ts) lists all.
   */
  monitors: MonitorSpec[];
  /** -nodefaults: no default devices (no default serial with -nographic). */
  nodefaults: boolean;
  /** -no-user-config: accepted; pmemvm reads no config files anyway. */
  noUserConfig: boolean;
  /** -S: do not start the vCPUs until QMP 'cont'. */
  startPaused: boolean;
  /** -pidfile PATH: write the pmemvm process id there. */
  pidfile: string | undefined;
}
